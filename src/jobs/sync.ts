// The `sync` queue: catch-up of post threads. A job scheduler runs 'sync-all' every SYNC_INTERVAL_SECONDS
// (and once at every worker start); it asks for one 'sync-thread' job per active thread (job id
// `sync-<threadId>`, so a thread is caught up once at a time). Dirty threads ask for a full one.
import type { Job } from 'bullmq';
import type { AppContext } from '../context.ts';
import { catchUpThread, listThreadsToSync } from '../services/catch-up.ts';
import { getPostByThreadId } from '../repositories/posts.ts';
import { jobId, type Queues } from './queues.ts';
import { scheduleAnnouncementRefresh } from './refresh.ts';
import type { SchedulerSetup, WorkerDefinition } from './worker.ts';

export interface SyncThreadJobData {
  threadId: string;
  full?: boolean;
}

const THREAD_JOB = { attempts: 5, backoff: { type: 'exponential', delay: 2000 }, removeOnComplete: true, removeOnFail: true } as const;

/** Asks for a catch-up of one thread (deduplicated per thread while one waits). */
export async function requestThreadSync(queues: Queues, threadId: string, { full = false } = {}): Promise<void> {
  await queues.sync.add('sync-thread', { threadId, full } satisfies SyncThreadJobData, {
    ...THREAD_JOB,
    jobId: full ? jobId('sync', threadId, 'full') : jobId('sync', threadId),
  });
}

/** Asks for the catch-up of every post thread active within SYNC_WINDOW_DAYS. */
export async function syncAll(ctx: Pick<AppContext, 'db' | 'queues' | 'config' | 'log'>): Promise<number> {
  const threads = await listThreadsToSync(ctx.db, ctx.config.syncWindowDays);
  for (let i = 0; i < threads.length; i += 500) {
    await ctx.queues.sync.addBulk(
      threads.slice(i, i + 500).map((t) => ({
        name: 'sync-thread',
        data: { threadId: t.threadId } satisfies SyncThreadJobData,
        opts: { ...THREAD_JOB, jobId: jobId('sync', t.threadId) },
      })),
    );
  }
  ctx.log.debug({ threads: threads.length }, 'catch-up of the post threads requested');
  return threads.length;
}

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

/** A catch-up of every post thread now (requests made while one waits join it). */
export async function requestSyncAll(queues: Queues): Promise<void> {
  await queues.sync.add(
    'sync-all',
    {},
    { jobId: 'sync-all-now', attempts: 3, backoff: { type: 'exponential', delay: 2000 }, removeOnComplete: true, removeOnFail: true },
  );
}

/** The periodic catch-up, and one right now (a worker that starts has just been away, or Redis was). */
export const syncScheduler: SchedulerSetup = async (ctx) => {
  await ctx.queues.sync.upsertJobScheduler(
    'sync-all',
    { every: ctx.config.syncIntervalSeconds * 1000 },
    { name: 'sync-all', data: {}, opts: { attempts: 1, removeOnComplete: true, removeOnFail: 100 } },
  );
  await requestSyncAll(ctx.queues);
};
