import type { Job } from 'bullmq';
import type { AppContext } from '../context.ts';
import { recountPostById, recountRecent } from '../services/recount.ts';
import { RECOUNT_SCHEDULER_ID, scheduleAnnouncementRefresh } from './producers.ts';
import type { SchedulerSetup, WorkerDefinition } from './worker.ts';

export { RECOUNT_SCHEDULER_ID, requestRecountAll, scheduleRecount } from './producers.ts';

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
