import type { Job } from 'bullmq';
import type { AppContext } from '../context.ts';
import { recountPostById, recountRecent } from '../services/recount.ts';
import { jobId, type Queues } from './queues.ts';
import { scheduleAnnouncementRefresh } from './refresh.ts';
import type { SchedulerSetup, WorkerDefinition } from './worker.ts';

/** `recount-all`: every post announced within SYNC_WINDOW_DAYS; `recount-post`: one post, on demand. */
export const RECOUNT_SCHEDULER_ID = 'recount-all';

/**
 * Asks for one post to be recounted against Discord. Requests made while one waits join it
 * (deduplication on `jobId('recount', postId)`); one made while it runs is kept as the next.
 */
export async function scheduleRecount(queues: Queues, postId: string, delayMs = 2000): Promise<void> {
  await queues.recount.add('recount-post', { postId }, { delay: delayMs, deduplication: { id: jobId('recount', postId), keepLastIfActive: true } });
}

/**
 * A recount of every recent announcement now. No deduplication: a job left active by a crashed process would
 * hold the id until it is found stalled, and the request must not wait for that (a recount is idempotent).
 */
export async function requestRecountAll(queues: Queues): Promise<void> {
  await queues.recount.add('recount-all', {}, { removeOnComplete: true, removeOnFail: true });
}

export const recountWorker: WorkerDefinition = {
  queue: 'recount',
  concurrency: 2,
  processor: (ctx: AppContext) => async (job: Job) => {
    const refresh = (postId: string) => scheduleAnnouncementRefresh(ctx.queues, postId, ctx.config.announcementRefreshMs);
    const postId = (job.data as { postId?: string }).postId;
    if (job.name === 'recount-post' && postId) {
      const result = await recountPostById(ctx, postId);
      if (result.changed) await refresh(postId);
      return result;
    }
    const summary = await recountRecent(ctx, { windowDays: ctx.config.syncWindowDays, onChanged: refresh });
    ctx.log.info({ ...summary, changedPostIds: summary.changedPostIds.length }, 'recount finished');
    return { ...summary, changedPostIds: summary.changedPostIds.slice(0, 100) };
  },
};

/**
 * The recount of recent announcements: once now (at every worker start, and when Redis comes back) and
 * every RECOUNT_INTERVAL_SECONDS. Workers starting together share the immediate run (deduplication).
 */
export const registerRecount: SchedulerSetup = async (ctx) => {
  const queue = ctx.queues.recount;
  // A new `every` scheduler runs its first job at once; an existing one keeps its rhythm, so ask for a run now.
  const existed = (await queue.getJobScheduler(RECOUNT_SCHEDULER_ID)) !== undefined;
  await queue.upsertJobScheduler(RECOUNT_SCHEDULER_ID, { every: ctx.config.recountIntervalSeconds * 1000 }, { name: 'recount-all', data: {} });
  if (existed) await queue.add('recount-all', {}, { deduplication: { id: 'recount-all-now' } });
};
