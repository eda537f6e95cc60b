/**
 * Media that lasts: the emulator's signed attachment URLs (ex/is/hm, its CDN refusing expired or badly signed ones,
 * POST /attachments/refresh-urls) and GET /media/:commentId/:index on both databases: a redirect to the stored URL
 * while it is valid, to a fresh one (asked of Discord once, cached in Redis for every process) after it expired, a
 * clear 502/503 when Discord cannot renew it, and 404 for anything the web may not show.
 */
import { randomBytes } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { startDiscordEmulator, type DiscordEmulator } from '../../emulator/index.ts';
import { loadConfig } from '../../src/config.ts';
import { VERSION } from '../../src/context.ts';
import { createRest, RestDiscordPort } from '../../src/discord/rest-port.ts';
import { createHttpServer } from '../../src/http/server.ts';
import { createLogger } from '../../src/logger.ts';
import { markCommentsDeleted, upsertComments } from '../../src/repositories/comments.ts';
import { setFeedWeb } from '../../src/repositories/feeds.ts';
import { chooseAppearance } from '../../src/services/privacy.ts';
import { createMediaService, MediaUnavailableError, redisMediaCache, urlExpiry, REFRESH_MARGIN_MS } from '../../src/services/media.ts';
import { DIALECTS, createTestDb, type TestDb } from '../support/db.ts';
import { REDIS_URL } from '../support/bot.ts';
import { seedDiscussion } from '../support/fixtures.ts';
import { snowflake } from '../support/snowflake.ts';

const log = createLogger('silent');
const DAY = 86_400_000;
const PNG = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000', 'hex');

async function emulator(): Promise<DiscordEmulator> {
  return startDiscordEmulator({ guilds: [{ name: 'blog', channels: [{ name: 'posts' }] }], users: [{ username: 'alice' }] });
}

const refreshes = (d: DiscordEmulator) => d.requests.filter((r) => r.route === 'POST /attachments/refresh-urls').length;

// ------------------------------------------------------------------ the emulator

const emu = suite<{ d: DiscordEmulator }>('emulator: signed attachment URLs');
emu.before(async (ctx) => {
  ctx.d = await emulator();
});
emu.after(async (ctx) => {
  await ctx.d?.stop();
});

emu('attachment URLs carry ex/is/hm like Discord; the CDN serves them until ex, then 404 "no longer available"', async ({ d }) => {
  const m = await d.say('alice', 'posts', 'look', { attachments: [{ filename: 'a.png', data: PNG, contentType: 'image/png' }] });
  const url = m.attachments[0]!.url;
  const u = new URL(url);
  assert.match(url, /\?ex=[0-9a-f]{8}&is=[0-9a-f]{8}&hm=[0-9a-f]{64}&$/);
  const ex = parseInt(u.searchParams.get('ex')!, 16);
  const is = parseInt(u.searchParams.get('is')!, 16);
  assert.is(ex - is, 86_400, 'valid for a day');
  assert.ok(Math.abs(is * 1000 - d.now()) < 5000, 'issued now');
  const ok = await fetch(url);
  assert.is(ok.status, 200);
  assert.equal(Buffer.from(await ok.arrayBuffer()), PNG);
  for (const bad of [
    `${u.origin}${u.pathname}`,
    url.replace(/hm=[0-9a-f]/, (h) => (h.endsWith('0') ? 'hm=1' : 'hm=0')),
    url.replace(/ex=[0-9a-f]+/, `ex=${(ex + 3600).toString(16)}`),
  ]) {
    const res = await fetch(bad);
    assert.is(res.status, 404, bad);
    assert.is(await res.text(), 'This content is no longer available.');
  }
  d.advanceClock(DAY);
  const expired = await fetch(url);
  assert.is(expired.status, 404, 'expired a day later');
  assert.is(await expired.text(), 'This content is no longer available.');
});

emu('POST /attachments/refresh-urls gives fresh signed URLs (expired ones too); unknown URLs are left out; bad bodies are 400', async ({ d }) => {
  d.setAttachmentUrlTtl(60);
  const m = await d.say('alice', 'posts', 'files', { attachments: [{ filename: 'b.png', data: PNG, contentType: 'image/png' }] });
  const old = m.attachments[0]!.url;
  d.advanceClock(61_000);
  assert.is((await fetch(old)).status, 404);
  const port = new RestDiscordPort(createRest({ discordApiUrl: d.restUrl, discordToken: d.token }));
  const out = await port.refreshAttachmentUrls([old, 'https://cdn.discordapp.com/attachments/1/2/unknown.png']);
  assert.is(out.length, 1, 'a URL the CDN does not have is left out');
  assert.is(out[0]!.original, old);
  assert.is.not(out[0]!.refreshed, old);
  assert.is(new URL(out[0]!.refreshed).pathname, new URL(old).pathname);
  const fresh = await fetch(out[0]!.refreshed);
  assert.is(fresh.status, 200);
  assert.equal(Buffer.from(await fresh.arrayBuffer()), PNG);
  for (const body of [{}, { attachment_urls: [] }, { attachment_urls: Array.from({ length: 51 }, () => old) }, { attachment_urls: [42] }]) {
    const res = await fetch(`${d.restUrl}/v10/attachments/refresh-urls`, {
      method: 'POST',
      headers: { authorization: `Bot ${d.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    assert.is(res.status, 400, JSON.stringify(body).slice(0, 40));
    assert.is((await res.json()).code, 50035);
  }
  const anon = await fetch(`${d.restUrl}/v10/attachments/refresh-urls`, { method: 'POST', body: JSON.stringify({ attachment_urls: [old] }) });
  assert.is(anon.status, 401, 'the bot token is required');
  d.setAttachmentUrlTtl(86_400);
});

emu.run();

// ------------------------------------------------------------------ GET /media on both databases

for (const dialect of DIALECTS) {
  const test = suite<{
    t: TestDb;
    d: DiscordEmulator;
    redis: Redis;
    prefix: string;
    app: FastifyInstance;
    seed: Awaited<ReturnType<typeof seedDiscussion>>;
    ids: { withFiles: string; deleted: string; hiddenAuthor: string };
    files: string[];
  }>(`GET /media (${dialect})`);

  test.before(async (ctx) => {
    ctx.t = await createTestDb(dialect);
    ctx.d = await emulator();
    ctx.redis = new Redis(REDIS_URL, { lazyConnect: false, maxRetriesPerRequest: 1 });
    ctx.prefix = `tmedia${randomBytes(4).toString('hex')}`;
    ctx.seed = await seedDiscussion(ctx.t.db);
    await setFeedWeb(ctx.t.db, ctx.seed.post.feedId, true);
    // Two files posted in Discord: their URLs, signed for a day, are what the mirror stores.
    const m = await ctx.d.say('alice', 'posts', 'two files', {
      attachments: [
        { filename: 'chart.png', data: PNG, contentType: 'image/png' },
        { filename: 'notes.txt', data: 'notes', contentType: 'text/plain' },
      ],
    });
    ctx.files = m.attachments.map((a) => a.url);
    const attachments = m.attachments.map((a) => ({ url: a.url, name: a.filename, contentType: a.content_type ?? null }));
    const threadId = ctx.seed.post.threadId!;
    const at = Date.parse('2026-12-01T10:00:00Z');
    const hiddenUser = snowflake();
    ctx.ids = { withFiles: snowflake(at), deleted: snowflake(at + 1), hiddenAuthor: snowflake(at + 2) };
    const base = { postId: ctx.seed.post.id, threadId, authorName: 'Alice', content: 'see', replyToId: null, editedAt: null, attachments };
    await upsertComments(ctx.t.db, [
      { ...base, id: ctx.ids.withFiles, authorId: snowflake(), createdAt: new Date(at).toISOString() },
      { ...base, id: ctx.ids.deleted, authorId: snowflake(), createdAt: new Date(at + 1).toISOString() },
      { ...base, id: ctx.ids.hiddenAuthor, authorId: hiddenUser, createdAt: new Date(at + 2).toISOString() },
    ]);
    await markCommentsDeleted(ctx.t.db, [ctx.ids.deleted], new Date(at + 10).toISOString());
    await chooseAppearance(ctx.t.db, ctx.seed.guildId, hiddenUser, 'hidden');
    const discord = new RestDiscordPort(createRest({ discordApiUrl: ctx.d.restUrl, discordToken: ctx.d.token }));
    const media = createMediaService({ db: ctx.t.db, log, discord, cache: redisMediaCache(ctx.redis, ctx.prefix), now: () => ctx.d.now() });
    ctx.app = await createHttpServer(
      { config: loadConfig({}, { dotenv: false }), log, db: ctx.t.db, version: VERSION, redisHealth: async () => {}, media },
      { rateLimit: { max: 10_000, timeWindowMs: 60_000 } },
    );
  });

  test.after(async (ctx) => {
    await ctx.app?.close();
    if (ctx.redis && ctx.prefix) {
      const keys = await ctx.redis.keys(`${ctx.prefix}:*`);
      if (keys.length) await ctx.redis.del(...keys);
    }
    ctx.redis?.disconnect();
    await ctx.d?.stop();
    await ctx.t?.close();
  });

  test('a valid stored URL: 302 to it, cached until shortly before it expires, without asking Discord', async ({ app, d, ids, files }) => {
    const before = refreshes(d);
    for (const index of [0, 1]) {
      const res = await app.inject({ method: 'GET', url: `/media/${ids.withFiles}/${index}` });
      assert.is(res.statusCode, 302);
      assert.is(res.headers.location, files[index]);
      assert.is(res.body, '', 'never the bytes');
      const maxAge = Number(/max-age=(\d+)/.exec(String(res.headers['cache-control']))![1]);
      assert.ok(/^public, max-age=\d+$/.test(String(res.headers['cache-control'])), String(res.headers['cache-control']));
      const left = (urlExpiry(files[index]!)! - d.now() - REFRESH_MARGIN_MS) / 1000;
      assert.ok(maxAge > 0 && maxAge <= Math.min(left, 6 * 3600) + 1, `max-age ${maxAge} within the URL's life ${left}`);
    }
    assert.is(refreshes(d), before, 'Discord was not asked');
  });

  test('an expired URL: Discord is asked once for a fresh one, every later request (any process) uses the cached one', async (ctx) => {
    const { app, d, ids, files, t, redis, prefix } = ctx;
    d.advanceClock(DAY + 60_000);
    assert.is((await fetch(files[0]!)).status, 404, 'the stored URL no longer works');
    const before = refreshes(d);
    const res = await app.inject({ method: 'GET', url: `/media/${ids.withFiles}/0` });
    assert.is(res.statusCode, 302);
    const fresh = String(res.headers.location);
    assert.is.not(fresh, files[0]);
    const image = await fetch(fresh);
    assert.is(image.status, 200, 'the reader gets the image');
    assert.equal(Buffer.from(await image.arrayBuffer()), PNG);
    assert.is(refreshes(d), before + 1);
    const maxAge = Number(/max-age=(\d+)/.exec(String(res.headers['cache-control']))![1]);
    assert.ok(maxAge > 3600 && maxAge <= 6 * 3600, `cached for hours, not past the fresh URL's expiry (${maxAge})`);
    // A second web process (its own service, the same Redis) uses the refreshed URL without asking Discord.
    const other = createMediaService({
      db: t.db,
      log,
      discord: new RestDiscordPort(createRest({ discordApiUrl: d.restUrl, discordToken: d.token })),
      cache: redisMediaCache(redis, prefix),
      now: () => d.now(),
    });
    const again = await other.resolve(ids.withFiles, 0);
    assert.is(again?.url, fresh);
    const third = await app.inject({ method: 'GET', url: `/media/${ids.withFiles}/0` });
    assert.is(third.headers.location, fresh);
    assert.is(refreshes(d), before + 1, 'Discord asked only once');
    // Concurrent readers of another expired attachment share one refresh.
    const burst = await Promise.all(Array.from({ length: 5 }, () => app.inject({ method: 'GET', url: `/media/${ids.withFiles}/1` })));
    assert.equal(
      burst.map((r) => r.statusCode),
      [302, 302, 302, 302, 302],
    );
    assert.is(new Set(burst.map((r) => r.headers.location)).size, 1);
    assert.is(refreshes(d), before + 2, 'one refresh for the burst');
  });

  test('a reader whose cache read was slower than the first refresh and its write still shares that refresh (the burst race)', async ({ t, ids }) => {
    // A reads the cache (miss), refreshes and writes; B read the cache before A's write but its answer comes only after
    // A's refresh has ended. B must not ask Discord again.
    const clock = Date.now() + 3 * DAY;
    const hex = (ms: number) => Math.floor(ms / 1000).toString(16);
    let calls = 0;
    let refreshed!: () => void;
    const firstRefreshDone = new Promise<void>((resolve) => (refreshed = resolve));
    const discord = {
      refreshAttachmentUrls: async (urls: readonly string[]) => {
        calls += 1;
        const out = urls.map((original) => ({ original, refreshed: `https://cdn.example/f${calls}.png?ex=${hex(clock + DAY)}&` }));
        refreshed();
        return out;
      },
    };
    const store = new Map<string, string>();
    let reads = 0;
    const cache = {
      get: async (key: string) => {
        reads += 1;
        const value = store.get(key) ?? null;
        if (reads === 2 && value === null) {
          // A second read made before the first refresh's write answers late: after that refresh ended (a busy Redis, a
          // loaded machine).
          await firstRefreshDone;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        return value;
      },
      set: async (key: string, url: string) => void store.set(key, url),
    };
    const media = createMediaService({ db: t.db, log, discord, cache, now: () => clock });
    const both = await Promise.all([media.resolve(ids.withFiles, 1), media.resolve(ids.withFiles, 1)]);
    assert.is(both[0]?.url, both[1]?.url);
    assert.match(String(both[0]?.url), /^https:\/\/cdn\.example\/f1\.png/);
    assert.is(calls, 1, 'Discord asked once');
    const later = await media.resolve(ids.withFiles, 1);
    assert.is(later?.url, both[0]?.url, 'a later reader gets the cached URL');
    assert.is(calls, 1);
  });

  test('Discord failing to renew: 503 (unreachable, retry) or 502 (refused) JSON, not cached; the next try works', async ({ app, d, ids }) => {
    d.advanceClock(DAY);
    d.failNext('POST /attachments/refresh-urls', { status: 500, times: 10 });
    const down = await app.inject({ method: 'GET', url: `/media/${ids.withFiles}/0` });
    assert.is(down.statusCode, 503);
    assert.is(down.headers['cache-control'], 'no-store');
    assert.ok(down.headers['retry-after']);
    assert.is(down.json().error.code, 'media_unavailable');
    d.rest.failures.length = 0;
    d.failNext('POST /attachments/refresh-urls', { status: 403 });
    const refused = await app.inject({ method: 'GET', url: `/media/${ids.withFiles}/0` });
    assert.is(refused.statusCode, 502);
    assert.is(refused.json().error.code, 'media_refresh_failed');
    const ok = await app.inject({ method: 'GET', url: `/media/${ids.withFiles}/0` });
    assert.is(ok.statusCode, 302, 'nothing lost: the next request renews it');
    assert.is((await fetch(String(ok.headers.location))).status, 200);
  });

  test('a process without DISCORD_TOKEN: an expired link is a 503 naming why; a valid one still redirects', async ({ t, d, ids, redis }) => {
    const media = createMediaService({
      db: t.db,
      log,
      discord: null,
      cache: redisMediaCache(redis, `tmedia${randomBytes(4).toString('hex')}`),
      now: () => d.now(),
    });
    const error = await media.resolve(ids.withFiles, 0).catch((e: unknown) => e);
    assert.instance(error, MediaUnavailableError);
    assert.is((error as MediaUnavailableError).status, 503);
    assert.match((error as Error).message, /cannot ask Discord/);
    const early = createMediaService({ db: t.db, log, discord: null, cache: redisMediaCache(redis, 'unused'), now: () => 0 });
    assert.ok((await early.resolve(ids.withFiles, 0))?.url.includes('?ex='), 'before its expiry the stored link needs no Discord');
  });

  test('404 for what the web may not show: deleted, hidden author, bad index, unknown id, a feed off the web', async ({ app, t, ids, seed }) => {
    for (const url of [`/media/${ids.deleted}/0`, `/media/${ids.hiddenAuthor}/0`, `/media/${ids.withFiles}/2`, `/media/${snowflake()}/0`]) {
      const res = await app.inject({ method: 'GET', url });
      assert.is(res.statusCode, 404, url);
      assert.is(res.json().error.code, 'media_not_found');
      assert.is(res.headers['cache-control'], 'no-store');
    }
    for (const url of ['/media/abc/0', `/media/${ids.withFiles}/-1`, `/media/${ids.withFiles}/x`]) {
      assert.is((await app.inject({ method: 'GET', url })).statusCode, 400, url);
    }
    await setFeedWeb(t.db, seed.post.feedId, false);
    const off = await app.inject({ method: 'GET', url: `/media/${ids.withFiles}/0` });
    assert.is(off.statusCode, 404, 'the server took the feed off the web');
    await setFeedWeb(t.db, seed.post.feedId, true);
  });

  test.run();
}
