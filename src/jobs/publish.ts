import type { Job } from 'bullmq';
import type { AppContext } from '../context.ts';
import { listUnfinishedPosts } from '../repositories/posts.ts';
import { publishPost } from '../services/publish.ts';
import { jobId, type Queues } from './queues.ts';
import type { SchedulerSetup, WorkerDefinition } from './worker.ts';

export interface PublishJobData {
  postId: string;
}

export const publishJobId = (postId: string): string => jobId('publish', postId);

/**
 * Queues the publishing of a post under its deterministic job id, so it is queued once however often it is
 * asked for. A finished (completed or failed) job with that id is replaced: the post's state in the database
 * says what is left to do, and the processor does only that.
 */
export async function enqueuePublish(queues: Queues, postId: string): Promise<void> {
  const id = publishJobId(postId);
  const state = await queues.publish.getJobState(id);
  if (state === 'completed' || state === 'failed') await queues.publish.remove(id);
  await queues.publish.add('publish', { postId } satisfies PublishJobData, { jobId: id });
}

export const publishWorker: WorkerDefinition = {
  queue: 'publish',
  // One at a time per worker process: a feed's posts are announced in the order they were written.
  concurrency: 1,
  processor: (ctx: AppContext) => async (job: Job) => {
    const { postId } = job.data as PublishJobData;
    const attempts = job.opts.attempts ?? 1;
    const result = await publishPost(ctx, postId, { lastAttempt: job.attemptsMade + 1 >= attempts });
    return { state: result.state, ...(result.reason ? { reason: result.reason } : {}) };
  },
};

/** At every worker start (and when Redis is back): posts left pending or part-way are queued again (Redis may have lost them). */
export const requeueUnfinishedPosts: SchedulerSetup = async (ctx) => {
  const posts = await listUnfinishedPosts(ctx.db);
  for (const post of posts) await enqueuePublish(ctx.queues, post.id);
  if (posts.length) ctx.log.info({ count: posts.length }, 'queued unfinished posts again');
};
