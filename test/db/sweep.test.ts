// Issue 14 item 14: work Redis loses while the connection stays up (FLUSHDB, eviction, a lagging replica) is
// found by the sweep and done exactly once. Real Redis (this run's own key prefix, never FLUSHDB on the shared
// server), both databases, the real workers with an in-memory Discord port.
// Run alone: npx tsx test/db/sweep.test.ts
import { randomBytes } from 'node:crypto';
import type { Worker } from 'bullmq';
import { ChannelType } from 'discord-api-types/v10';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfig } from '../../src/config.ts';
import type { AppContext } from '../../src/context.ts';
import { digestProcessor } from '../../src/jobs/digest.ts';
import { enqueuePublish, publishJobId, publishWorker, requeueUnfinishedPosts } from '../../src/jobs/publish.ts';
import { closeQueues, createQueues, type Queues } from '../../src/jobs/queues.ts';
import { digestRepairJobId, sweepScheduler, sweepStrandedWork, sweepWorker, watchSchedulers } from '../../src/jobs/sweep.ts';
import { registerSchedulers, startWorkers } from '../../src/jobs/worker.ts';
import { createLogger } from '../../src/logger.ts';
import { claimDigest, getDigest } from '../../src/repositories/digest-runs.ts';
import { upsertFeed, type Feed } from '../../src/repositories/feeds.ts';
import { getPost, setPublishState, upsertPostFromFeed } from '../../src/repositories/posts.ts';
import { setRating } from '../support/ratings.ts';
import { createProducerRedis, createRedis } from '../../src/redis.ts';
import { eventually } from '../support/assert.ts';
import { REDIS_URL } from '../support/bot.ts';
import { createTestDb, DIALECTS, type TestDb } from '../support/db.ts';
import { FakeDiscord } from '../support/fakes.ts';
import { snowflake } from '../support/snowflake.ts';

const SETUPS = [requeueUnfinishedPosts, sweepScheduler];

interface Ctx {
  t: TestDb;
  redis: ReturnType<typeof createProducerRedis>;
  connection: ReturnType<typeof createRedis>;
  prefix: string;
  queues: Queues;
  discord: FakeDiscord;
  app: AppContext;
  lines: string[];
  workers: Worker[];
  watchdog: { stop(): void };
  guildId: string;
  feed: Feed;
}

/** Deletes every key of this run's queues (what a FLUSHDB does to them), or those of one queue. */
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

const item = (key: string) => ({
  key,
  url: `https://blog.example/${key}`,
  title: `Secret title ${key}`,
  author: null,
  publishedAt: null,
  summaryHtml: null,
  searchText: key,
  imageUrl: null,
  contentHash: key,
});

for (const dialect of DIALECTS) {
  const test = suite<Ctx>(`sweep for stranded work (${dialect})`);

  test.before(async (c) => {
    c.t = await createTestDb(dialect);
    c.redis = createProducerRedis(REDIS_URL);
    c.connection = createRedis(REDIS_URL);
    c.prefix = `t${randomBytes(5).toString('hex')}`;
    c.queues = createQueues(c.redis, c.prefix);
    c.discord = new FakeDiscord();
    c.guildId = snowflake();
    const channelId = c.discord.addChannel(c.guildId, ChannelType.GuildText);
    c.feed = (await upsertFeed(c.t.db, { guildId: c.guildId, url: 'https://blog.example/feed', channelId })).feed;
    c.lines = [];
    const log = createLogger('info', { write: (line: string) => void c.lines.push(line) });
    const config = loadConfig({ SWEEP_INTERVAL_SECONDS: '1', ANNOUNCEMENT_REFRESH_MS: '0', QUEUE_PREFIX: c.prefix }, { dotenv: false });
    c.app = { db: c.t.db, discord: c.discord, log, config, queues: c.queues, version: 'test', redisHealth: async () => {} } as unknown as AppContext;
    c.workers = startWorkers(c.app, c.connection, [publishWorker, sweepWorker]);
    await registerSchedulers(c.app, SETUPS);
    c.watchdog = watchSchedulers(c.app, SETUPS);
  });

  test.after(async (c) => {
    c.watchdog?.stop();
    await Promise.allSettled((c.workers ?? []).map((w) => w.close()));
    if (c.queues) {
      for (const q of Object.values(c.queues)) await q.obliterate({ force: true }).catch(() => {});
      await closeQueues(c.queues);
    }
    await c.connection?.quit();
    await c.redis?.quit();
    await c.t?.close();
  });

  const announcementsOf = (c: Ctx, postId: string) =>
    c.discord.calls.filter((call) => call.method === 'createMessage' && JSON.stringify(call.args[1]).includes(`blog.example/${postId}`)).length;

  /**
   * Adds posts as /feed add does (stored pending, publish jobs queued) while the publish queue is held (a paused
   * queue: its flag is one of the keys the flush takes, so the flush itself lets the workers go on).
   */
  async function addPendingPosts(c: Ctx, keys: string[]) {
    await c.queues.publish.pause();
    const posts = [];
    for (const key of keys) {
      const { post } = await upsertPostFromFeed(c.t.db, c.feed, item(key), 'pending');
      await enqueuePublish(c.queues, post.id);
      posts.push(post);
    }
    return posts;
  }

  async function assertPublishedOnce(c: Ctx, keys: string[], ids: string[]) {
    await eventually(async () => (await Promise.all(ids.map((id) => getPost(c.t.db, id)))).every((p) => p?.publishState === 'published'), {
      timeout: 20_000,
      message: 'every stranded post published',
    });
    // Two more sweeps: none of them publishes anything again.
    const before = c.discord.count('createMessage');
    await new Promise((r) => setTimeout(r, 2500));
    assert.is(c.discord.count('createMessage'), before, 'later sweeps announce nothing again');
    for (const key of keys) assert.is(announcementsOf(c, key), 1, `post ${key} announced exactly once`);
  }

  test('GIVEN a FLUSHDB right after /feed add (jobs and schedulers gone, connection up) THEN the posts are announced exactly once', async (c) => {
    const keys = ['flush-a', 'flush-b', 'flush-c'];
    const posts = await addPendingPosts(c, keys);
    assert.is(await c.queues.publish.count(), 3);
    // The sweep worker waits (a sweep already running finishes first) while the keys go, so no sweep in flight
    // re-queues the pending posts between the flush and the checks below; it then goes on as after a real flush.
    const sweeper = c.workers[1]!;
    await sweeper.pause();
    assert.ok((await dropKeys(c.redis, `${c.prefix}:*`)) > 0);
    assert.is(await c.queues.publish.count(), 0, 'the jobs are gone');
    assert.is(await c.queues.sweep.getJobScheduler('sweep-stranded'), undefined, 'the sweep scheduler is gone too');
    assert.not.ok(await c.queues.publish.isPaused(), 'the flush took the pause with it');
    await sweeper.resume();
    await assertPublishedOnce(
      c,
      keys,
      posts.map((p) => p.id),
    );
    const logged = c.lines.map((l) => JSON.parse(l));
    assert.ok(
      logged.some((l) => /job schedulers are gone from Redis/.test(l.msg)),
      'the lost schedulers are noticed and logged',
    );
    assert.ok(await c.queues.sweep.getJobScheduler('sweep-stranded'), 'and registered again');
  });

  test('GIVEN only the publish jobs evicted (schedulers kept) THEN the scheduled sweep queues them again, logged, without message text', async (c) => {
    c.lines.length = 0;
    const keys = ['evict-a', 'evict-b'];
    const posts = await addPendingPosts(c, keys);
    // A post half-way (announced, thread missing) whose job is lost too.
    assert.ok((await dropKeys(c.redis, `${c.prefix}:publish:*`)) > 0);
    assert.is(await c.queues.publish.getJobState(publishJobId(posts[0]!.id)), 'unknown');
    assert.ok(await c.queues.sweep.getJobScheduler('sweep-stranded'), 'the sweep scheduler is still there');
    assert.not.ok(await c.queues.publish.isPaused(), 'the flush took the pause with it');
    await assertPublishedOnce(
      c,
      keys,
      posts.map((p) => p.id),
    );
    const repairs = c.lines.map((l) => JSON.parse(l)).filter((l) => /sweep: a post waiting to be published had no job/.test(l.msg));
    for (const post of posts)
      assert.ok(
        repairs.some((l) => l.postId === post.id && l.publishState === 'pending' && l.job === 'unknown'),
        `the repair of ${post.id} is logged`,
      );
    assert.not.match(c.lines.join('\n'), /Secret title/, 'no post text in the log');
  });

  test('a post part-way (announced) whose job is lost is finished, not announced again', async (c) => {
    await c.queues.publish.pause();
    const { post } = await upsertPostFromFeed(c.t.db, c.feed, item('half'), 'pending');
    const channelId = c.feed.channelId;
    const announced = await c.discord.createMessage(channelId, { content: `https://blog.example/half` });
    await setPublishState(c.t.db, post.id, { state: 'announced', channelId, messageId: announced.id });
    const summary = await sweepStrandedWork(c.app);
    assert.is(summary.posts, 1);
    assert.ok(['waiting', 'paused'].includes(await c.queues.publish.getJobState(publishJobId(post.id))), 'queued');
    assert.is((await sweepStrandedWork(c.app)).posts, 0, 'a queued job is left alone');
    await c.queues.publish.resume();
    await eventually(async () => (await getPost(c.t.db, post.id))?.publishState === 'published', { timeout: 20_000, message: 'the half-way post finished' });
    assert.is(announcementsOf(c, 'half'), 1, 'its announcement is not posted again');
  });

  test('a digest claimed and never posted is repaired once; a fresh claim is left to its poster', async (c) => {
    const { digest } = await claimDigest(c.t.db, {
      guildId: c.guildId,
      periodKey: '2026-W48',
      periodStart: '2026-11-23T00:00:00.000Z',
      periodEnd: '2026-11-30T00:00:00.000Z',
      channelId: c.feed.channelId,
      nonce: 'nonce-w48',
    });
    assert.is((await sweepStrandedWork(c.app)).digests, 0, 'a claim younger than a minute may still be posting');
    const later = Date.parse(digest.createdAt) + 61_000;
    assert.is((await sweepStrandedWork(c.app, later)).digests, 1);
    assert.is((await sweepStrandedWork(c.app, later)).digests, 0, 'its repair is queued once');
    const job = (await c.queues.digest.getJob(digestRepairJobId(c.guildId, '2026-W48')))!;
    assert.equal(job.data, { guildId: c.guildId, periodKey: '2026-W48' });
    const before = c.discord.count('createMessage');
    const result = await digestProcessor(c.app)(job);
    assert.is(result.status, 'posted');
    assert.is(c.discord.count('createMessage'), before + 1);
    const body = c.discord.calls.filter((call) => call.method === 'createMessage').at(-1)!.args[1] as { nonce?: string };
    assert.is(body.nonce, 'nonce-w48', 'posted with the row nonce (Discord dedupes a repeat)');
    assert.is((await getDigest(c.t.db, c.guildId, '2026-W48'))?.state, 'posted');
    assert.is((await sweepStrandedWork(c.app, later + 1000)).digests, 0, 'a posted digest is not touched');
  });

  test('an announcement whose rating changed and whose refresh was lost gets one refresh', async (c) => {
    const { post } = await upsertPostFromFeed(c.t.db, c.feed, item('rated'), 'pending');
    await setPublishState(c.t.db, post.id, { state: 'published', channelId: c.feed.channelId, messageId: snowflake(), threadId: snowflake() });
    const changedAt = Date.now();
    await setRating(c.t.db, post.id, snowflake(), 5, new Date(changedAt).toISOString());
    // The refresh the rating asked for is lost; the sweep looks once the change is older than the refresh delay.
    const at = changedAt + 6000;
    assert.is((await sweepStrandedWork(c.app, at)).refreshes, 1);
    assert.ok(await c.queues.refresh.getDeduplicationJobId(post.id), 'a refresh waits');
    assert.is((await sweepStrandedWork(c.app, at)).refreshes, 0, 'not twice while one waits');
    assert.ok(c.lines.some((l) => l.includes('an announcement changed without a refresh') && l.includes(post.id)));
  });

  test.run();
}
