// The `sync` queue: catch-up of post threads. A job scheduler runs 'sync-all' every SYNC_INTERVAL_SECONDS
// (and once at every worker start); it asks for one 'sync-thread' job per active thread (job id
// `sync-<threadId>`, so a thread is caught up once at a time). Dirty threads ask for a full one.
import type { Job } from 'bullmq';
import type { AppContext } from '../context.ts';
import { catchUpThread } from '../services/catch-up.ts';
import { getPostByThreadId } from '../repositories/posts.ts';
import { requestSyncAll, scheduleAnnouncementRefresh, syncAll, type SyncThreadJobData } from './producers.ts';
import type { SchedulerSetup, WorkerDefinition } from './worker.ts';

export { requestSyncAll, requestThreadSync, syncAll, type SyncThreadJobData } from './producers.ts';

export async function syncThread(ctx: Pick<AppContext, 'db' | 'discord' | 'queues' | 'config' | 'log'>, data: SyncThreadJobData) {
  const post = await getPostByThreadId(ctx.db, data.threadId);
  if (!post) return { status: 'unknown-thread' as const };
  const started = Date.now();
  const result = await catchUpThread(ctx, { postId: post.id, threadId: data.threadId, messageId: post.messageId }, { full: data.full ?? false });
  if (result.upserted > 0 || result.deleted > 0) {
    ctx.log.info({ threadId: data.threadId, postId: post.id, ...result, ms: Date.now() - started }, 'catch-up stored changes made while the bot was away');
    await scheduleAnnouncementRefresh(ctx.queues, post.id, ctx.config.announcementRefreshMs);
  }
  return result;
}

export const syncWorker: WorkerDefinition = {
  queue: 'sync',
  concurrency: 4,
  processor: (ctx: AppContext) => async (job: Job) => (job.name === 'sync-all' ? syncAll(ctx) : syncThread(ctx, job.data as SyncThreadJobData)),
};

/** The periodic catch-up, and one right now (a worker that starts has just been away, or Redis was). */
export const syncScheduler: SchedulerSetup = async (ctx) => {
  await ctx.queues.sync.upsertJobScheduler(
    'sync-all',
    { every: ctx.config.syncIntervalSeconds * 1000 },
    { name: 'sync-all', data: {}, opts: { attempts: 1, removeOnComplete: true, removeOnFail: 100 } },
  );
  await requestSyncAll(ctx.queues);
};
