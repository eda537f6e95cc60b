// Push through `blogcord web` (issue 19 with the split roles of docs/operations.md): when blog traffic goes to web
// processes, hubs and publish hooks reach them too. A `web` process with PUBLIC_URL answers the hub's verification,
// takes signed deliveries and hook calls into the queues, and a `worker` process announces them, once each
// (test/web-process.test.ts: a web process that took no push request writes nothing to the queues). PostgreSQL.
// Run alone: npx tsx test/push-web.test.ts
import type { APIMessage } from 'discord-api-types/v10';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/logger.ts';
import { createRedis } from '../../src/redis.ts';
import { upsertFeed, type Feed } from '../../src/repositories/feeds.ts';
import { getPushSubscription } from '../../src/repositories/push.ts';
import { ensureHookToken, syncPush } from '../../src/services/push.ts';
import { startDiscordEmulator, type DiscordEmulator } from '../../emulator/index.ts';
import { eventually } from '../support/assert.ts';
import { newQueuePrefix, REDIS_URL, startBot, stopAllBots } from '../support/bot.ts';
import { createTestDb, type TestDb } from '../support/db.ts';
import { FakeDiscord, FakeJobs } from '../support/fakes.ts';
import { feedItem, rss, startFeedServer, type FeedServer } from '../support/feed-server.ts';
import { freePort } from '../support/services.ts';
import { startWebSubHub, type WebSubHub } from '../support/websub-hub.ts';

interface Ctx {
  t: TestDb;
  discord: DiscordEmulator;
  feeds: FeedServer;
  hub: WebSubHub;
  redis: ReturnType<typeof createRedis>;
  prefix: string;
  base: string;
  feed: Feed;
}

const test = suite<Ctx>('push through blogcord web (PostgreSQL)', {} as Ctx);

test.before(async (ctx) => {
  ctx.t = await createTestDb('postgres');
  ctx.feeds = await startFeedServer({ items: [] });
  ctx.hub = await startWebSubHub({ maxLeaseSeconds: 3600 });
  ctx.feeds.hub = ctx.hub.url;
  ctx.discord = await startDiscordEmulator({ guilds: [{ name: 'blog', channels: [{ name: 'posts' }] }], users: [{ username: 'alice' }] });
  ctx.redis = createRedis(REDIS_URL, { maxRetriesPerRequest: 3 });
  ctx.prefix = newQueuePrefix();
  const port = await freePort();
  ctx.base = `http://127.0.0.1:${port}`;
  const env = { FEED_POLL_INTERVAL_SECONDS: '600', FEED_TIMEOUT_SECONDS: '5', PUBLIC_URL: ctx.base };
  await startBot({ discord: ctx.discord, databaseUrl: ctx.t.url, role: 'web', queuePrefix: ctx.prefix, env: { ...env, HTTP_PORT: String(port) } });
  await startBot({ discord: ctx.discord, databaseUrl: ctx.t.url, role: 'worker', queuePrefix: ctx.prefix, env, readyTimeoutMs: 60_000 });
  ctx.feed = (
    await upsertFeed(ctx.t.db, { guildId: ctx.discord.guild('blog').id, url: ctx.feeds.url('/rss'), channelId: ctx.discord.channel('posts').id })
  ).feed;
});

test.after(async (ctx) => {
  await stopAllBots();
  await ctx.discord?.stop();
  await ctx.hub?.close();
  await ctx.feeds?.close();
  await ctx.t?.close();
  if (ctx.redis) {
    const keys = await ctx.redis.keys(`${ctx.prefix}:*`);
    if (keys.length) await ctx.redis.del(...keys);
    await ctx.redis.quit();
  }
});

const titled = (ctx: Ctx, n: number): APIMessage[] =>
  ctx.discord.messages('posts').filter((m) => m.author.id === ctx.discord.botUser.id && m.embeds?.[0]?.title === `Post number ${n}`);

test('the web process answers the hub verification: push is active', async (ctx) => {
  const config = loadConfig({ FEED_ALLOW_PRIVATE_NETWORK: 'true', PUBLIC_URL: ctx.base }, { dotenv: false });
  const sub = await syncPush({ db: ctx.t.db, config, log: createLogger('silent'), jobs: new FakeJobs(), discord: new FakeDiscord() }, ctx.feed.id, {
    hubs: [ctx.hub.url],
    self: null,
  });
  assert.ok(sub);
  await ctx.hub.waitFor((log) => log.some((e) => e.kind === 'verified' && e.mode === 'subscribe'), 10_000);
  assert.is((await getPushSubscription(ctx.t.db, ctx.feed.id))!.state, 'active');
});

test('a delivery and a replay through the web process: one announcement by the worker', async (ctx) => {
  const body = rss('The Test Blog', [feedItem(3)]);
  assert.equal(await ctx.hub.publish(ctx.feeds.url('/rss'), body), [202]);
  assert.equal(await ctx.hub.publish(ctx.feeds.url('/rss'), body, { signWith: 'sha1' }), [202]);
  await eventually(() => titled(ctx, 3).length >= 1, { timeout: 20_000, message: 'the pushed post announced' });
  await new Promise((r) => setTimeout(r, 1500));
  assert.is(titled(ctx, 3).length, 1);
});

test('the publish hook through the web process: the worker polls and announces once; a second call is 429', async (ctx) => {
  ctx.feeds.items.unshift(feedItem(4));
  const token = await ensureHookToken({ db: ctx.t.db }, ctx.feed.id);
  const call = () => fetch(`${ctx.base}/hooks/feeds/${token}`, { method: 'POST' }).then((r) => r.status);
  assert.equal((await Promise.all([call(), call()])).sort(), [202, 429]);
  await eventually(() => titled(ctx, 4).length >= 1, { timeout: 20_000, message: 'the hooked post announced' });
  await new Promise((r) => setTimeout(r, 1500));
  assert.is(titled(ctx, 4).length, 1);
  assert.is(titled(ctx, 3).length, 1);
});

test.run();
