import type { Job } from 'bullmq';
import type { AppContext } from '../context.ts';
import { refreshAnnouncement } from '../services/announcement.ts';
import type { Queues } from './queues.ts';
import type { WorkerDefinition } from './worker.ts';

export interface RefreshJobData {
  postId: string;
}

/**
 * Asks for an announcement to be brought up to date. Debounced through BullMQ deduplication: while a
 * refresh of the post waits (for `delayMs`) every further request joins it (it reads the database when it
 * runs); one arriving while it runs is kept as the next one. So a busy thread or a reaction storm edits
 * the announcement at most once every `delayMs` per post, and the last change is never missed.
 */
export async function scheduleAnnouncementRefresh(queues: Queues, postId: string, delayMs: number): Promise<void> {
  await queues.refresh.add('refresh', { postId } satisfies RefreshJobData, {
    delay: delayMs,
    deduplication: { id: postId, keepLastIfActive: true },
    attempts: 5,
    backoff: { type: 'exponential', delay: 2000 },
  });
}

export const refreshWorker: WorkerDefinition = {
  queue: 'refresh',
  concurrency: 4,
  processor: (ctx: AppContext) => async (job: Job) => refreshAnnouncement(ctx, (job.data as RefreshJobData).postId),
};
