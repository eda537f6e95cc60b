/**
 * The digest's one read of the window (windowRatings, windowComments, postTotals, countParticipants, topRated) against
 * a brute-force model computed in JS from every row: random servers with history before and after the window,
 * re-rated posts, deleted comments, unannounced posts, another server, and many ties in "top rated" (decided by
 * replies, some of them outside the window). Plus the prior's figures against guildMeanRating, and migration 005.
 * Run alone: npx tsx test/db/digest-window.test.ts
 */
import { type Stars } from '../../src/domain/rating.ts';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileMigrationProvider, Migrator, sql, type Kysely } from 'kysely';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Db } from '../../src/db/index.ts';
import { markCommentsDeleted, upsertComments } from '../../src/repositories/comments.ts';
import { unannouncedPostsQuery, windowComments, windowRatings } from '../../src/repositories/digest-window.ts';
import { commentsOutsideWindow, digestTotals, listActivePosts, type ActivePost } from '../support/digest-window.ts';
import { upsertFeed } from '../../src/repositories/feeds.ts';
import { setPublishState, upsertPostFromFeed, type PublishState } from '../../src/repositories/posts.ts';
import { guildMeanRating } from '../../src/repositories/ratings.ts';
import { setRating } from '../support/ratings.ts';
import { collectDigest, PRIOR_DAYS, TOP_COUNT, topRated } from '../../src/services/digest.ts';
import { DEFAULT_PRIOR_MEAN, PRIOR_WEIGHT, rankTopRated } from '../../src/services/ranking.ts';
import { createTestDb, DIALECTS, type TestDb } from '../support/db.ts';
import { snowflake } from '../support/snowflake.ts';

const START = '2026-11-23T09:00:00.000Z';
const END = '2026-11-30T09:00:00.000Z';
const HOUR = 3_600_000;
const at = (hoursFromStart: number) => new Date(Date.parse(START) + hoursFromStart * HOUR).toISOString();
const ANNOUNCED = new Set(['announced', 'threaded', 'published']);

/** A small deterministic PRNG (mulberry32): the same data on both databases and on every run. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Model {
  posts: Array<{ id: string; guildId: string; state: PublishState }>;
  comments: Array<{ id: string; postId: string; authorId: string; createdAt: string; deleted: boolean }>;
  /** The latest rating of each (post, user), as stored. */
  ratings: Map<string, { postId: string; guildId: string; userId: string; stars: number; updatedAt: string }>;
}

/**
 * A server with `n` posts. Ratings follow a few shapes so that many posts tie on (score, count) and replies
 * decide; comments and ratings fall before, in and after the window; some ratings are changed later (moving
 * them into or out of the window); some comments are deleted.
 */
async function seedServer(db: Db, model: Model, seed: number, n: number): Promise<string> {
  const random = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const guildId = snowflake();
  const { feed } = await upsertFeed(db, { guildId, url: `https://blog.example/${guildId}/feed`, channelId: snowflake() });
  const users = Array.from({ length: 12 }, () => snowflake());
  const shapes: Stars[][] = [[5], [4, 5], [4, 5], [4, 5], [5, 5, 5], [3], [1, 2, 3, 4, 5], [5, 4]];
  const times = [-24 * 30, -24 * 8, -2, 0, 1, 50, 100, 167.99, 168, 170, 24 * 9];
  for (let i = 0; i < n; i++) {
    const state: PublishState = i % 9 === 4 ? 'known' : i % 11 === 7 ? 'failed' : pick(['published', 'published', 'threaded', 'announced']);
    const key = `${seed}-${i}`;
    const { post } = await upsertPostFromFeed(
      db,
      feed,
      {
        key,
        url: `https://blog.example/${key}`,
        title: `Post ${key}`,
        author: null,
        publishedAt: at(pick([-100, 10, 80])),
        summaryHtml: null,
        searchText: key,
        imageUrl: null,
        contentHash: key,
      },
      'pending',
    );
    const messageId = snowflake();
    await setPublishState(db, post.id, { state, channelId: snowflake(), messageId, threadId: messageId });
    model.posts.push({ id: post.id, guildId, state });
    // Ratings: one of the shapes (by distinct users), each at a random time; some changed again later.
    const shape = random() < 0.2 ? [] : pick(shapes);
    for (let u = 0; u < shape.length; u++) {
      const rate = async (stars: Stars, when: string) => {
        await setRating(db, post.id, users[u]!, stars, when);
        model.ratings.set(`${post.id}/${users[u]}`, { postId: post.id, guildId, userId: users[u]!, stars, updatedAt: when });
      };
      await rate(shape[u]!, at(pick(times)));
      if (random() < 0.15) await rate(pick([1, 3, 5] as Stars[]), at(pick(times)));
    }
    // Comments: 0–6, at random times; about one in six deleted.
    const count = Math.floor(random() * 7);
    const rows = Array.from({ length: count }, () => ({ id: snowflake(), createdAt: at(pick(times)), authorId: pick(users) }));
    await upsertComments(
      db,
      rows.map((c) => ({
        id: c.id,
        postId: post.id,
        threadId: messageId,
        authorId: c.authorId,
        authorName: 'someone',
        content: 'hi',
        replyToId: null,
        attachments: [],
        createdAt: c.createdAt,
        editedAt: null,
      })),
    );
    const gone = rows.filter(() => random() < 1 / 6).map((c) => c.id);
    if (gone.length) await markCommentsDeleted(db, gone, at(200));
    for (const c of rows) model.comments.push({ id: c.id, postId: post.id, authorId: c.authorId, createdAt: c.createdAt, deleted: gone.includes(c.id) });
  }
  return guildId;
}

const inWindow = (t: string) => t >= START && t < END;
const byId = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** What the digest must show, computed from every row. */
function expected(model: Model, guildId: string) {
  const announced = model.posts.filter((p) => p.guildId === guildId && ANNOUNCED.has(p.state));
  const ratings = [...model.ratings.values()];
  const active: ActivePost[] = announced
    .map((p) => {
      const mine = ratings.filter((r) => r.postId === p.id);
      const live = model.comments.filter((c) => c.postId === p.id && !c.deleted);
      return {
        id: p.id,
        newComments: live.filter((c) => inWindow(c.createdAt)).length,
        newRatings: mine.filter((r) => inWindow(r.updatedAt)).length,
        ratingSum: mine.reduce((s, r) => s + r.stars, 0),
        ratingCount: mine.length,
        replies: live.length,
      };
    })
    .filter((a) => a.newComments > 0 || a.newRatings > 0)
    .sort((a, b) => byId(a.id, b.id));
  const since = new Date(Date.parse(END) - PRIOR_DAYS * 24 * HOUR).toISOString();
  const priorRows = ratings.filter((r) => r.guildId === guildId && r.updatedAt >= since);
  const prior = priorRows.length ? priorRows.reduce((s, r) => s + r.stars, 0) / priorRows.length : DEFAULT_PRIOR_MEAN;
  const rated = active.filter((a) => a.newRatings > 0).map((a) => ({ id: a.id, ratingSum: a.ratingSum, ratingCount: a.ratingCount, replies: a.replies }));
  const topRated = rankTopRated(rated, prior, PRIOR_WEIGHT)
    .slice(0, TOP_COUNT)
    .map((r) => r.id);
  const mostDiscussed = active
    .filter((a) => a.newComments > 0)
    .sort((a, b) => b.newComments - a.newComments || byId(a.id, b.id))
    .slice(0, TOP_COUNT)
    .map((a) => [a.id, a.newComments, a.replies]);
  const announcedIds = new Set(announced.map((p) => p.id));
  const people = new Set([
    ...model.comments.filter((c) => announcedIds.has(c.postId) && !c.deleted && inWindow(c.createdAt)).map((c) => c.authorId),
    ...ratings.filter((r) => announcedIds.has(r.postId) && inWindow(r.updatedAt)).map((r) => r.userId),
  ]);
  const totals = {
    newComments: active.reduce((s, a) => s + a.newComments, 0),
    newRatings: active.reduce((s, a) => s + a.newRatings, 0),
    participants: people.size,
  };
  return { active, prior, rated, topRated, mostDiscussed, totals, ties: countTies(rated, prior) };
}

/** How many rated posts share the (score, count) of another: the test is only worth something if replies decide. */
function countTies(rated: ReadonlyArray<{ ratingSum: number; ratingCount: number }>, prior: number): number {
  const keys = rated.map((r) => `${(PRIOR_WEIGHT * prior + r.ratingSum) / (PRIOR_WEIGHT + r.ratingCount)}/${r.ratingCount}`);
  return keys.filter((k, i) => keys.indexOf(k) !== i).length;
}

for (const dialect of DIALECTS) {
  const test = suite<{ t: TestDb; model: Model; guilds: string[] }>(`digest window reads against a model (${dialect})`, {
    t: undefined as never,
    model: undefined as never,
    guilds: [],
  });
  test.before(async (ctx) => {
    ctx.t = await createTestDb(dialect);
    ctx.model = { posts: [], comments: [], ratings: new Map() };
    ctx.guilds = [];
    for (const seed of [11, 29, 47]) ctx.guilds.push(await seedServer(ctx.t.db, ctx.model, seed, 36));
  });
  test.after(async (ctx) => {
    await ctx.t?.close();
  });

  test('collectDigest: top rated (ties broken by replies in and outside the window), most discussed, totals', async ({ t, model, guilds }) => {
    let ties = 0;
    for (const guildId of guilds) {
      const want = expected(model, guildId);
      ties += want.ties;
      const view = await collectDigest(t.db, guildId, { start: START, end: END, timezone: 'UTC', partial: false }, '2026-W48');
      assert.equal(
        view.topRated.map((p) => p.id),
        want.topRated,
        `top rated of ${guildId}`,
      );
      assert.equal(
        view.mostDiscussed.map((p) => [p.id, p.newComments, p.replies]),
        want.mostDiscussed,
      );
      assert.equal(view.totals, want.totals);
      // The entries show all-time figures.
      for (const p of view.topRated) {
        const a = want.active.find((x) => x.id === p.id)!;
        assert.equal([p.ratingSum, p.ratingCount, p.replies], [a.ratingSum, a.ratingCount, a.replies]);
      }
    }
    assert.ok(ties >= 10, `the data has ties for replies to break (${ties})`);
  });

  test('listActivePosts and digestTotals: per-post window counts and all-time figures, as the model has them', async ({ t, model, guilds }) => {
    for (const guildId of guilds) {
      const want = expected(model, guildId);
      const w = { guildId, start: START, end: END };
      assert.equal(await listActivePosts(t.db, w), want.active);
      assert.equal(await digestTotals(t.db, w), want.totals);
    }
  });

  test('windowRatings / windowComments / commentsOutsideWindow: window plus outside is all of it', async ({ t, model, guilds }) => {
    for (const guildId of guilds) {
      const want = expected(model, guildId);
      const w = { guildId, start: START, end: END };
      const ratings = await windowRatings(t.db, w);
      assert.is(ratings.prior, null, 'no prior asked for');
      assert.equal(
        [...ratings.posts].sort(([a], [b]) => byId(a, b)),
        want.active.filter((a) => a.newRatings > 0).map((a) => [a.id, { newRatings: a.newRatings, ratingSum: a.ratingSum, ratingCount: a.ratingCount }]),
      );
      const comments = await windowComments(t.db, w);
      assert.equal(
        [...comments].sort(([a], [b]) => byId(a, b)),
        want.active.filter((a) => a.newComments > 0).map((a) => [a.id, a.newComments]),
      );
      const ids = want.active.map((a) => a.id);
      const outside = await commentsOutsideWindow(t.db, w, ids);
      assert.equal(
        ids.map((id) => (comments.get(id) ?? 0) + outside.get(id)!),
        want.active.map((a) => a.replies),
      );
      assert.equal(await commentsOutsideWindow(t.db, w, []), new Map());
    }
  });

  test('the prior: the same sum and count as guildMeanRating, whether `since` is before the window or inside it', async ({ t, guilds }) => {
    for (const guildId of [...guilds, snowflake()]) {
      const w = { guildId, start: START, end: END };
      for (const since of [new Date(Date.parse(END) - PRIOR_DAYS * 24 * HOUR).toISOString(), START, at(-24 * 8 - 1), at(1), at(168), at(24 * 10)]) {
        const { prior } = await windowRatings(t.db, w, since);
        const mean = await guildMeanRating(t.db, guildId, since);
        assert.is(prior!.count > 0 ? prior!.sum / prior!.count : null, mean, `since ${since}`);
      }
    }
  });

  test('topRated reads replies only for the contenders, and ranks as rankTopRated over all candidates', async ({ t, model, guilds }) => {
    for (const guildId of guilds) {
      const want = expected(model, guildId);
      const w = { guildId, start: START, end: END };
      const comments = await windowComments(t.db, w);
      const candidates = want.rated.map(({ id, ratingSum, ratingCount }) => ({ id, ratingSum, ratingCount }));
      for (const limit of [0, 1, 3, 5, 8, 1000]) {
        assert.equal(
          await topRated(t.db, w, candidates, comments, want.prior, limit),
          rankTopRated(want.rated, want.prior, PRIOR_WEIGHT)
            .slice(0, limit)
            .map((r) => r.id),
          `limit ${limit}`,
        );
      }
      assert.equal(await topRated(t.db, w, [], comments, want.prior), []);
    }
  });

  test('the unannounced posts with activity: read from the partial index of migration 025 alone, as the model has them', async ({ t, model, guilds }) => {
    for (const guildId of guilds) {
      const query = unannouncedPostsQuery(guildId);
      const want = model.posts
        .filter((p) => p.guildId === guildId && !ANNOUNCED.has(p.state))
        .filter((p) => model.comments.some((c) => c.postId === p.id) || [...model.ratings.values()].some((r) => r.postId === p.id))
        .map((p) => p.id)
        .sort(byId);
      assert.ok(want.length > 0, 'the model has unannounced posts with activity');
      assert.equal((await query.execute(t.db.kysely)).rows.map((r) => r.id).sort(byId), want);
      const compiled = query.compile(t.db.kysely);
      const explain = sql<Record<string, string>>`${sql.raw(dialect === 'sqlite' ? 'explain query plan' : 'explain')} ${sql.raw(
        compiled.sql.replace(/\$1\b|\?/, `'${guildId}'`),
      )}`;
      const plan = (await explain.execute(t.db.kysely)).rows.map((r) => r.detail ?? r['QUERY PLAN']).join('\n');
      assert.match(plan, /posts_unannounced_guild_idx/, plan);
    }
  });

  test('migration 005: times compare bytewise on PostgreSQL (COLLATE "C"), nothing changes on SQLite; down undoes it and keeps the rows', async () => {
    const t2 = await createTestDb(dialect, { migrate: false });
    try {
      const schema = dialect === 'postgres' ? (await sql<{ s: string }>`select current_schema() as s`.execute(t2.db.kysely)).rows[0]!.s : undefined;
      const migrationFolder = fileURLToPath(new URL('../../migrations', import.meta.url));
      const migrator = new Migrator({
        db: t2.db.kysely,
        provider: new FileMigrationProvider({ fs, path, migrationFolder }),
        ...(schema ? { migrationTableSchema: schema } : {}),
      });
      const k = t2.db.kysely as unknown as Kysely<any>;
      const collations = async () =>
        dialect === 'postgres'
          ? (
              await sql<{ c: string | null }>`
                select coalesce(collation_name, 'default') as c from information_schema.columns
                where table_schema = current_schema() and ((table_name = 'comments' and column_name = 'created_at') or (table_name = 'ratings' and column_name = 'updated_at'))
                order by table_name`.execute(k)
            ).rows.map((r) => r.c)
          : null;
      // Rows written by today's repositories (at today's schema), then the schema goes back to 004.
      assert.not.ok((await migrator.migrateToLatest()).error);
      const model: Model = { posts: [], comments: [], ratings: new Map() };
      const g = await seedServer(t2.db, model, 5, 12);
      assert.not.ok((await migrator.migrateTo('2026-11-29_004_guild_on_comments_ratings')).error);
      const before = {
        comments: await k.selectFrom('comments').select(['id', 'created_at']).orderBy('id').execute(),
        ratings: await k.selectFrom('ratings').selectAll().orderBy('post_id').orderBy('user_id').execute(),
      };
      assert.equal(await collations(), dialect === 'postgres' ? ['default', 'default'] : null);
      const up = await migrator.migrateTo('2026-11-29_005_bytewise_times');
      assert.not.ok(up.error);
      assert.equal(
        up.results?.map((r) => [r.migrationName, r.status]),
        [['2026-11-29_005_bytewise_times', 'Success']],
      );
      assert.equal(await collations(), dialect === 'postgres' ? ['C', 'C'] : null);
      // The same rows.
      assert.equal(await k.selectFrom('comments').select(['id', 'created_at']).orderBy('id').execute(), before.comments);
      // A comparison with a column of the default collation still works (the column's collation wins).
      await sql`select count(*) from comments c join posts p on p.id = c.post_id where c.created_at >= p.discovered_at`.execute(k);
      const down = await migrator.migrateTo('2026-11-29_004_guild_on_comments_ratings');
      assert.not.ok(down.error);
      assert.equal(await collations(), dialect === 'postgres' ? ['default', 'default'] : null);
      assert.equal(await k.selectFrom('ratings').selectAll().orderBy('post_id').orderBy('user_id').execute(), before.ratings, 'down keeps the rows');
      // Back at today's schema (migration 012 backfills its rollups from the rows), the digest reads them the same way.
      assert.not.ok((await migrator.migrateToLatest()).error);
      assert.equal(await listActivePosts(t2.db, { guildId: g, start: START, end: END }), expected(model, g).active);
    } finally {
      await t2.close();
    }
  });

  test.run();
}
