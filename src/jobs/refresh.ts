import type { Job } from 'bullmq';
import type { AppContext } from '../context.ts';
import { refreshAnnouncement } from '../services/announcement.ts';
import type { RefreshJobData } from './producers.ts';
import type { WorkerDefinition } from './worker.ts';

export { scheduleAnnouncementRefresh, type RefreshJobData } from './producers.ts';

export const refreshWorker: WorkerDefinition = {
  queue: 'refresh',
  concurrency: 4,
  processor: (ctx: AppContext) => async (job: Job) => refreshAnnouncement(ctx, (job.data as RefreshJobData).postId),
};
