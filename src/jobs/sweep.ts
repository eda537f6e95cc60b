// The sweep for stranded work. Publishing, digests and announcement refreshes live as BullMQ jobs in Redis;
// the database says what is still to be done. When Redis loses jobs while the connection stays up (FLUSHDB,
// an eviction policy other than noeviction, a failover to a replica that lagged), nothing else would notice:
// the sweep compares the two on a schedule and queues again what has no job. It logs each repair (ids and
// states only, never message text).
import type { AppContext } from '../context.ts';
import { listPostsChangedBetween } from '../repositories/activity.ts';
import { listDigests } from '../repositories/digest-runs.ts';
import { listUnfinishedPosts } from '../repositories/posts.ts';
import { subscriptionsToMaintain } from '../services/push.ts';
import { feedJobs, pushSchedulerId } from './feeds.ts';
import { enqueuePublish, publishJobId } from './publish.ts';
import { jobId } from './queues.ts';
import { scheduleAnnouncementRefresh, type RefreshJobData } from './refresh.ts';
import { registerSchedulers, type SchedulerSetup, type WorkerDefinition } from './worker.ts';

export const SWEEP_SCHEDULER_ID = 'sweep-stranded';

/** A digest row claimed this long ago and still without a message has lost its poster. */
export const DIGEST_STRANDED_AFTER_MS = 60_000;

/** Job states in which a job will still run (so the work it stands for is not stranded). */
const LIVE = new Set(['waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'paused']);

export type SweepContext = Pick<AppContext, 'db' | 'queues' | 'log' | 'config'>;

export interface SweepSummary {
  posts: number;
  digests: number;
  refreshes: number;
  /** WebSub subscriptions whose maintenance scheduler (renewal, lapse, retries) was missing. */
  pushSchedulers: number;
}

export const digestRepairJobId = (guildId: string, periodKey: string): string => jobId('digest-repair', guildId, periodKey);

/** One pass: every kind of stranded work queued again. */
export async function sweepStrandedWork(ctx: SweepContext, at = Date.now()): Promise<SweepSummary> {
  const summary: SweepSummary = { posts: 0, digests: 0, refreshes: 0, pushSchedulers: 0 };

  // Posts pending or part-way (announced, threaded) whose publish job is gone or finished.
  for (const post of await listUnfinishedPosts(ctx.db)) {
    const job = await ctx.queues.publish.getJobState(publishJobId(post.id));
    if (LIVE.has(job)) continue;
    await enqueuePublish(ctx.queues, post.id);
    summary.posts++;
    ctx.log.info(
      { postId: post.id, feedId: post.feedId, publishState: post.publishState, job },
      'sweep: a post waiting to be published had no job; queued it again',
    );
  }

  // Digests claimed and never posted: the repair finds the message in the channel, or posts it with the row's nonce.
  for (const d of await listDigests(ctx.db, { states: ['claimed'] })) {
    if (at - Date.parse(d.createdAt) < DIGEST_STRANDED_AFTER_MS) continue;
    const id = digestRepairJobId(d.guildId, d.periodKey);
    const job = await ctx.queues.digest.getJobState(id);
    if (LIVE.has(job)) continue;
    if (job === 'completed' || job === 'failed') await ctx.queues.digest.remove(id);
    await ctx.queues.digest.add('digest-repair', { guildId: d.guildId, periodKey: d.periodKey }, { jobId: id });
    summary.digests++;
    ctx.log.info({ guildId: d.guildId, periodKey: d.periodKey, job }, 'sweep: a digest was claimed but never posted; queued its repair');
  }

  // Announcements whose rating or replies changed since the sweep before last, with no refresh waiting and none
  // started after the change. Changes younger than the refresh delay are left to the normal path.
  const everyMs = ctx.config.sweepIntervalSeconds * 1000;
  const settle = ctx.config.announcementRefreshMs + 5000;
  const changes = await listPostsChangedBetween(ctx.db, new Date(at - 2 * everyMs - settle).toISOString(), new Date(at - settle).toISOString());
  if (changes.length) {
    const startedAfter = new Map<string, number>();
    for (const job of await ctx.queues.refresh.getJobs(['completed', 'active'], 0, 4999)) {
      const postId = (job?.data as RefreshJobData | undefined)?.postId;
      if (postId && job.processedOn) startedAfter.set(postId, Math.max(startedAfter.get(postId) ?? 0, job.processedOn));
    }
    for (const { postId, at: changedAt } of changes) {
      if ((startedAfter.get(postId) ?? 0) >= Date.parse(changedAt)) continue;
      if (await ctx.queues.refresh.getDeduplicationJobId(postId)) continue;
      await scheduleAnnouncementRefresh(ctx.queues, postId, ctx.config.announcementRefreshMs);
      summary.refreshes++;
      ctx.log.info({ postId, changedAt }, 'sweep: an announcement changed without a refresh; queued one');
    }
  }

  // WebSub subscriptions not ended whose maintenance scheduler was evicted alone (a FLUSHDB, which takes the sweep's
  // scheduler too, is the watchdog's): without it a lease would run out unrenewed.
  const subs = await subscriptionsToMaintain(ctx);
  if (subs.length) {
    const jobs = feedJobs(ctx);
    for (const s of subs) {
      if ((await ctx.queues.feeds.getJobScheduler(pushSchedulerId(s.feedId))) !== undefined) continue;
      await jobs.schedulePushMaintenance(s.feedId, s.everySeconds);
      summary.pushSchedulers++;
      ctx.log.info({ feedId: s.feedId }, 'sweep: a websub subscription had no maintenance scheduler; registered it again');
    }
  }
  return summary;
}

export const sweepWorker: WorkerDefinition = {
  queue: 'sweep',
  concurrency: 1,
  processor: (ctx: AppContext) => async () => {
    const summary = await sweepStrandedWork(ctx);
    if (summary.posts || summary.digests || summary.refreshes || summary.pushSchedulers)
      ctx.log.warn({ ...summary }, 'sweep: repaired work that Redis had lost');
    return summary;
  },
};

/** At every worker start and whenever Redis comes back: the sweep every SWEEP_INTERVAL_SECONDS (the first one at once). */
export const sweepScheduler: SchedulerSetup = async (ctx) => {
  await ctx.queues.sweep.upsertJobScheduler(
    SWEEP_SCHEDULER_ID,
    { every: ctx.config.sweepIntervalSeconds * 1000 },
    { name: 'sweep', data: {}, opts: { attempts: 1, removeOnComplete: { count: 10 }, removeOnFail: { count: 50 } } },
  );
};

/**
 * A FLUSHDB takes the job schedulers (the sweep's too) with the jobs, and the connection never drops, so the
 * reconnect handler does not register them again. Each worker process checks every interval that the sweep's
 * scheduler is still there and registers every scheduler again when it is not (the sweep then runs at once).
 */
export function watchSchedulers(ctx: AppContext, setups: readonly SchedulerSetup[]): { stop(): void } {
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    void (async () => {
      try {
        if ((await ctx.queues.sweep.getJobScheduler(SWEEP_SCHEDULER_ID)) !== undefined) return;
        ctx.log.warn('the job schedulers are gone from Redis (flushed, evicted or failed over): registering them again');
        await registerSchedulers(ctx, setups);
      } catch (err) {
        // Redis away: the connection's ready handler registers the schedulers when it is back.
        ctx.log.debug({ err }, 'could not check the job schedulers');
      } finally {
        busy = false;
      }
    })();
  }, ctx.config.sweepIntervalSeconds * 1000);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
