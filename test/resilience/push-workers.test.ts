// Issue 19 "two worker processes deliver each item once": two `blogcord start` processes (gateway shards 0 and 1 of
// 2, each with its workers and its HTTP API) on one PostgreSQL schema and one queue prefix, against the Discord
// emulator and the local WebSub hub. The hub calls the first (PUBLIC_URL); the test sends the same and overlapping
// signed deliveries to both at once, replays, and calls the publish hook of both at once while a delivery of the
// same item arrives: every item is announced exactly once (counted in the emulator).
// PostgreSQL only: several processes need it (docs/operations.md; SQLite is one file for one process).
// Run alone: npx tsx test/push-workers.test.ts
import { createHmac } from 'node:crypto';
import type { APIMessage } from 'discord-api-types/v10';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { commands } from '../../commands/index.ts';
import { commandDefinitions } from '../../src/discord/definitions.ts';
import { KEYCAPS } from '../../src/domain/rating.ts';
import { createRedis } from '../../src/redis.ts';
import { getFeedHook, getPushSubscription, type PushSubscription } from '../../src/repositories/push.ts';
import { listFeeds } from '../../src/repositories/feeds.ts';
import { startDiscordEmulator, type DiscordEmulator } from '../../emulator/index.ts';
import { eventually } from '../support/assert.ts';
import { newQueuePrefix, REDIS_URL, startBot, stopAllBots, type BotProcess } from '../support/bot.ts';
import { createTestDb, type TestDb } from '../support/db.ts';
import { feedItem, rss, startFeedServer, type FeedServer, type TestFeedItem } from '../support/feed-server.ts';
import { freePort } from '../support/services.ts';
import { startWebSubHub, type WebSubHub } from '../support/websub-hub.ts';

interface Ctx {
  t: TestDb;
  discord: DiscordEmulator;
  feeds: FeedServer;
  hub: WebSubHub;
  prefix: string;
  bases: string[];
  bots: BotProcess[];
  sub: PushSubscription;
}

const test = suite<Ctx>('push: two worker processes on PostgreSQL announce each item once', {} as Ctx);

test.before(async (ctx) => {
  ctx.t = await createTestDb('postgres');
  ctx.feeds = await startFeedServer({ items: [2, 1].map((n) => feedItem(n)) });
  ctx.hub = await startWebSubHub({ maxLeaseSeconds: 3600 });
  ctx.feeds.hub = ctx.hub.url;
  ctx.discord = await startDiscordEmulator({
    guilds: [{ name: 'blog', channels: [{ name: 'posts' }, { name: 'general' }] }],
    users: [{ username: 'admin', manageGuild: true }],
  });
  ctx.discord.registerCommands(commandDefinitions(commands), { guild: 'blog' });
  ctx.prefix = newQueuePrefix();
  const ports = [await freePort(), await freePort()];
  ctx.bases = ports.map((p) => `http://127.0.0.1:${p}`);
  // Polling is slow: whatever is announced came by push or by the hook.
  const env = { FEED_POLL_INTERVAL_SECONDS: '600', FEED_TIMEOUT_SECONDS: '5', SYNC_INTERVAL_SECONDS: '3600', RECOUNT_INTERVAL_SECONDS: '3600' };
  ctx.bots = [];
  for (const [shard, port] of ports.entries()) {
    ctx.bots.push(
      await startBot({
        discord: ctx.discord,
        databaseUrl: ctx.t.url,
        queuePrefix: ctx.prefix,
        readyTimeoutMs: 120_000,
        env: { ...env, SHARD_IDS: String(shard), SHARD_COUNT: '2', HTTP_PORT: String(port), PUBLIC_URL: ctx.bases[0]! },
      }),
    );
  }
  await ctx.discord.waitForReady({ shards: 2, timeout: 30_000 });
});

test.after(async (ctx) => {
  await stopAllBots();
  await ctx.discord?.stop();
  await ctx.hub?.close();
  await ctx.feeds?.close();
  await ctx.t?.close();
  const redis = createRedis(REDIS_URL, { maxRetriesPerRequest: 3 });
  const keys = ctx.prefix ? await redis.keys(`${ctx.prefix}:*`) : [];
  if (keys.length) await redis.del(...keys);
  await redis.quit();
});

const topic = (ctx: Ctx) => ctx.feeds.url('/rss');
const announcements = (ctx: Ctx): APIMessage[] =>
  ctx.discord.messages('posts').filter((m) => m.author.id === ctx.discord.botUser.id && (m.embeds?.length ?? 0) > 0);
const titled = (ctx: Ctx, n: number) => announcements(ctx).filter((m) => m.embeds[0]?.title === `Post number ${n}`);
const complete = (ctx: Ctx, m: APIMessage) => {
  try {
    ctx.discord.thread(m.id);
  } catch {
    return false;
  }
  return KEYCAPS.every((e) => ctx.discord.reactions(m.id).get(e)?.includes(ctx.discord.botUser.id));
};

/** A content distribution as the hub sends it, straight to one process's callback. */
async function deliver(ctx: Ctx, base: string, items: TestFeedItem[]): Promise<number> {
  const body = rss('The Test Blog', items);
  const res = await fetch(`${base}/websub/${ctx.sub.callbackId}`, {
    method: 'POST',
    headers: { 'content-type': 'application/rss+xml', 'x-hub-signature': `sha256=${createHmac('sha256', ctx.sub.secret).update(body).digest('hex')}` },
    body,
  });
  await res.text();
  return res.status;
}

/** Every listed item has exactly one complete announcement, and nothing else is announced (also a little later). */
async function assertAnnouncedOnce(ctx: Ctx, numbers: number[]) {
  await eventually(() => numbers.every((n) => titled(ctx, n).length >= 1 && complete(ctx, titled(ctx, n)[0]!)), {
    timeout: 30_000,
    message: `posts ${numbers.join(', ')} announced (have ${announcements(ctx).map((m) => m.embeds[0]?.title)})`,
  });
  await new Promise((r) => setTimeout(r, 2000));
  for (const n of numbers) assert.is(titled(ctx, n).length, 1, `post ${n} announced exactly once`);
  assert.is(announcements(ctx).length, numbers.length, `only ${numbers.length} announcements`);
  for (const m of announcements(ctx)) {
    for (const e of KEYCAPS) assert.equal(ctx.discord.reactions(m.id).get(e), [ctx.discord.botUser.id], `one ${e} by the bot on ${m.embeds[0]?.title}`);
  }
}

test('the feed is added once and subscribed once', async (ctx) => {
  const res = await ctx.discord.runCommand('admin', 'general', 'feed', { subcommand: 'add', options: { url: topic(ctx), channel: 'posts' }, timeout: 20_000 });
  assert.match(res.content, /Now following/);
  await ctx.hub.waitFor((log) => log.some((e) => e.kind === 'verified' && e.mode === 'subscribe'), 20_000);
  const [feed] = await listFeeds(ctx.t.db);
  ctx.sub = (await getPushSubscription(ctx.t.db, feed!.id))!;
  assert.is(ctx.sub.state, 'active');
  assert.is(ctx.hub.log.filter((e) => e.kind === 'request').length, 1, 'one subscription request');
  assert.is(announcements(ctx).length, 0, 'no backfill');
});

test('the hub delivers to one process and replays to both: one announcement', async (ctx) => {
  const items = [feedItem(3), ...ctx.feeds.items];
  assert.equal(await ctx.hub.publish(topic(ctx), rss('The Test Blog', items)), [202]);
  const replays = await Promise.all([deliver(ctx, ctx.bases[1]!, items), deliver(ctx, ctx.bases[0]!, items), deliver(ctx, ctx.bases[1]!, items)]);
  assert.equal(replays, [202, 202, 202]);
  await assertAnnouncedOnce(ctx, [3]);
});

test('different deliveries of the same new item to both processes at once: one announcement', async (ctx) => {
  // Different bytes (so different delivery jobs), the same new item, processed concurrently by both workers.
  const a = [feedItem(4), feedItem(3), ...ctx.feeds.items];
  const b = [feedItem(4)];
  const c = [feedItem(4), feedItem(3)];
  const statuses = await Promise.all([
    deliver(ctx, ctx.bases[0]!, a),
    deliver(ctx, ctx.bases[1]!, b),
    deliver(ctx, ctx.bases[1]!, c),
    deliver(ctx, ctx.bases[0]!, b),
    deliver(ctx, ctx.bases[1]!, a),
    deliver(ctx, ctx.bases[0]!, c),
  ]);
  assert.equal(statuses, [202, 202, 202, 202, 202, 202]);
  await assertAnnouncedOnce(ctx, [3, 4]);
});

test('the publish hook called on both processes at once while a delivery of the same item arrives: one announcement', async (ctx) => {
  ctx.feeds.items.unshift(feedItem(5));
  const hook = (await getFeedHook(ctx.t.db, ctx.sub.feedId))!;
  const call = (base: string) => fetch(`${base}/hooks/feeds/${hook.token}`, { method: 'POST' }).then((r) => r.status);
  const [h0, h1, d0, d1] = await Promise.all([
    call(ctx.bases[0]!),
    call(ctx.bases[1]!),
    deliver(ctx, ctx.bases[0]!, [feedItem(5)]),
    deliver(ctx, ctx.bases[1]!, [feedItem(5), feedItem(4)]),
  ]);
  assert.equal([h0, h1].sort(), [202, 429], 'one hook call accepted, the other rate-limited (one poll per feed)');
  assert.equal([d0, d1], [202, 202]);
  await assertAnnouncedOnce(ctx, [3, 4, 5]);
  for (const bot of ctx.bots) assert.not.match(bot.output(), /"level":(50|60)/, 'no error logged');
});

test.run();
