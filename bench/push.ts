// Push (issue 19): from a WebSub hub's signed delivery to the announcement. The bot runs as in production
// (`blogcord start` from dist/, its HTTP API under PUBLIC_URL) against the Discord emulator, the local WebSub hub
// (test/support/websub-hub.ts) and a feed server that never changes (polling is slow, 600 s: whatever is announced
// came by push). BENCH_PUSH_DELIVERIES deliveries (default 50), one after another, each the feed with one new item:
//   accept    the hub's POST at the callback answered (signature checked, job queued)
//   announce  the emulator has the announcement message (its POST /channels/:id/messages)
//   complete  the thread and the five rating reactions are there too
// Beside them the floor: the pipeline's fixed part, two BullMQ hops (the delivery job, then the publish job) measured
// alone on the same Redis. The emulator applies no rate limits of its own, so Discord's add nothing here.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue, Worker } from 'bullmq';
import type { APIMessage } from 'discord-api-types/v10';
import { commands } from '../commands/index.ts';
import { commandDefinitions } from '../src/discord/definitions.ts';
import { KEYCAPS } from '../src/domain/rating.ts';
import { createProducerRedis, createRedis } from '../src/redis.ts';
import { startDiscordEmulator } from '../emulator/index.ts';
import { REDIS_URL, startBot } from '../test/support/bot.ts';
import { createPgSchema } from '../test/support/db.ts';
import { feedItem, rss, startFeedServer } from '../test/support/feed-server.ts';
import { freePort } from '../test/support/services.ts';
import { startWebSubHub } from '../test/support/websub-hub.ts';
import { percentile, report } from './figures.ts';

/** The promise, "a new post in Discord seconds after the blog publishes it", held as p95 ≤ 2 s. */
const TARGET_MS = 2000;

export async function benchPush(dialect: 'sqlite' | 'postgres', deliveries = 50): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'blogcord-push-bench-'));
  const schema = dialect === 'postgres' ? await createPgSchema() : null;
  const url = schema?.url ?? `sqlite:${join(dir, 'push.sqlite')}`;
  const feeds = await startFeedServer({ items: [feedItem(1)] });
  const hub = await startWebSubHub({ maxLeaseSeconds: 3600 });
  feeds.hub = hub.url;
  const discord = await startDiscordEmulator({
    guilds: [{ name: 'blog', channels: [{ name: 'posts' }, { name: 'general' }] }],
    users: [{ username: 'admin', manageGuild: true }],
    recordRequests: false,
  });
  discord.registerCommands(commandDefinitions(commands), { guild: 'blog' });
  try {
    const port = await freePort();
    const bot = await startBot({
      discord,
      databaseUrl: url,
      // The HTTP API listens before the gateway connects: READY means the callback answers.
      readyPattern: null,
      env: {
        LOG_LEVEL: process.env.BENCH_BOT_LOG_LEVEL ?? 'warn',
        FEED_POLL_INTERVAL_SECONDS: '600',
        HTTP_PORT: String(port),
        PUBLIC_URL: `http://127.0.0.1:${port}`,
        HTTP_RATE_LIMIT: '0',
      },
    });
    await discord.waitForReady({ timeout: 120_000 });
    const topic = feeds.url('/rss');
    const added = await discord.runCommand('admin', 'general', 'feed', { subcommand: 'add', options: { url: topic, channel: 'posts' }, timeout: 30_000 });
    if (!/Now following/.test(added.content)) throw new Error(`/feed add failed: ${added.content}`);
    await hub.waitFor((log) => log.some((e) => e.kind === 'verified' && e.mode === 'subscribe'), 30_000);

    const complete = (m: APIMessage) => {
      try {
        discord.thread(m.id);
      } catch {
        return false;
      }
      return KEYCAPS.every((e) => discord.reactions(m.id).get(e)?.includes(discord.botUser.id));
    };
    const accept: number[] = [];
    const announce: number[] = [];
    const done: number[] = [];
    const items = [feedItem(1)];
    // One warm-up delivery (first parse, first publish job, JIT), not counted.
    for (let i = -1; i < deliveries; i++) {
      const n = i + 3;
      items.unshift(feedItem(n));
      const body = rss('The Bench Blog', items.slice(0, 5));
      const title = `Post number ${n}`;
      const seen = discord.waitForMessage((m) => m.embeds?.[0]?.title === title, { includeExisting: false, timeout: 60_000 });
      const t0 = performance.now();
      const statuses = await hub.publish(topic, body);
      const accepted = performance.now();
      if (statuses.join() !== '202') throw new Error(`delivery ${n}: the callback answered ${statuses.join()}`);
      const message = await seen;
      const announced = performance.now();
      const deadline = Date.now() + 60_000;
      while (!complete(discord.message(message.id) ?? message)) {
        if (Date.now() > deadline) throw new Error(`delivery ${n}: no thread and reactions within 60 s`);
        await new Promise((r) => setTimeout(r, 2));
      }
      const completed = performance.now();
      if (i < 0) continue;
      accept.push(accepted - t0);
      announce.push(announced - t0);
      done.push(completed - t0);
    }
    const announcements = discord.messages('posts').filter((m) => m.author.id === discord.botUser.id && (m.embeds?.length ?? 0) > 0);
    if (announcements.length !== deliveries + 1) throw new Error(`${deliveries + 1} deliveries, ${announcements.length} announcements`);
    await bot.stop();

    const note = `${deliveries} deliveries one after another, each the feed with one new item`;
    report({
      name: `push.${dialect}.accept.p50`,
      value: percentile(accept, 50),
      unit: 'ms',
      note: 'the hub POST answered 202 (signature checked, job queued)',
    });
    report({ name: `push.${dialect}.announce.p50`, value: percentile(announce, 50), unit: 'ms', note });
    report({
      name: `push.${dialect}.announce.p95`,
      value: percentile(announce, 95),
      unit: 'ms',
      target: { op: '<=', value: TARGET_MS },
      note: `delivery → announcement message in the emulator; load average ${loadavg()[0]!.toFixed(1)} at the end`,
    });
    report({ name: `push.${dialect}.complete.p50`, value: percentile(done, 50), unit: 'ms' });
    report({ name: `push.${dialect}.complete.p95`, value: percentile(done, 95), unit: 'ms', note: 'delivery → thread and five reactions' });
  } finally {
    await discord.stop();
    await hub.close();
    await feeds.close();
    await schema?.drop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The floor: two BullMQ hops in a row, as a pushed item makes them (the delivery job adds the publish job), with
 * processors that do nothing else: add → first processor → add → second processor running.
 */
export async function benchQueueHop(chains = 100): Promise<void> {
  const prefix = `bench${randomBytes(4).toString('hex')}`;
  const producer = createProducerRedis(REDIS_URL);
  const connection = createRedis(REDIS_URL);
  const queue = new Queue('hop', { connection: producer, prefix });
  const waiters = new Map<string, (at: number) => void>();
  const worker = new Worker(
    'hop',
    async (job) => {
      if (job.name === 'first') await queue.add('second', {}, { jobId: `${job.id}b`, removeOnComplete: true });
      else waiters.get(job.id!.slice(0, -1))?.(performance.now());
    },
    { connection, prefix, concurrency: 4 },
  );
  try {
    await worker.waitUntilReady();
    const two: number[] = [];
    for (let i = -5; i < chains; i++) {
      const id = `c${i + 5}`;
      const ran = new Promise<number>((r) => waiters.set(id, r));
      const t0 = performance.now();
      await queue.add('first', {}, { jobId: id, removeOnComplete: true });
      const at = await ran;
      if (i >= 0) two.push(at - t0);
    }
    report({
      name: 'push.floor.two_hops.p50',
      value: percentile(two, 50),
      unit: 'ms',
      note: `the fixed part of delivery → announcement: two BullMQ hops in a row (delivery job, publish job), ${chains} chains; load average ${loadavg()[0]!.toFixed(1)}`,
    });
    report({ name: 'push.floor.two_hops.p95', value: percentile(two, 95), unit: 'ms' });
  } finally {
    await worker.close();
    await queue.obliterate({ force: true }).catch(() => {});
    await queue.close();
    await connection.quit();
    await producer.quit();
  }
}
