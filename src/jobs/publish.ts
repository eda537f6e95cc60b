import type { Job } from 'bullmq';
import type { AppContext } from '../context.ts';
import { listUnfinishedPosts } from '../repositories/posts.ts';
import { publishPost } from '../services/publish.ts';
import { enqueuePublish, type PublishJobData } from './producers.ts';
import type { SchedulerSetup, WorkerDefinition } from './worker.ts';

export { enqueuePublish, publishJobId, type PublishJobData } from './producers.ts';

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
