/**
 * Fast without a stale cache (issue 17): each web process keeps built answers in memory and validates them on every
 * request by the post's version (migration 017's triggers), so an unchanged post is served from memory and every kind
 * of change shows on the very next request (no sleep, no ttl), on both databases, on every route of a post.
 * Run alone: npx tsx node_modules/uvu/bin.js test 'web-fresh\.test\.ts$'
 */
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfig } from '../../src/config.ts';
import { VERSION } from '../../src/context.ts';
import { AnswerCache, FreshReads, strongEtag } from '../../src/http/caching.ts';
import { createHttpServer } from '../../src/http/server.ts';
import { createLogger } from '../../src/logger.ts';
import { listComments, markCommentsDeleted, upsertComments } from '../../src/repositories/comments.ts';
import { setFeedWeb } from '../../src/repositories/feeds.ts';
import { writeRatings } from '../../src/repositories/ratings.ts';
import { closeDiscussions } from '../../src/repositories/posts.ts';
import { webAnswerStamp } from '../../src/services/discussion.ts';
import { chooseAppearance, forgetMember } from '../../src/services/privacy.ts';
import { DIALECTS, createTestDb, type TestDb } from '../support/db.ts';
import { seedDiscussion, SEED_URL } from '../support/fixtures.ts';
import { setRating } from '../support/ratings.ts';
import { snowflake } from '../support/snowflake.ts';

const log = createLogger('silent');

const unit = suite('AnswerCache.validated');
unit('one build per stamp (concurrent misses share it); a new stamp rebuilds; null = not found and forgets', async () => {
  let builds = 0;
  let stampReads = 0;
  let current: string | null = 'p:1:0';
  const cache = new AnswerCache(0);
  const stamp = async () => {
    stampReads++;
    return current;
  };
  const build = async () => {
    builds++;
    await new Promise((r) => setTimeout(r, 5));
    return `{"build":${builds}}`;
  };
  const burst = await Promise.all(Array.from({ length: 5 }, () => cache.validated('/a', stamp, build)));
  assert.is(builds, 1, 'one build for a burst');
  assert.is(new Set(burst.map((a) => a!.etag)).size, 1);
  assert.is(burst[0]!.etag, strongEtag(burst[0]!.body));
  assert.is((await cache.validated('/a', stamp, build))!.body, '{"build":1}', 'the same stamp: from memory');
  assert.is(builds, 1);
  assert.is(stampReads, 3, 'the burst shared two reads (the first, and one for those who asked during it), then one more');
  current = 'p:2:0';
  assert.is((await cache.validated('/a', stamp, build))!.body, '{"build":2}', 'a new stamp: built again at once');
  current = null;
  assert.is(await cache.validated('/a', stamp, build), null, 'no post: null');
  assert.is(cache.size.entries, 0, 'and the stored answer is gone');
  current = 'p:2:0';
  await cache.validated('/a', stamp, build);
  assert.is(builds, 3, 'nothing stale came back');
});

unit('a failed build is not stored; the least recently used answers go over the entry and byte caps', async () => {
  const cache = new AnswerCache(0, 2, Date.now, 1000);
  const stamp = async () => 's';
  let n = 0;
  const build = async () => `answer ${++n}`;
  await cache.validated('/x', stamp, async () => Promise.reject(new Error('boom'))).catch(() => {});
  assert.is(cache.size.entries, 0);
  await cache.validated('/a', stamp, build);
  await cache.validated('/b', stamp, build);
  await cache.validated('/a', stamp, build); // /a used last: /b is the least recently used
  await cache.validated('/c', stamp, build);
  assert.is(cache.size.entries, 2);
  const before = n;
  await cache.validated('/a', stamp, build);
  assert.is(n, before, '/a stayed');
  await cache.validated('/b', stamp, build);
  assert.is(n, before + 1, '/b was evicted');
  await cache.validated('/big', stamp, async () => 'x'.repeat(990));
  assert.ok(cache.size.bytes <= 1000, `under the byte cap (${cache.size.bytes})`);
});

unit('with a ttl (HTTP_ANSWER_CACHE_MS, opt-in) the stamp is read at most once per ttl', async () => {
  let clock = 0;
  let reads = 0;
  const cache = new AnswerCache(1000, 10, () => clock);
  const stamp = async () => {
    reads++;
    return 's';
  };
  await cache.validated('/a', stamp, async () => 'a');
  clock = 999;
  await cache.validated('/a', stamp, async () => 'a');
  assert.is(reads, 1);
  clock = 1000;
  await cache.validated('/a', stamp, async () => 'a');
  assert.is(reads, 2);
});
unit('FreshReads: a burst shares reads, and every caller gets a read that started after it asked', async () => {
  const reads = new FreshReads<number>();
  let value = 0;
  let started = 0;
  const fn = async () => {
    started++;
    const seen = value; // what the database holds when the read starts
    await new Promise((r) => setTimeout(r, 10));
    return seen;
  };
  const first = reads.read('k', fn);
  value = 1; // a write committed after the first read started…
  const burst = Array.from({ length: 20 }, () => reads.read('k', fn)); // …and before these asked
  assert.is(await first, 0);
  assert.equal([...new Set(await Promise.all(burst))], [1], 'every later caller sees the write');
  assert.is(started, 2, 'twenty-one callers, two reads');
  await new Promise((r) => setTimeout(r, 1));
  assert.is(reads.inFlight, 0, 'nothing left behind');
  const failing = reads.read('x', async () => Promise.reject(new Error('down')));
  const after = reads.read('x', async () => 7);
  await failing.catch(() => {});
  assert.is(await after, 7, 'a failed read does not fail the ones queued behind it');
});
unit.run();

for (const dialect of DIALECTS) {
  type Ctx = { t: TestDb; app: FastifyInstance; seed: Awaited<ReturnType<typeof seedDiscussion>> };
  const test = suite<Ctx>(`every change shows on the next request (${dialect})`);

  test.before(async (ctx) => {
    ctx.t = await createTestDb(dialect);
    ctx.seed = await seedDiscussion(ctx.t.db);
    await setFeedWeb(ctx.t.db, ctx.seed.post.feedId, true);
    // The defaults of a real process: answers kept in memory, validated on every request.
    ctx.app = await createHttpServer(
      { config: loadConfig({}, { dotenv: false }), log, db: ctx.t.db, version: VERSION, redisHealth: async () => {} },
      { rateLimit: { max: 100_000, timeWindowMs: 60_000 } },
    );
  });
  test.after(async (ctx) => {
    await ctx.app?.close();
    await ctx.t?.close();
  });

  const routes = ({ seed }: Ctx) => [
    `/api/posts?url=${encodeURIComponent(SEED_URL)}`,
    `/api/posts/${seed.post.id}`,
    `/api/posts/${seed.post.id}/comments?limit=100`,
    `/embed/posts/${seed.post.id}`,
    `/embed/posts?url=${encodeURIComponent(SEED_URL)}`,
    `/embed/posts/${seed.post.id}/comments?limit=100`,
  ];
  /** Each route's answer now (every route asked twice first, so the second is served from memory). */
  async function read(ctx: Ctx): Promise<Array<{ status: number; body: string; etag: string }>> {
    const out = [];
    for (const url of routes(ctx)) {
      await ctx.app.inject({ method: 'GET', url });
      const res = await ctx.app.inject({ method: 'GET', url });
      out.push({ status: res.statusCode, body: res.body, etag: String(res.headers.etag) });
    }
    return out;
  }
  const stampOf = (ctx: Ctx) => webAnswerStamp(ctx.t.db, { id: ctx.seed.post.id });

  /** Runs `change` and checks the stamp moved and every route's next answer passes `seen`. */
  async function shows(ctx: Ctx, change: () => Promise<unknown>, seen: (body: string, route: string) => boolean, what: string) {
    await read(ctx); // warm: every answer in memory
    const before = await stampOf(ctx);
    await change();
    assert.is.not(await stampOf(ctx), before, `${what}: the stamp moved`);
    const urls = routes(ctx);
    for (const url of urls) {
      const res = await ctx.app.inject({ method: 'GET', url });
      assert.ok(seen(res.body, url), `${what}: ${url} shows it on the next request`);
    }
  }

  const comment = (ctx: Ctx, content: string) => ({
    id: snowflake(),
    postId: ctx.seed.post.id,
    threadId: ctx.seed.post.threadId!,
    authorId: snowflake(),
    authorName: 'Quokka Reader',
    content,
    replyToId: null,
    attachments: [],
    createdAt: new Date().toISOString(),
    editedAt: null,
  });

  test('unchanged data keeps the stamp: polls, an unchanged re-upsert (catch-up), a rating set to the same stars', async (ctx) => {
    const { t, seed } = ctx;
    const before = await stampOf(ctx);
    assert.ok(before);
    const served = await read(ctx);
    await t.db.kysely
      .updateTable('feeds')
      .set({ last_polled_at: new Date().toISOString(), last_poll_outcome: 'ok' })
      .where('id', '=', seed.post.feedId)
      .execute();
    await upsertComments(t.db, await listComments(t.db, seed.post.id));
    await t.db.kysely.updateTable('posts').set({ publish_attempts: 3, updated_at: new Date().toISOString() }).where('id', '=', seed.post.id).execute();
    assert.is(await stampOf(ctx), before, 'nothing the web shows changed');
    assert.equal(await read(ctx), served, 'the same answers and ETags');
  });

  test('a comment added, edited, deleted', async (ctx) => {
    const { t } = ctx;
    const c = comment(ctx, 'platypus wisdom');
    await shows(
      ctx,
      () => upsertComments(t.db, [c]),
      (b) => b.includes('platypus wisdom'),
      'added',
    );
    await shows(
      ctx,
      () => upsertComments(t.db, [{ ...c, content: 'wombat wisdom', editedAt: new Date().toISOString() }]),
      (b) => b.includes('wombat wisdom') && !b.includes('platypus'),
      'edited',
    );
    await shows(
      ctx,
      () => markCommentsDeleted(t.db, [c.id], new Date().toISOString()),
      (b) => !b.includes('wombat'),
      'deleted',
    );
  });

  test('a rating set, changed and removed', async (ctx) => {
    const { t, seed } = ctx;
    const user = snowflake();
    const count = (b: string, route: string) => (route.includes('/comments') ? true : /3 ratings|"count":3/.test(b));
    await shows(ctx, () => setRating(t.db, seed.post.id, user, 1, new Date().toISOString()), count, 'set');
    await shows(
      ctx,
      () => setRating(t.db, seed.post.id, user, 2, new Date(Date.now() + 1).toISOString()),
      (b, r) => r.includes('/comments') || /"average":4|4\/5/.test(b),
      'changed',
    );
    await shows(
      ctx,
      () => writeRatings(t.db, [], [{ postId: seed.post.id, userId: user }]),
      (b, r) => r.includes('/comments') || /2 ratings|"count":2/.test(b),
      'removed',
    );
  });

  test('privacy: anonymous, hidden, named again, forget (server-wide versions)', async (ctx) => {
    const { t, seed } = ctx;
    const c = comment(ctx, 'kookaburra laughs');
    await upsertComments(t.db, [c]);
    const named = (b: string) => b.includes('Quokka Reader') && b.includes('kookaburra');
    await shows(
      ctx,
      () => chooseAppearance(t.db, seed.guildId, c.authorId, 'anonymous'),
      (b) => !b.includes('Quokka Reader') && b.includes('kookaburra'),
      'anonymous',
    );
    await shows(
      ctx,
      () => chooseAppearance(t.db, seed.guildId, c.authorId, 'hidden'),
      (b) => !b.includes('kookaburra'),
      'hidden',
    );
    await shows(ctx, () => chooseAppearance(t.db, seed.guildId, c.authorId, 'named'), named, 'named again');
    await shows(
      ctx,
      () => forgetMember({ db: t.db, log }, seed.guildId, c.authorId),
      (b) => !b.includes('kookaburra') && !b.includes('Quokka'),
      'forgotten',
    );
  });

  test('/web disable: 404 on the next request everywhere; enable: served again', async (ctx) => {
    const { t, seed } = ctx;
    await read(ctx);
    await setFeedWeb(t.db, seed.post.feedId, false);
    for (const url of routes(ctx)) {
      const res = await ctx.app.inject({ method: 'GET', url });
      assert.is(res.statusCode, 404, url);
      assert.is(res.headers['cache-control'], 'no-store');
    }
    await setFeedWeb(t.db, seed.post.feedId, true);
    assert.ok((await read(ctx)).every((r) => r.status === 200));
  });

  test('the announcement deleted on Discord: the discussion closes on the next request', async (ctx) => {
    const { t, seed } = ctx;
    await shows(
      ctx,
      () => closeDiscussions(t.db, { messageIds: [seed.post.messageId!] }, new Date().toISOString()),
      (b, r) =>
        r.startsWith('/api/posts?') || /^\/api\/posts\/[^/]+$/.test(r)
          ? b.includes('"discussion":"closed"')
          : !b.includes('kookaburra') && !b.includes('Quokka'),
      'closed',
    );
    // Every comment route now serves no comments: the seed's first reply is gone from all of them.
    const [first] = (await listComments(t.db, seed.post.id)).filter((c) => !c.deletedAt);
    for (const url of routes(ctx)) assert.not.ok((await ctx.app.inject({ method: 'GET', url })).body.includes(first!.authorName), url);
  });

  test('a write inside a transaction that rolls back moves nothing', async (ctx) => {
    const { t, seed } = ctx;
    const before = await stampOf(ctx);
    await t.db.kysely
      .transaction()
      .execute(async (tx) => {
        await sql`update comments set content = 'rolled back' where post_id = ${seed.post.id}`.execute(tx);
        throw new Error('rollback');
      })
      .catch(() => {});
    assert.is(await stampOf(ctx), before);
  });

  test.run();
}
