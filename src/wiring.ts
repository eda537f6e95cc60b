// The long-lived objects of a gateway (`start`/`bot`) process, wired to the queues through `ctx.jobs`: the
// discussion mirror and the rating processor. Built by src/app.ts; close both before the database.
import type { Config } from './config.ts';
import type { AppContext } from './context.ts';
import type { Logger } from './logger.ts';
import { closeDiscussions } from './repositories/posts.ts';
import { CommentWriter, type CommentWriterOptions } from './services/comment-writer.ts';
import { Mirror, PostThreadCache } from './services/mirror.ts';
import { ReactionProcessor } from './services/reaction-processor.ts';
import { RefreshRequests, refreshWindowMs } from './services/refresh-requests.ts';
import type { Jobs } from './services/jobs.ts';

/**
 * The jobs the writers are given: the same, with announcement refresh requests folded per post
 * (src/services/refresh-requests.ts). `close` sends what is folded: after the writers, before the queues.
 */
export function refreshFoldingJobs(jobs: Jobs, config: Pick<Config, 'announcementRefreshMs'>, log: Logger): { jobs: Jobs; close: () => Promise<void> } {
  const requests = new RefreshRequests((postId) => jobs.refreshAnnouncement(postId), log, refreshWindowMs(config.announcementRefreshMs));
  return { jobs: { ...jobs, refreshAnnouncement: (postId) => requests.request(postId) }, close: () => requests.close() };
}

/**
 * The mirror: the micro-batching comment writer (an announcement refresh after each flush, a full catch-up of the
 * threads whose events had to be dropped) and the thread cache.
 */
export function createProcessMirror(ctx: Pick<AppContext, 'db' | 'log' | 'jobs'>, writerOptions: CommentWriterOptions = {}): Mirror {
  const { db, log, jobs } = ctx;
  const writer = new CommentWriter(db, log, {
    ...writerOptions,
    // All at once: ioredis sends them without waiting for each answer, so they cost about one round trip.
    onFlushed: async (postIds) => {
      await Promise.all(postIds.map((id) => jobs.refreshAnnouncement(id)));
    },
    onDirty: async (threads) => {
      await Promise.all(threads.map((t) => jobs.requestThreadSync(t.threadId, { full: true })));
    },
  });
  return new Mirror(
    writer,
    new PostThreadCache(db),
    log,
    (threadId, opts) => jobs.requestThreadSync(threadId, opts),
    (by, at) => closeDiscussions(db, by, at),
  );
}

/** The rating processor, its effects (refresh the announcement, recount a post) asked of the queues. */
export function createProcessRatings(ctx: Pick<AppContext, 'db' | 'discord' | 'log' | 'jobs'>): ReactionProcessor {
  return new ReactionProcessor(ctx, {
    ratingsChanged: (postId) => ctx.jobs.refreshAnnouncement(postId),
    recountNeeded: (postId) => ctx.jobs.recountPost(postId),
  });
}
