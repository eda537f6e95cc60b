import type { Job } from 'bullmq';
import type { AppContext } from '../context.ts';
import { listFeeds, type Feed } from '../repositories/feeds.ts';
import { stableId } from '../repositories/ids.ts';
import { pollFeed } from '../services/feed-poll.ts';
import type { FeedJobs } from '../services/feed-source.ts';
import { enqueuePublish } from './publish.ts';
import { jobId, type Queues } from './queues.ts';
import { scheduleAnnouncementRefresh } from './refresh.ts';
import type { SchedulerSetup, WorkerDefinition } from './worker.ts';

export interface PollJobData {
  feedId: string;
}

export const pollSchedulerId = (feedId: string): string => jobId('poll', feedId);

/** A stable per-feed offset within the first tenth of the interval, so feeds do not all poll at the same instant. */
export function pollJitterMs(feedId: string, everyMs: number): number {
  const spread = Math.floor(everyMs / 10);
  if (spread < 1) return 0;
  return (
    parseInt(
      stableId('jitter', feedId)
        .replace(/[^0-9a-f]/gi, '')
        .slice(0, 8) || '0',
      16,
    ) % spread
  );
}

export async function schedulePolls(queues: Queues, feed: Pick<Feed, 'id'>, intervalSeconds: number): Promise<void> {
  const every = intervalSeconds * 1000;
  await queues.feeds.upsertJobScheduler(
    pollSchedulerId(feed.id),
    { every, offset: pollJitterMs(feed.id, every) },
    { name: 'poll', data: { feedId: feed.id } satisfies PollJobData, opts: { attempts: 1, removeOnComplete: { count: 100 }, removeOnFail: { count: 500 } } },
  );
}

/** The queue side of the feed services, over BullMQ. */
export function feedJobs(ctx: Pick<AppContext, 'queues' | 'config'>): FeedJobs {
  return {
    enqueuePublish: (postId) => enqueuePublish(ctx.queues, postId),
    schedulePolls: (feed) => schedulePolls(ctx.queues, feed, ctx.config.feedPollIntervalSeconds),
    unschedulePolls: async (feedId) => {
      await ctx.queues.feeds.removeJobScheduler(pollSchedulerId(feedId));
    },
    refreshAnnouncement: (postId) => scheduleAnnouncementRefresh(ctx.queues, postId, ctx.config.announcementRefreshMs),
  };
}

export const feedsWorker: WorkerDefinition = {
  queue: 'feeds',
  concurrency: 4,
  processor: (ctx: AppContext) => {
    return async (job: Job) => pollFeed(ctx, (job.data as PollJobData).feedId);
  },
};

/** At every worker start (and when Redis is back): one poll scheduler per active feed; none for paused or removed ones. */
export const registerFeedPolls: SchedulerSetup = async (ctx) => {
  const feeds = await listFeeds(ctx.db);
  const active = new Set(feeds.filter((f) => f.state === 'active').map((f) => pollSchedulerId(f.id)));
  for (const feed of feeds) if (feed.state === 'active') await schedulePolls(ctx.queues, feed, ctx.config.feedPollIntervalSeconds);
  for (const s of await ctx.queues.feeds.getJobSchedulers(0, -1)) {
    const id = s.id ?? s.key;
    if (id && id.startsWith('poll-') && !active.has(id)) await ctx.queues.feeds.removeJobScheduler(id);
  }
  ctx.log.info({ feeds: active.size }, 'feed polls scheduled');
};
