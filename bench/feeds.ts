// Feeds: 1,000 feeds served locally, polled once (full download and parse), then again with conditional GET.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../src/config.ts';
import { createDb } from '../src/db/index.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { feedsWorker } from '../src/jobs/feeds.ts';
import { createLogger } from '../src/logger.ts';
import { upsertFeed } from '../src/repositories/feeds.ts';
import type { DiscordPort } from '../src/services/discord-port.ts';
import { pollFeed } from '../src/services/feed-poll.ts';
import { type FeedJobs } from '../src/services/feed-source.ts';
import { report } from './figures.ts';

function rss(n: number): string {
  const items = Array.from({ length: 10 }, (_, i) => {
    const id = `${n}-${i}`;
    return `<item><title>Post ${id}: on feeds &amp; things</title><link>https://blog${n}.example/p/${i}</link><guid>https://blog${n}.example/p/${i}</guid><pubDate>${new Date(Date.UTC(2026, 10, 1 + i)).toUTCString()}</pubDate><description><![CDATA[<p>Paragraph with a <a href="https://x.example">link</a> and <b>bold</b> text for post ${id}.</p>]]></description></item>`;
  }).join('');
  return `<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Blog ${n}</title><link>https://blog${n}.example/</link>${items}</channel></rss>`;
}

async function pool<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

export async function benchFeeds(count = 1000): Promise<void> {
  const bodies = new Map<number, string>();
  let notModified = 0;
  const server: Server = createServer((req, res) => {
    const n = Number(/\/feed\/(\d+)/.exec(req.url ?? '')?.[1]);
    const body = bodies.get(n) ?? (bodies.set(n, rss(n)), bodies.get(n)!);
    const etag = `"v1-${n}"`;
    if (req.headers['if-none-match'] === etag) {
      notModified++;
      res.writeHead(304, { etag }).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/rss+xml; charset=utf-8', etag }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const config = loadConfig({ FEED_ALLOW_PRIVATE_NETWORK: 'true' }, { dotenv: false });
  const db = createDb({ databaseUrl: 'sqlite::memory:' });
  const refuse = () => Promise.reject(new Error('the feeds benchmark posts nothing to Discord'));
  const discord = new Proxy({}, { get: () => refuse }) as unknown as DiscordPort;
  let published = 0;
  const jobs: FeedJobs = {
    enqueuePublish: async () => void published++,
    schedulePolls: async () => {},
    unschedulePolls: async () => {},
    refreshAnnouncement: async () => {},
    requestPoll: async () => {},
    enqueuePushDelivery: async () => {},
    schedulePushMaintenance: async () => {},
    unschedulePushMaintenance: async () => {},
  };
  const ctx = { db, discord, log: createLogger('silent'), config };
  try {
    await migrateToLatest(db);
    const ids: string[] = [];
    for (let n = 0; n < count; n++)
      ids.push((await upsertFeed(db, { guildId: '900000000000000001', url: `http://127.0.0.1:${port}/feed/${n}`, channelId: '900000000000000002' })).feed.id);
    const concurrency = Number(process.env.BENCH_FEED_CONCURRENCY ?? feedsWorker.concurrency * 4);
    let s = performance.now();
    await pool(ids, concurrency, (id) => pollFeed({ ...ctx, jobs: jobs }, id, { force: true }));
    const first = (performance.now() - s) / 1000;
    report({
      name: 'feeds.first_poll',
      value: count / first,
      unit: 'feeds/s',
      note: `${count} feeds × 10 items downloaded, parsed and stored in ${first.toFixed(2)} s, concurrency ${concurrency}`,
    });
    s = performance.now();
    await pool(ids, concurrency, (id) => pollFeed({ ...ctx, jobs: jobs }, id, { force: true }));
    const second = (performance.now() - s) / 1000;
    report({ name: 'feeds.conditional_poll', value: count / second, unit: 'feeds/s', note: `${notModified} answered 304` });
    report({ name: 'feeds.conditional_poll_1000_seconds', value: second * (1000 / count), unit: 's', target: { op: '<=', value: 60 } });
  } finally {
    await db.destroy();
    await new Promise((r) => server.close(r));
  }
}
