/**
 * The digest's rollups under concurrent writers on PostgreSQL (issue 20; migrations 018 and 019): two transactions
 * writing overlapping batches of replies and ratings at the same time, in opposite orders and of different sizes
 * (upserts that both insert and update rows, so each fires two statement triggers), neither deadlocks (the triggers
 * take the servers' advisory lock first and lock the rollup rows in key order) and the rollups afterwards equal a
 * recount from the rows, digest_post_waits (waiting for an answer) included. Without migration 018 this failed with
 * 40P01 (deadlock detected) in every one of three runs. And the digest's read of a window that subtracts part of a
 * day from that day's rollup sees one snapshot: read in two, it failed in three runs of three.
 * Run alone: npx tsx node_modules/uvu/bin.js test/db digest-rollups-concurrency
 */
import { sql } from 'kysely';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { markCommentsDeleted, upsertComments, type CommentInput } from '../../src/repositories/comments.ts';
import { checkDigestRollups } from '../../src/repositories/digest-rollups.ts';
import { windowComments } from '../../src/repositories/digest-window.ts';
import { writeRatings } from '../../src/repositories/ratings.ts';
import type { Stars } from '../../src/domain/rating.ts';
import { createTestDb, type TestDb } from '../support/db.ts';
import { publishedPost } from '../support/fixtures.ts';
import { snowflake } from '../support/snowflake.ts';

const BASE = Date.parse('2026-11-16T00:00:00.000Z');
const POSTS = 4;
const USERS = 40;
const ROUNDS = 20;

const test = suite<{ t: TestDb; guildId: string; posts: Array<{ id: string; thread: string }>; users: string[] }>(
  'digest rollups under concurrent overlapping batches (postgres)',
);

test.before(async (ctx) => {
  ctx.t = await createTestDb('postgres');
  ctx.guildId = snowflake();
  ctx.posts = [];
  for (let i = 0; i < POSTS; i++) {
    const { postId, threadId } = await publishedPost(ctx.t.db, { guildId: ctx.guildId, publishedAt: new Date(BASE).toISOString() });
    ctx.posts.push({ id: postId, thread: threadId });
  }
  ctx.users = Array.from({ length: USERS }, () => snowflake());
});

test.after(async ({ t }) => {
  await t.close();
});

/** A small deterministic generator (so a failure can be replayed). */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

test('two writers in opposite orders neither deadlock nor leave the rollups off a recount', async ({ t, guildId, posts, users }) => {
  const failures: unknown[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const random = rng(round + 1);
    // The same quarter hours and days in both batches, one the other's reverse, plus keys of its own of a different
    // size, so each statement's aggregate meets the keys in another order. Each side rates with its own people (two
    // writers of the same rating would conflict in the ratings table itself); on even rounds each side writes under
    // its own posts too, so only migration 012's quarter-hour buckets are shared (migration 015's rows, locked first,
    // would otherwise queue the second writer before it reached them); on odd rounds both write under the same posts
    // (digest_post_waits recomputed by both).
    const minute = () => Math.floor(random() * 3 * 24 * 60);
    const at = (m: number) => new Date(BASE + m * 60_000 + Math.floor(random() * 60_000)).toISOString();
    const pick = (side: number) => ({
      post: round % 2 === 0 ? side * (POSTS / 2) + Math.floor(random() * (POSTS / 2)) : Math.floor(random() * POSTS),
      user: side * (USERS / 2) + Math.floor(random() * (USERS / 2)),
    });
    const shared = Array.from({ length: 150 }, () => minute());
    const batches = [0, 1].map((side) => {
      const items = [...shared, ...Array.from({ length: side === 0 ? 10 + round : 200 + 10 * round }, () => minute())].map((m) => ({ ...pick(side), m }));
      return side === 0 ? items : items.reverse();
    });
    const ratingsOf = (items: Array<{ post: number; user: number; m: number }>) =>
      [...new Map(items.map((it) => [`${it.post}/${it.user}`, it])).values()].map((it) => ({
        postId: posts[it.post]!.id,
        userId: users[it.user]!,
        stars: (1 + ((it.m + it.user) % 5)) as Stars,
        updatedAt: at(it.m),
      }));
    const commentsOf = (items: Array<{ post: number; user: number; m: number }>, side: number): CommentInput[] =>
      items.map((it, i) => ({
        id: `${round}-${side}-${i}-${snowflake()}`,
        postId: posts[it.post]!.id,
        threadId: posts[it.post]!.thread,
        authorId: users[it.user]!,
        authorName: `user ${it.user}`,
        content: `round ${round}`,
        replyToId: i % 3 === 0 ? `${round}-${side}-0` : null,
        attachments: [],
        createdAt: at(it.m),
        editedAt: null,
      }));
    // Each write is one statement in its own transaction (as the writers send their batches); the two sides' run
    // at the same time: ratings, then replies, then deletions of a third of the replies.
    const comments = batches.map((items, side) => commentsOf(items, side));
    const steps: Array<(side: number) => Promise<unknown>> = [
      (side) => writeRatings(t.db, ratingsOf(batches[side]!), []),
      (side) => upsertComments(t.db, comments[side]!),
      (side) =>
        markCommentsDeleted(
          t.db,
          comments[side]!.filter((_, i) => i % 3 === 1).map((c) => c.id),
          at(minute()),
        ),
    ];
    const results = [];
    for (const step of steps) results.push(...(await Promise.allSettled([0, 1].map(step))));
    for (const r of results) if (r.status === 'rejected') failures.push(r.reason);
  }
  assert.equal(
    failures.map(
      (e) =>
        `${(e as { code?: string }).code ?? ''} ${(e as Error).message} ${JSON.stringify({ w: (e as { where?: string }).where, d: (e as { detail?: string }).detail })}`,
    ),
    [],
    'no batch failed (40P01 is a deadlock)',
  );
  const counts = (await sql<{ c: number; r: number }>`select (select count(*) from comments) as c, (select count(*) from ratings) as r`.execute(t.db.kysely))
    .rows[0]!;
  assert.ok(Number(counts.c) > ROUNDS * 60 && Number(counts.r) > 0, 'the batches were written');
  assert.equal(await checkDigestRollups(t.db, { guildId }), []);
});

test('a window read while replies are stored in the part of its day it subtracts never goes down', async ({ t, guildId, posts, users }) => {
  // A window from 05:00 of a day is read as that whole day less the rows of 00:00–05:00 (planPostDays). A reply
  // stored there while the window is read must count in both or in neither: were the day and the rows read in two
  // snapshots, a read could subtract it without having added it, and the post's count would drop below an earlier
  // read's. Replies stored inside the window only raise it.
  const day = BASE + 10 * 24 * 3600_000;
  const w = { guildId, start: new Date(day + 5 * 3600_000).toISOString(), end: new Date(day + 2 * 24 * 3600_000 + 5 * 3600_000).toISOString() };
  const post = posts[0]!;
  const reply = (i: number, at: number): CommentInput => ({
    id: `snapshot-${i}-${snowflake()}`,
    postId: post.id,
    threadId: post.thread,
    authorId: users[i % USERS]!,
    authorName: 'someone',
    content: 'hi',
    replyToId: null,
    attachments: [],
    createdAt: new Date(at).toISOString(),
    editedAt: null,
  });
  let writing = true;
  let inWindow = 0;
  const writer = (async () => {
    for (let i = 0; i < 400; i++) {
      const outside = i % 5 !== 0; // four of five in 00:00–05:00, outside the window but inside its first day
      await upsertComments(t.db, [reply(i, outside ? day + (i % 290) * 60_000 : day + 6 * 3600_000 + i * 60_000)]);
      if (!outside) inWindow++;
    }
    writing = false;
  })();
  const seen: number[] = [];
  while (writing) seen.push((await windowComments(t.db, w)).get(post.id) ?? 0);
  await writer;
  seen.push((await windowComments(t.db, w)).get(post.id) ?? 0);
  assert.ok(seen.length > 10, `read ${seen.length} times while writing`);
  const drops = seen.filter((n, i) => i > 0 && n < seen[i - 1]!);
  assert.equal(drops, [], `counts read: ${seen.join(' ')}`);
  assert.is(seen.at(-1), inWindow);
});

test.run();
