/**
 * Caching a CDN understands, on both databases: every GET route answers Cache-Control with stale-while-revalidate
 * and a STRONG ETag, 304 on If-None-Match, and the ETag changes with each kind of change a reader could see: a
 * comment added, edited or deleted, a rating, a member's privacy choice, the server's web consent.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../../src/config.ts';
import { VERSION } from '../../src/context.ts';
import { AnswerCache, cacheControl, etagMatches, strongEtag } from '../../src/http/caching.ts';
import { createHttpServer } from '../../src/http/server.ts';
import { createLogger } from '../../src/logger.ts';
import { listComments, markCommentsDeleted, upsertComments } from '../../src/repositories/comments.ts';
import { setFeedWeb } from '../../src/repositories/feeds.ts';
import { setRating } from '../support/ratings.ts';
import { chooseAppearance } from '../../src/services/privacy.ts';
import { DIALECTS, createTestDb, type TestDb } from '../support/db.ts';
import { seedDiscussion, SEED_URL } from '../support/fixtures.ts';
import { snowflake } from '../support/snowflake.ts';

const log = createLogger('silent');

const unit = suite('caching helper');
unit('strong ETags from the bytes; If-None-Match compares weakly (W/ ignored), lists and * match', () => {
  const e = strongEtag('{"a":1}');
  assert.match(e, /^"[\w-]{27}"$/);
  assert.is(strongEtag('{"a":1}'), e, 'the same bytes, the same ETag (every process)');
  assert.is.not(strongEtag('{"a":2}'), e);
  assert.ok(etagMatches(e, e));
  assert.ok(etagMatches(`W/${e}`, e));
  assert.ok(etagMatches(`"x", ${e}`, e));
  assert.ok(etagMatches('*', e));
  assert.not.ok(etagMatches('"x"', e));
  assert.not.ok(etagMatches(undefined, e));
  assert.is(cacheControl(60, 300), 'public, max-age=60, stale-while-revalidate=300');
  assert.is(cacheControl(-5, 1.7), 'public, max-age=0, stale-while-revalidate=1');
});
unit('AnswerCache: one build per key and period (concurrent misses share it), rebuilt after ttl, errors never stored, 0 = off', async () => {
  let clock = 0;
  let builds = 0;
  const cache = new AnswerCache(1000, 2, () => clock);
  const build = async () => {
    builds++;
    await new Promise((r) => setTimeout(r, 5));
    return `{"n":${builds}}`;
  };
  const burst = await Promise.all(Array.from({ length: 5 }, () => cache.get('/a', build)));
  assert.is(builds, 1, 'one build for a burst');
  assert.is(new Set(burst.map((a) => a.etag)).size, 1);
  assert.is(burst[0]!.etag, strongEtag(burst[0]!.body));
  clock = 999;
  assert.is((await cache.get('/a', build)).body, '{"n":1}', 'reused within the period');
  clock = 1000;
  assert.is((await cache.get('/a', build)).body, '{"n":2}', 'rebuilt after it');
  let fails = 0;
  const failing = async (): Promise<string> => {
    fails++;
    throw new Error('not found');
  };
  await cache.get('/missing', failing).catch(() => {});
  await cache.get('/missing', failing).catch(() => {});
  assert.is(fails, 2, 'an error is not stored');
  await cache.get('/b', build);
  await cache.get('/c', build);
  const before = builds;
  await cache.get('/a', build);
  assert.is(builds, before + 1, 'the oldest entry went over the cap of 2');
  const off = new AnswerCache(0);
  let n = 0;
  await off.get('/x', async () => String(++n));
  await off.get('/x', async () => String(++n));
  assert.is(n, 2, 'ttl 0 builds every time');
});
unit.run();

for (const dialect of DIALECTS) {
  const test = suite<{ t: TestDb; app: FastifyInstance; seed: Awaited<ReturnType<typeof seedDiscussion>> }>(`ETags follow every change (${dialect})`);

  test.before(async (ctx) => {
    ctx.t = await createTestDb(dialect);
    ctx.seed = await seedDiscussion(ctx.t.db);
    await setFeedWeb(ctx.t.db, ctx.seed.post.feedId, true);
    ctx.app = await createHttpServer(
      { config: loadConfig({}, { dotenv: false }), log, db: ctx.t.db, version: VERSION, redisHealth: async () => {} },
      { rateLimit: { max: 10_000, timeWindowMs: 60_000 } },
    );
  });
  test.after(async (ctx) => {
    await ctx.app?.close();
    await ctx.t?.close();
  });

  const routes = (seed: { post: { id: string }; guildId: string }) => [
    `/api/posts?url=${encodeURIComponent(SEED_URL)}`,
    `/api/posts/${seed.post.id}`,
    `/api/posts?guild=${seed.guildId}`,
  ];

  /** The ETag of each route now, after checking that each answers 304 to its own ETag. */
  async function etags(app: FastifyInstance, urls: string[]): Promise<string[]> {
    const out: string[] = [];
    for (const url of urls) {
      const res = await app.inject({ method: 'GET', url });
      assert.is(res.statusCode, 200, url);
      assert.is(res.headers['cache-control'], 'public, max-age=60, stale-while-revalidate=300', url);
      const etag = String(res.headers.etag);
      assert.match(etag, /^"[\w-]+"$/, `strong: ${url}`);
      const again = await app.inject({ method: 'GET', url, headers: { 'if-none-match': etag } });
      assert.is(again.statusCode, 304, url);
      assert.is(again.body, '');
      assert.is(again.headers.etag, etag);
      out.push(etag);
    }
    return out;
  }

  /** After `change`, the ETags of the post's routes (and the list's when `list`) differ, and the old ones answer 200. */
  async function changes(app: FastifyInstance, seed: { post: { id: string }; guildId: string }, change: () => Promise<unknown>, list: boolean) {
    const urls = routes(seed);
    const before = await etags(app, urls);
    await change();
    const after = await etags(app, urls);
    for (const i of [0, 1]) {
      assert.is.not(after[i], before[i], `${urls[i]} changed`);
      const stale = await app.inject({ method: 'GET', url: urls[i]!, headers: { 'if-none-match': before[i]! } });
      assert.is(stale.statusCode, 200, 'an old ETag gets the new answer');
    }
    if (list) assert.is.not(after[2], before[2], 'the list changed');
    else assert.is(after[2], before[2], 'the list (counts only) did not change');
  }

  test('a comment added changes the ETags (post and list: its reply count)', async ({ app, t, seed }) => {
    await changes(
      app,
      seed,
      () =>
        upsertComments(t.db, [
          {
            id: snowflake(),
            postId: seed.post.id,
            threadId: seed.post.threadId!,
            authorId: snowflake(),
            authorName: 'Newcomer',
            content: 'a new reply',
            replyToId: null,
            attachments: [],
            createdAt: new Date().toISOString(),
            editedAt: null,
          },
        ]),
      true,
    );
  });

  test('a comment edited changes the post ETags', async ({ app, t, seed }) => {
    const [first] = await listComments(t.db, seed.post.id);
    await changes(app, seed, () => upsertComments(t.db, [{ ...first!, content: `${first!.content} (edited)`, editedAt: new Date().toISOString() }]), false);
  });

  test('a comment deleted changes the ETags (post and list)', async ({ app, t, seed }) => {
    const comments = await listComments(t.db, seed.post.id);
    await changes(app, seed, () => markCommentsDeleted(t.db, [comments.at(-1)!.id], new Date().toISOString()), true);
  });

  test('a rating changes the ETags (post and list)', async ({ app, t, seed }) => {
    await changes(app, seed, () => setRating(t.db, seed.post.id, snowflake(), 1, new Date().toISOString()), true);
  });

  test("a member's privacy choice (anonymous, then hidden) changes the post ETags", async ({ app, t, seed }) => {
    const [first] = await listComments(t.db, seed.post.id);
    await changes(app, seed, () => chooseAppearance(t.db, seed.guildId, first!.authorId, 'anonymous'), false);
    await changes(app, seed, () => chooseAppearance(t.db, seed.guildId, first!.authorId, 'hidden'), false);
  });

  test("the server's web consent: off → 404 no-store everywhere (an old ETag gets no 304); on again → served", async ({ app, t, seed }) => {
    const urls = routes(seed);
    const before = await etags(app, urls);
    await setFeedWeb(t.db, seed.post.feedId, false);
    for (const [i, url] of urls.slice(0, 2).entries()) {
      const res = await app.inject({ method: 'GET', url, headers: { 'if-none-match': before[i]! } });
      assert.is(res.statusCode, 404, url);
      assert.is(res.headers['cache-control'], 'no-store');
      assert.is(res.headers.etag, undefined);
    }
    const list = await app.inject({ method: 'GET', url: urls[2]!, headers: { 'if-none-match': before[2]! } });
    assert.is(list.statusCode, 200, 'the list now leaves the post out');
    assert.is.not(list.headers.etag, before[2]);
    assert.equal(list.json().posts, []);
    await setFeedWeb(t.db, seed.post.feedId, true);
    assert.equal(await etags(app, urls), before, 'the same data again: the same ETags');
  });

  test('/widget.js: strong ETag, a day of stale-while-revalidate, 304', async ({ app }) => {
    const res = await app.inject({ method: 'GET', url: '/widget.js' });
    assert.is(res.statusCode, 200);
    assert.is(res.headers['cache-control'], 'public, max-age=3600, stale-while-revalidate=86400');
    assert.is(res.headers.etag, strongEtag(res.body));
    const again = await app.inject({ method: 'GET', url: '/widget.js', headers: { 'if-none-match': String(res.headers.etag) } });
    assert.is(again.statusCode, 304);
  });

  test.run();
}
