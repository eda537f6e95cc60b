// Issue 19 with issue 14's sweep: a FLUSHDB (or an eviction, or a failover to a replica that lagged) takes every job
// scheduler while the connection stays up. The watchdog registers the production list of schedulers again, and the
// WebSub maintenance schedulers (`push-<feed>`: renewal, lapse, retries) and the safety-net poll interval come back
// from the subscriptions in the database: one per subscription not ended, none for an ended one. A push scheduler
// evicted alone (the sweep's kept, so the watchdog sees nothing) is registered again by the sweep. And the delivery
// queue keeps no delivery body (up to FEED_MAX_BYTES) once it is processed, only the key that stops a replay.
// Real Redis (this run's own key prefix, never FLUSHDB on the shared server), both databases.
// Run alone: npx tsx test/push-schedulers.test.ts
import { randomBytes } from 'node:crypto';
import { Worker } from 'bullmq';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfig, type Config } from '../../src/config.ts';
import type { AppContext } from '../../src/context.ts';
import { pollSchedulerId, pushSchedulerId } from '../../src/jobs/feeds.ts';
import { schedulers } from '../../src/jobs/index.ts';
import { createJobs } from '../../src/jobs/port.ts';
import { closeQueues, createQueues, jobId, type Queues } from '../../src/jobs/queues.ts';
import { SWEEP_SCHEDULER_ID, sweepStrandedWork, watchSchedulers } from '../../src/jobs/sweep.ts';
import { registerSchedulers } from '../../src/jobs/worker.ts';
import { createLogger } from '../../src/logger.ts';
import { createProducerRedis, createRedis } from '../../src/redis.ts';
import { upsertFeed, type Feed } from '../../src/repositories/feeds.ts';
import { stableId } from '../../src/repositories/ids.ts';
import { savePushRequest, updatePushSubscription } from '../../src/repositories/push.ts';
import { maintenanceEverySeconds } from '../../src/services/push.ts';
import { eventually } from '../support/assert.ts';
import { REDIS_URL } from '../support/bot.ts';
import { createTestDb, DIALECTS, type TestDb } from '../support/db.ts';
import { FakeDiscord } from '../support/fakes.ts';
import { snowflake } from '../support/snowflake.ts';

interface Ctx {
  t: TestDb;
  redis: ReturnType<typeof createProducerRedis>;
  prefix: string;
  queues: Queues;
  config: Config;
  app: AppContext;
  lines: string[];
  watchdog: { stop(): void } | null;
  /** active (lease running), pending (asked, not verified), denied, ended */
  feeds: Record<'active' | 'pending' | 'denied' | 'ended', Feed>;
}

async function dropKeys(redis: Ctx['redis'], pattern: string): Promise<number> {
  let cursor = '0';
  let dropped = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
    cursor = next;
    if (keys.length) dropped += await redis.del(...keys);
  } while (cursor !== '0');
  return dropped;
}

const LEASE = 4000;

/** How many job hashes of push deliveries (each with its body) this run's feeds queue holds. */
const deliveryHashes = (c: Ctx) =>
  c.redis.eval(
    "local n = 0 for _, k in ipairs(redis.call('KEYS', ARGV[1])) do if redis.call('TYPE', k).ok == 'hash' and redis.call('HGET', k, 'name') == 'push-delivery' then n = n + 1 end end return n",
    0,
    `${c.prefix}:feeds:*`,
  );

for (const dialect of DIALECTS) {
  const test = suite<Ctx>(`push schedulers after Redis lost them (${dialect})`, {} as Ctx);

  test.before(async (c) => {
    c.t = await createTestDb(dialect);
    c.redis = createProducerRedis(REDIS_URL);
    c.prefix = `t${randomBytes(5).toString('hex')}`;
    c.queues = createQueues(c.redis, c.prefix);
    c.lines = [];
    c.watchdog = null;
    const log = createLogger('info', { write: (line: string) => void c.lines.push(line) });
    c.config = loadConfig(
      {
        SWEEP_INTERVAL_SECONDS: '1',
        QUEUE_PREFIX: c.prefix,
        PUBLIC_URL: 'https://blogcord.example.com',
        FEED_POLL_INTERVAL_SECONDS: '600',
        FEED_PUSH_POLL_INTERVAL_SECONDS: '3600',
      },
      { dotenv: false },
    );
    const base = { db: c.t.db, log, config: c.config, queues: c.queues };
    c.app = { ...base, jobs: createJobs(base), discord: new FakeDiscord(), version: 'test', redisHealth: async () => {} } as unknown as AppContext;
    const guildId = snowflake();
    const feed = async (name: string) => (await upsertFeed(c.t.db, { guildId, url: `https://${name}.example/feed`, channelId: snowflake() })).feed;
    c.feeds = { active: await feed('active'), pending: await feed('pending'), denied: await feed('denied'), ended: await feed('ended') };
    for (const [state, f] of Object.entries(c.feeds)) {
      await savePushRequest(c.t.db, {
        feedId: f.id,
        hubUrl: 'https://hub.example/',
        topicUrl: f.url,
        callbackId: randomBytes(24).toString('base64url'),
        secret: 'secret',
        leaseSeconds: LEASE,
        attempts: 1,
      });
      const now = Date.now();
      if (state === 'active') {
        await updatePushSubscription(c.t.db, f.id, {
          state: 'active',
          pendingMode: null,
          leaseExpiresAt: new Date(now + LEASE * 1000).toISOString(),
          verifiedAt: new Date(now).toISOString(),
        });
      }
      if (state === 'denied')
        await updatePushSubscription(c.t.db, f.id, { state: 'denied', pendingMode: null, nextAttemptAt: new Date(now + 60_000).toISOString() });
      if (state === 'ended') await updatePushSubscription(c.t.db, f.id, { state: 'unsubscribed', pendingMode: null });
    }
  });

  test.after(async (c) => {
    c.watchdog?.stop();
    if (c.queues) {
      for (const q of Object.values(c.queues)) await q.obliterate({ force: true }).catch(() => {});
      await closeQueues(c.queues);
    }
    await c.redis?.quit();
    await c.t?.close();
  });

  const every = async (c: Ctx, id: string) => (await c.queues.feeds.getJobScheduler(id))?.every;

  async function assertPushSchedulers(c: Ctx) {
    const everyMs = maintenanceEverySeconds({ leaseSeconds: LEASE }) * 1000;
    for (const state of ['active', 'pending', 'denied'] as const) {
      assert.is(await every(c, pushSchedulerId(c.feeds[state].id)), everyMs, `the ${state} subscription's maintenance`);
    }
    assert.is(await c.queues.feeds.getJobScheduler(pushSchedulerId(c.feeds.ended.id)), undefined, 'none for an ended subscription');
    assert.is(await every(c, pollSchedulerId(c.feeds.active.id)), 3600_000, 'an active subscription keeps the safety-net poll interval');
    for (const state of ['pending', 'denied', 'ended'] as const) {
      assert.is(await every(c, pollSchedulerId(c.feeds[state].id)), 600_000, `the ${state} one is polled at the normal interval`);
    }
  }

  test('GIVEN the production schedulers registered THEN each push subscription not ended has its maintenance scheduler', async (c) => {
    await registerSchedulers(c.app, schedulers);
    await assertPushSchedulers(c);
  });

  test('GIVEN a FLUSHDB (connection up) THEN the watchdog brings back the push maintenance and the safety-net interval', async (c) => {
    assert.ok((await dropKeys(c.redis, `${c.prefix}:*`)) > 0);
    assert.is(await c.queues.feeds.getJobScheduler(pushSchedulerId(c.feeds.active.id)), undefined, 'the push scheduler is gone');
    assert.is(await c.queues.sweep.getJobScheduler(SWEEP_SCHEDULER_ID), undefined, 'so is the sweep scheduler the watchdog looks at');
    c.lines.length = 0;
    c.watchdog = watchSchedulers(c.app, schedulers);
    await eventually(async () => (await c.queues.feeds.getJobScheduler(pushSchedulerId(c.feeds.active.id))) !== undefined, {
      timeout: 15_000,
      message: 'the push maintenance scheduler registered again',
    });
    await eventually(async () => (await c.queues.sweep.getJobScheduler(SWEEP_SCHEDULER_ID)) !== undefined, { timeout: 5000, message: 'the sweep too' });
    await assertPushSchedulers(c);
    const logged = c.lines.map((l) => JSON.parse(l) as { msg: string; subscriptions?: number });
    assert.ok(logged.some((l) => /job schedulers are gone from Redis/.test(l.msg)));
    assert.ok(
      logged.some((l) => l.msg === 'websub maintenance scheduled' && l.subscriptions === 3),
      'the three subscriptions not ended, from the database',
    );
  });

  test('GIVEN only a push scheduler evicted (the sweep one kept) THEN the sweep registers it again, once, logged', async (c) => {
    await c.queues.feeds.removeJobScheduler(pushSchedulerId(c.feeds.pending.id));
    assert.ok(await c.queues.sweep.getJobScheduler(SWEEP_SCHEDULER_ID), 'the watchdog sees nothing wrong');
    c.lines.length = 0;
    assert.is((await sweepStrandedWork(c.app)).pushSchedulers, 1);
    await assertPushSchedulers(c);
    assert.is((await sweepStrandedWork(c.app)).pushSchedulers, 0, 'nothing to do the second time');
    assert.ok(c.lines.some((l) => l.includes('had no maintenance scheduler') && l.includes(c.feeds.pending.id)));
  });

  test('a delivery queued twice is one job; once done its body leaves Redis, and a replay that day is not queued again', async (c) => {
    const body = `<rss><channel><title>x</title>${'<item><title>long</title></item>'.repeat(2000)}</channel></rss>`;
    const id = jobId('delivery', stableId('delivery', c.feeds.active.id, body));
    await c.app.jobs.enqueuePushDelivery(c.feeds.active.id, body);
    await c.app.jobs.enqueuePushDelivery(c.feeds.active.id, body);
    const queued = (await c.queues.feeds.getJobs(['waiting', 'prioritized', 'delayed'])).filter((j) => j.name === 'push-delivery');
    assert.equal(
      queued.map((j) => j.id),
      [id],
      'one job',
    );
    assert.is(await deliveryHashes(c), 1, 'the waiting job holds the body');
    const connection = createRedis(REDIS_URL);
    const worker = new Worker('feeds', async () => 'processed', { connection, prefix: c.prefix });
    try {
      await eventually(async () => (await c.queues.feeds.getJob(id)) === undefined, { timeout: 10_000, message: 'the finished job removed' });
      assert.is(await deliveryHashes(c), 0, 'no delivery body kept');
      assert.is(await c.queues.feeds.getDeduplicationJobId(id), id, 'the small deduplication key stays');
      await c.app.jobs.enqueuePushDelivery(c.feeds.active.id, body);
      assert.is(await c.queues.feeds.getJob(id), undefined, 'the replay is not queued again');
      assert.is((await c.queues.feeds.getJobs(['waiting', 'prioritized', 'delayed', 'active'])).filter((j) => j.name === 'push-delivery').length, 0);
    } finally {
      await worker.close();
      await connection.quit();
    }
  });

  test.run();
}
