/**
 * The digest's rollups (migration 012) equal a full recount from the rows, on SQLite and PostgreSQL, after any
 * sequence of the writes that touch comments and ratings (fast-check): batches of replies (with edits of the same
 * message), catch-up pages, deletions of messages and threads, ratings set, changed, removed in batches and by
 * emoji, recount corrections (set/remove only if unchanged), a member's erasure, privacy choices. A rollup that
 * drifted is found by the check and repaired by the rebuild. The rollups of migration 015 (digest_person_days, digest_post_totals)
 * are checked the same way, and "people taking part" against a count of the rows.
 * Run alone: npx tsx test/db/digest-rollups.test.ts
 */
import fc from 'fast-check';
import { sql } from 'kysely';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { markCommentsDeleted, markThreadCommentsDeleted, storeCatchUpPage, upsertComments, type CommentInput } from '../../src/repositories/comments.ts';
import { checkDigestRollups, rebuildDigestRollups } from '../../src/repositories/digest-rollups.ts';
import {
  countParticipants,
  newVoices,
  windowActivity,
  windowComments,
  windowCounts,
  windowRatings,
  waitingForAnswer,
} from '../../src/repositories/digest-window.ts';
import { upsertFeed } from '../../src/repositories/feeds.ts';
import { setPublishState, upsertPostFromFeed } from '../../src/repositories/posts.ts';
import { eraseMember, setAppearance } from '../../src/repositories/privacy.ts';
import type { Stars } from '../../src/domain/rating.ts';
import { removeRatingIfUnchanged, removeRatings, setRatingIfUnchanged, writeRatings } from '../../src/repositories/ratings.ts';
import { getRating, setRating } from '../support/ratings.ts';
import { main } from '../../src/main.ts';
import { createTestDb, DIALECTS, type TestDb } from '../support/db.ts';
import { snowflake } from '../support/snowflake.ts';

const BASE = Date.parse('2026-03-28T20:00:00.000Z');
/** Times within three days, on minutes that fall in every quarter hour and on the bounds of quarters and days. */
/** Often in a few busy quarter hours around 00:00 UTC of the first and second day, so windows' ends cut through data. */
const time = fc
  .oneof(fc.integer({ min: 0, max: 3 * 24 * 4 - 1 }), fc.integer({ min: 14, max: 18 }), fc.integer({ min: 110, max: 114 }))
  .chain((q) =>
    fc.constantFrom(0, 1, 14, 15, 29, 44, 59).map((m) => new Date(BASE + q * 15 * 60_000 + Math.min(m, 14) * 60_000 + (m % 2) * 999).toISOString()),
  );
const stars = fc.constantFrom<Stars>(1, 2, 3, 4, 5);
const idx = (n: number) => fc.integer({ min: 0, max: n - 1 });

type Op =
  | { kind: 'replies'; items: Array<{ msg: number; post: number; user: number; at: string; edit: boolean; reply: number | null }> }
  | { kind: 'catchup'; items: Array<{ msg: number; post: number; user: number; at: string }> }
  | { kind: 'delete'; msgs: number[]; at: string }
  | { kind: 'thread'; post: number; at: string }
  | { kind: 'rate'; post: number; user: number; stars: Stars; at: string }
  | { kind: 'batch'; set: Array<{ post: number; user: number; stars: Stars; at: string }>; removed: Array<{ post: number; user: number }> }
  | { kind: 'unreact'; post: number; stars: Stars | null }
  | { kind: 'recount'; post: number; user: number; stars: Stars | null; at: string }
  | { kind: 'erase'; user: number; at: string }
  | { kind: 'privacy'; guild: number; user: number; show: 'named' | 'anonymous' | 'hidden' };

const POSTS = 4;
const USERS = 5;
const MSGS = 12;
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant('replies' as const),
    // reply: the message it answers (not a top-level reply); an edit may change it (waiting for an answer).
    items: fc.array(fc.record({ msg: idx(MSGS), post: idx(POSTS), user: idx(USERS), at: time, edit: fc.boolean(), reply: fc.option(idx(MSGS)) }), {
      minLength: 1,
      maxLength: 6,
    }),
  }),
  fc.record({
    kind: fc.constant('catchup' as const),
    items: fc.array(fc.record({ msg: idx(MSGS), post: idx(POSTS), user: idx(USERS), at: time }), { minLength: 0, maxLength: 4 }),
  }),
  fc.record({ kind: fc.constant('delete' as const), msgs: fc.array(idx(MSGS), { minLength: 1, maxLength: 3 }), at: time }),
  fc.record({ kind: fc.constant('thread' as const), post: idx(POSTS), at: time }),
  fc.record({ kind: fc.constant('rate' as const), post: idx(POSTS), user: idx(USERS), stars, at: time }),
  fc.record({
    kind: fc.constant('batch' as const),
    set: fc.array(fc.record({ post: idx(POSTS), user: idx(USERS), stars, at: time }), { maxLength: 4 }),
    removed: fc.array(fc.record({ post: idx(POSTS), user: idx(USERS) }), { maxLength: 2 }),
  }),
  fc.record({ kind: fc.constant('unreact' as const), post: idx(POSTS), stars: fc.option(stars) }),
  fc.record({ kind: fc.constant('recount' as const), post: idx(POSTS), user: idx(USERS), stars: fc.option(stars), at: time }),
  fc.record({ kind: fc.constant('erase' as const), user: idx(USERS), at: time }),
  fc.record({
    kind: fc.constant('privacy' as const),
    guild: idx(2),
    user: idx(USERS),
    show: fc.constantFrom('named' as const, 'anonymous' as const, 'hidden' as const),
  }),
);

interface World {
  guilds: string[];
  posts: Array<{ id: string; thread: string; guild: string }>;
  users: string[];
  msgs: string[];
  /** The post a message was first written under (a message never moves to another thread). */
  msgPost: Map<number, number>;
}

async function makeWorld(t: TestDb): Promise<World> {
  const guilds = [snowflake(), snowflake()];
  const posts: World['posts'] = [];
  for (let i = 0; i < POSTS; i++) {
    const guildId = guilds[i % 2]!;
    const { feed } = await upsertFeed(t.db, { guildId, url: `https://blog.example/${guildId}/feed`, channelId: snowflake() });
    const key = `${guildId}-${i}`;
    const { post } = await upsertPostFromFeed(
      t.db,
      feed,
      {
        key,
        url: `https://blog.example/${key}`,
        title: key,
        author: null,
        publishedAt: new Date(BASE).toISOString(),
        summaryHtml: null,
        searchText: key,
        imageUrl: null,
        contentHash: key,
      },
      'pending',
    );
    const thread = snowflake();
    await setPublishState(t.db, post.id, { state: i === 3 ? 'failed' : 'published', channelId: snowflake(), messageId: thread, threadId: thread });
    posts.push({ id: post.id, thread, guild: guildId });
  }
  return { guilds, posts, users: Array.from({ length: USERS }, () => snowflake()), msgs: Array.from({ length: MSGS }, () => snowflake()), msgPost: new Map() };
}

async function apply(t: TestDb, w: World, o: Op, n: number): Promise<void> {
  const comment = (it: { msg: number; post: number; user: number; at: string; reply?: number | null }, edited: string | null): CommentInput => {
    if (!w.msgPost.has(it.msg)) w.msgPost.set(it.msg, it.post);
    const post = w.posts[w.msgPost.get(it.msg)!]!;
    return {
      id: w.msgs[it.msg]!,
      postId: post.id,
      threadId: post.thread,
      authorId: w.users[it.user]!,
      authorName: `user ${it.user}`,
      content: `message ${n}`,
      replyToId: it.reply === undefined || it.reply === null ? null : w.msgs[it.reply]!,
      attachments: [],
      createdAt: it.at,
      editedAt: edited,
    };
  };
  const at = (s: string) => s;
  switch (o.kind) {
    case 'replies':
      return upsertComments(
        t.db,
        o.items.map((it) => comment(it, it.edit ? at(it.at) : null)),
      );
    case 'catchup': {
      const post = w.posts[0]!;
      await storeCatchUpPage(
        t.db,
        o.items.map((it) => comment(it, null)),
        o.items.length ? { threadId: post.thread, postId: post.id, messageId: w.msgs[o.items[0]!.msg]! } : null,
      );
      return;
    }
    case 'delete':
      await markCommentsDeleted(
        t.db,
        o.msgs.map((m) => w.msgs[m]!),
        o.at,
      );
      return;
    case 'thread':
      await markThreadCommentsDeleted(t.db, w.posts[o.post]!.id, w.posts[o.post]!.thread, o.at);
      return;
    case 'rate':
      return setRating(t.db, w.posts[o.post]!.id, w.users[o.user]!, o.stars, o.at);
    case 'batch': {
      // One write per (post, user), as the writer sends them (a removal wins over a set of the same key).
      const removed = new Map(o.removed.map((r) => [`${r.post}/${r.user}`, { postId: w.posts[r.post]!.id, userId: w.users[r.user]! }]));
      const set = new Map(
        o.set
          .filter((s) => !removed.has(`${s.post}/${s.user}`))
          .map((s) => [`${s.post}/${s.user}`, { postId: w.posts[s.post]!.id, userId: w.users[s.user]!, stars: s.stars, updatedAt: s.at }]),
      );
      return writeRatings(t.db, [...set.values()], [...removed.values()]);
    }
    case 'unreact':
      await removeRatings(t.db, w.posts[o.post]!.id, o.stars ?? undefined);
      return;
    case 'recount': {
      const postId = w.posts[o.post]!.id;
      const userId = w.users[o.user]!;
      const seen = await getRating(t.db, postId, userId);
      if (o.stars !== null) await setRatingIfUnchanged(t.db, postId, userId, o.stars, o.at, seen ? { stars: seen.stars, updatedAt: seen.updatedAt } : null);
      else if (seen) await removeRatingIfUnchanged(t.db, postId, userId, { stars: seen.stars, updatedAt: seen.updatedAt });
      return;
    }
    case 'erase':
      await eraseMember(t.db, w.guilds[o.user % 2]!, w.users[o.user]!, `hash-${o.user}-${n}`, o.at);
      return;
    case 'privacy':
      await setAppearance(t.db, w.guilds[o.guild]!, w.users[o.user]!, o.show, new Date(BASE).toISOString());
      return;
  }
}

for (const dialect of DIALECTS) {
  const test = suite<{ t: TestDb }>(`digest rollups against a full recount (${dialect})`);
  test.before(async (ctx) => {
    ctx.t = await createTestDb(dialect);
  });
  test.after(async ({ t }) => {
    await t.close();
  });

  test('after any sequence of writes the rollups equal a recount from the rows', async ({ t }) => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 25 }), async (ops) => {
        await sql`delete from comments`.execute(t.db.kysely);
        await sql`delete from ratings`.execute(t.db.kysely);
        assert.equal(await checkDigestRollups(t.db), [], 'empty tables, empty rollups');
        const w = await makeWorld(t);
        for (const [n, o] of ops.entries()) await apply(t, w, o, n);
        assert.equal(await checkDigestRollups(t.db), []);
      }),
      { numRuns: dialect === 'sqlite' ? 60 : 30 },
    );
  });

  test('the digest reads from the rollups equal a count of the rows for any window (off the quarter hours, days of +05:45 and +13:00 zones, unannounced posts)', async ({
    t,
  }) => {
    const span = 3 * 24 * 60; // minutes of the data
    // Often near those busy quarter hours (minutes 210–270 and 1650–1710 of the data).
    const minute = fc.oneof(fc.integer({ min: -60, max: span + 60 }), fc.integer({ min: 210, max: 270 }), fc.integer({ min: 1650, max: 1710 }));
    const instant = minute.chain((m) => fc.integer({ min: 0, max: 59_999 }).map((ms) => BASE + m * 60_000 + ms));
    await fc.assert(
      fc.asyncProperty(
        fc.array(op, { minLength: 1, maxLength: 20 }),
        instant,
        fc.oneof(fc.integer({ min: 1, max: span }), fc.integer({ min: 1, max: 90 })),
        fc.constantFrom(0, 345, 780, -570, 30),
        async (ops, a, minutes, offset) => {
          await sql`delete from comments`.execute(t.db.kysely);
          await sql`delete from ratings`.execute(t.db.kysely);
          await sql`delete from member_privacy`.execute(t.db.kysely);
          const w = await makeWorld(t);
          for (const [n, o] of ops.entries()) await apply(t, w, o, n);
          const start = new Date(a).toISOString();
          const end = new Date(a + minutes * 60_000).toISOString();
          // Bucket starts at the local midnights of a zone `offset` minutes east of UTC.
          const starts = [start];
          const dayMs = 24 * 3600_000;
          for (let d = Math.floor((a + offset * 60_000) / dayMs) + 1; ; d++) {
            const at = new Date(d * dayMs - offset * 60_000).toISOString();
            if (at >= end) break;
            starts.push(at);
          }
          const comments = (
            await sql<{
              post_id: string;
              guild_id: string;
              author_id: string;
              created_at: string;
              deleted_at: string | null;
              reply_to_id: string | null;
            }>`select * from comments`.execute(t.db.kysely)
          ).rows;
          const ratings = (
            await sql<{ post_id: string; guild_id: string; user_id: string; stars: number; updated_at: string }>`select * from ratings`.execute(t.db.kysely)
          ).rows;
          const announced = new Set(w.posts.filter((_, i) => i !== 3).map((p) => p.id));
          for (const guildId of w.guilds) {
            const win = { guildId, start, end };
            const live = comments.filter((c) => c.guild_id === guildId && c.deleted_at === null);
            const mine = ratings.filter((r) => r.guild_id === guildId);
            const within = (t: string, from: string, to: string) => t >= from && t < to;
            const ranges = starts.map((from, i) => ({ from, to: starts[i + 1] ?? end }));
            const act = await windowActivity(t.db, win, starts);
            assert.equal(
              act.replies,
              ranges.map((r) => live.filter((c) => announced.has(c.post_id) && within(c.created_at, r.from, r.to)).length),
            );
            assert.equal(
              act.ratings,
              ranges.map((r) => mine.filter((x) => announced.has(x.post_id) && within(x.updated_at, r.from, r.to)).length),
            );
            const inWin = mine.filter((x) => announced.has(x.post_id) && within(x.updated_at, start, end));
            assert.equal(
              act.stars,
              [1, 2, 3, 4, 5].map((k) => inWin.filter((x) => x.stars === k).length),
            );
            assert.equal(await windowCounts(t.db, win), { comments: act.replies.reduce((x, y) => x + y, 0), ratings: inWin.length });
            const perPost = new Map<string, number>();
            for (const c of live) if (announced.has(c.post_id) && within(c.created_at, start, end)) perPost.set(c.post_id, (perPost.get(c.post_id) ?? 0) + 1);
            assert.equal(new Map([...(await windowComments(t.db, win))].sort()), new Map([...perPost].sort()));
            const rated = await windowRatings(t.db, win, start);
            const wantRated = new Map(
              [...new Set(inWin.map((x) => x.post_id))].sort().map((id) => {
                const all = mine.filter((x) => x.post_id === id);
                return [
                  id,
                  { newRatings: inWin.filter((x) => x.post_id === id).length, ratingCount: all.length, ratingSum: all.reduce((n, x) => n + x.stars, 0) },
                ];
              }),
            );
            assert.equal(new Map([...rated.posts].sort()), wantRated);
            const since = mine.filter((x) => x.updated_at >= start);
            assert.equal(rated.prior, { count: since.length, sum: since.reduce((n, x) => n + x.stars, 0) });
            // New voices: first live comment or rating in the server inside the window, with activity there on an announced post
            // (members who chose hidden are left out).
            const first = new Map<string, string>();
            for (const [person, at] of [...live.map((c) => [c.author_id, c.created_at] as const), ...mine.map((x) => [x.user_id, x.updated_at] as const)])
              if (!first.has(person) || at < first.get(person)!) first.set(person, at);
            const activeHere = new Set([
              ...live.filter((c) => announced.has(c.post_id) && within(c.created_at, start, end)).map((c) => c.author_id),
              ...inWin.map((x) => x.user_id),
            ]);
            // People taking part (digest_person_days, migration 015): everyone active in the window on an announced post,
            // except members who chose hidden.
            const hidden = new Set(
              (
                await sql<{ user_id: string }>`select user_id from member_privacy where guild_id = ${guildId} and show = 'hidden'`.execute(t.db.kysely)
              ).rows.map((r) => r.user_id),
            );
            assert.is(await countParticipants(t.db, win), [...activeHere].filter((p) => !hidden.has(p)).length, 'people taking part');
            assert.equal(
              (await newVoices(t.db, win)).map((v) => v.userId),
              [...first]
                .filter(([person, at]) => within(at, start, end) && activeHere.has(person) && !hidden.has(person))
                .map(([person]) => person)
                .sort(),
            );
            // Waiting for an answer at `end` (PostgreSQL: digest_post_waits, migration 019, and the rows for the posts
            // written in at or after `end`): no live reply before `end`, or the newest top-level one (ties: the greater
            // author id) 48 h old or more with no one else writing after it.
            const quietBefore = new Date(Date.parse(end) - 48 * 3600_000).toISOString();
            const recentSince = new Date(Date.parse(end) - 30 * 24 * 3600_000).toISOString();
            const published = new Date(BASE).toISOString();
            const cmp = (x: string, y: string) => (x < y ? -1 : x > y ? 1 : 0);
            const wantWaiting = w.posts
              .filter((p) => p.guild === guildId && announced.has(p.id) && published >= recentSince && published < end)
              .flatMap((p): Array<{ id: string; unansweredSince: string | null; waitsSince: string }> => {
                const before = comments.filter((c) => c.post_id === p.id && c.deleted_at === null && c.created_at < end);
                if (before.length === 0) return [{ id: p.id, unansweredSince: null, waitsSince: published }];
                const top = before.filter((c) => c.reply_to_id === null).sort((x, y) => cmp(y.created_at, x.created_at) || cmp(y.author_id, x.author_id))[0];
                if (!top || top.created_at > quietBefore || before.some((c) => c.created_at > top.created_at && c.author_id !== top.author_id)) return [];
                return [{ id: p.id, unansweredSince: top.created_at, waitsSince: top.created_at }];
              })
              .sort((x, y) => cmp(x.waitsSince, y.waitsSince) || cmp(x.id, y.id));
            assert.equal(
              await waitingForAnswer(t.db, { guildId, since: recentSince, end, quietBefore }, 10),
              { posts: wantWaiting.map(({ id, unansweredSince }) => ({ id, unansweredSince })), total: wantWaiting.length },
              'waiting for an answer',
            );
          }
        },
      ),
      { numRuns: dialect === 'sqlite' ? 40 : 20 },
    );
  });

  test('the check finds a rollup that drifted and the rebuild repairs it (one server or all)', async ({ t }) => {
    await sql`delete from comments`.execute(t.db.kysely);
    await sql`delete from ratings`.execute(t.db.kysely);
    const w = await makeWorld(t);
    const g = w.posts[0]!.guild;
    await upsertComments(t.db, [
      {
        id: w.msgs[0]!,
        postId: w.posts[0]!.id,
        threadId: w.posts[0]!.thread,
        authorId: w.users[0]!,
        authorName: 'a',
        content: 'x',
        replyToId: null,
        attachments: [],
        createdAt: '2026-03-29T10:20:00.000Z',
        editedAt: null,
      },
    ]);
    await setRating(t.db, w.posts[0]!.id, w.users[1]!, 4, '2026-03-29T23:59:59.999Z');
    assert.equal(await checkDigestRollups(t.db), []);
    // Drift, as a bug or a hand edit would leave it.
    await sql`update digest_buckets set replies = replies + 2 where guild_id = ${g} and bucket = '2026-03-29T10:15'`.execute(t.db.kysely);
    await sql`delete from digest_post_days where post_id = ${w.posts[0]!.id} and day = '2026-03-29'`.execute(t.db.kysely);
    await sql`update digest_first_activity set first_at = '2020-01-01T00:00:00.000Z' where guild_id = ${g} and user_id = ${w.users[1]!}`.execute(t.db.kysely);
    await sql`delete from digest_person_days where guild_id = ${g} and user_id = ${w.users[0]!}`.execute(t.db.kysely);
    await sql`update digest_post_totals set star_sum = 5 where guild_id = ${g}`.execute(t.db.kysely);
    if (dialect === 'postgres') await sql`update digest_post_waits set answered = true where post_id = ${w.posts[0]!.id}`.execute(t.db.kysely);
    const drift = await checkDigestRollups(t.db, { guildId: g });
    assert.equal(
      drift.map((d) => [d.table, d.key, d.stored, d.recounted]),
      [
        ['digest_buckets', `${g}|2026-03-29T10:15`, '3,0,0,0,0,0,0', '1,0,0,0,0,0,0'],
        ['digest_first_activity', `${g}|${w.users[1]!}`, '2020-01-01T00:00:00.000Z', '2026-03-29T23:59:59.999Z'],
        ['digest_person_days', `${g}|2026-03-29|${w.users[0]!}`, null, '1'],
        ['digest_post_days', `${w.posts[0]!.id}|2026-03-29|${g}`, null, '1,1,4'],
        ['digest_post_totals', `${g}|${w.posts[0]!.id}`, '1,1,5', '1,1,4'],
        ...(dialect === 'postgres'
          ? [
              [
                'digest_post_waits',
                w.posts[0]!.id,
                `2026-03-29T10:20:00.000Z,2026-03-29T10:20:00.000Z,${w.users[0]!},1`,
                `2026-03-29T10:20:00.000Z,2026-03-29T10:20:00.000Z,${w.users[0]!},0`,
              ],
            ]
          : []),
      ],
    );
    assert.equal(await checkDigestRollups(t.db, { guildId: w.guilds[1]! }), [], 'the other server has not drifted');
    const rebuilt = await rebuildDigestRollups(t.db, { guildId: g });
    assert.equal(rebuilt, { buckets: 2, days: 1, people: 2, personDays: 2, postTotals: 1, ...(dialect === 'postgres' ? { postWaits: 1 } : {}) });
    assert.equal(await checkDigestRollups(t.db), []);
    await rebuildDigestRollups(t.db);
    assert.equal(await checkDigestRollups(t.db), []);
  });

  test.run();
}

const cli = suite<{ t: TestDb }>('blogcord digest rebuild-rollups');
cli.before(async (ctx) => {
  ctx.t = await createTestDb('postgres');
});
cli.after(async ({ t }) => {
  await t.close();
});

cli('reports how many rollup rows differed from the recount and rebuilds them; a bad server id is a usage error', async ({ t }) => {
  const w = await makeWorld(t);
  await setRating(t.db, w.posts[0]!.id, w.users[0]!, 5, '2026-03-29T08:00:00.000Z');
  await sql`update digest_buckets set ratings = 7`.execute(t.db.kysely);
  const saved = { ...process.env };
  Object.assign(process.env, { DATABASE_URL: t.url, LOG_LEVEL: 'silent' });
  const write = process.stdout.write.bind(process.stdout);
  let printed = '';
  process.stdout.write = ((s: string) => ((printed += s), true)) as typeof process.stdout.write;
  try {
    assert.is(await main(['digest', 'rebuild-rollups']), 0);
    assert.match(printed, '1 rollup row(s) differed from the recount; rebuilt: 1 quarter-hour buckets, 1 post-days, 1 people, 1 person-days, 1 post totals');
    assert.equal(await checkDigestRollups(t.db), []);
    assert.is(await main(['digest', 'rebuild-rollups', '--guild', w.guilds[0]!]), 0);
    assert.match(printed, 'the rollups matched the recount');
    let error: unknown;
    try {
      await main(['digest', 'rebuild-rollups', '--guild', 'abc']);
    } catch (e) {
      error = e;
    }
    assert.is((error as Error | undefined)?.name, 'UsageError');
  } finally {
    process.stdout.write = write;
    process.env = saved;
  }
});

cli.run();
