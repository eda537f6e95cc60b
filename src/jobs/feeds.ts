import type { Job } from 'bullmq';
import type { PushLinks } from '../feeds/websub-discovery.ts';
import type { AppContext } from '../context.ts';
import { listFeeds, type Feed } from '../repositories/feeds.ts';
import { stableId } from '../repositories/ids.ts';
import { pollFeed } from '../services/feed-poll.ts';
import { maintainPush, pollIntervalOf, processPushDelivery, subscriptionsToMaintain, syncPush } from '../services/push.ts';
import type { FeedJobs } from '../services/feed-source.ts';
import { enqueuePublish } from './publish.ts';
import { jobId, type Queues } from './queues.ts';
import { scheduleAnnouncementRefresh } from './refresh.ts';
import type { SchedulerSetup, WorkerDefinition } from './worker.ts';

export interface PollJobData {
  feedId: string;
  /** A publish hook's poll: now, whatever the backoff. */
  force?: boolean;
}

export interface PushDeliveryJobData {
  feedId: string;
  body: string;
}

export interface PushMaintenanceJobData {
  feedId: string;
}

export const pushSchedulerId = (feedId: string): string => jobId('push', feedId);

/** How long a delivery's bytes are remembered after it was queued: a replay within it is not queued again. */
export const PUSH_DELIVERY_DEDUP_MS = 24 * 3600 * 1000;

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
    schedulePolls: (feed, intervalSeconds) => schedulePolls(ctx.queues, feed, intervalSeconds ?? ctx.config.feedPollIntervalSeconds),
    requestPoll: async (feedId) => {
      // One waiting hook poll per feed: calls while it waits join it; once it ran, the next call queues another.
      await ctx.queues.feeds.add('poll', { feedId, force: true } satisfies PollJobData, {
        jobId: jobId('hook', feedId),
        attempts: 1,
        removeOnComplete: true,
        removeOnFail: true,
      });
    },
    enqueuePushDelivery: async (feedId, body) => {
      // The id is the delivery's bytes: a hub replaying one delivery (or two web processes taking it) queues it once
      // while it waits or runs, and for PUSH_DELIVERY_DEDUP_MS after it is done, without keeping its body (up to
      // FEED_MAX_BYTES) in Redis: only the small deduplication key stays. Processing one twice would store nothing new.
      const id = stableId('delivery', feedId, body);
      await ctx.queues.feeds.add('push-delivery', { feedId, body } satisfies PushDeliveryJobData, {
        jobId: jobId('delivery', id),
        deduplication: { id: jobId('delivery', id), ttl: PUSH_DELIVERY_DEDUP_MS },
        attempts: 5,
        removeOnComplete: true,
        removeOnFail: { count: 20, age: 24 * 3600 },
      });
    },
    schedulePushMaintenance: async (feedId, everySeconds) => {
      await ctx.queues.feeds.upsertJobScheduler(
        pushSchedulerId(feedId),
        { every: everySeconds * 1000 },
        {
          name: 'push-maintain',
          data: { feedId } satisfies PushMaintenanceJobData,
          opts: { attempts: 1, removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } },
        },
      );
    },
    unschedulePushMaintenance: async (feedId) => {
      await ctx.queues.feeds.removeJobScheduler(pushSchedulerId(feedId));
    },
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
    return async (job: Job) => {
      if (job.name === 'push-delivery') {
        const data = job.data as PushDeliveryJobData;
        return processPushDelivery(ctx, data.feedId, data.body);
      }
      if (job.name === 'push-maintain') return maintainPush(ctx, (job.data as PushMaintenanceJobData).feedId);
      const data = job.data as PollJobData;
      let links: PushLinks | null = null;
      const result = await pollFeed(ctx, data.feedId, { force: data.force === true, onLinks: (l) => (links = l) });
      // Every poll looks for the feed's hub again (it may have gained, lost or changed one).
      if (links) await syncPush(ctx, data.feedId, links);
      return result;
    };
  },
};

/** At every worker start (and when Redis is back): one poll scheduler per active feed; none for paused or removed ones. */
export const registerFeedPolls: SchedulerSetup = async (ctx) => {
  const feeds = await listFeeds(ctx.db);
  const active = new Set(feeds.filter((f) => f.state === 'active').map((f) => pollSchedulerId(f.id)));
  // A feed whose push subscription is active keeps its safety-net interval across restarts.
  for (const feed of feeds) if (feed.state === 'active') await schedulePolls(ctx.queues, feed, await pollIntervalOf(ctx, feed.id));
  for (const s of await ctx.queues.feeds.getJobSchedulers(0, -1)) {
    const id = s.id ?? s.key;
    if (id && id.startsWith('poll-') && !active.has(id)) await ctx.queues.feeds.removeJobScheduler(id);
  }
  ctx.log.info({ feeds: active.size }, 'feed polls scheduled');
};

/** At every worker start: one WebSub maintenance scheduler per subscription not ended (renewal, lapse, retries). */
export const registerPushMaintenance: SchedulerSetup = async (ctx) => {
  const subs = await subscriptionsToMaintain(ctx);
  for (const s of subs) await ctx.jobs.schedulePushMaintenance(s.feedId, s.everySeconds);
  if (subs.length) ctx.log.info({ subscriptions: subs.length }, 'websub maintenance scheduled');
};
