import type { Job } from 'bullmq';
import type { PushLinks } from '../feeds/websub-discovery.ts';
import type { AppContext } from '../context.ts';
import { listFeeds } from '../repositories/feeds.ts';
import { pollFeed } from '../services/feed-poll.ts';
import { maintainPush, pollIntervalOf, processPushDelivery, subscriptionsToMaintain, syncPush } from '../services/push.ts';
import { pollSchedulerId, schedulePolls, type PollJobData, type PushDeliveryJobData, type PushMaintenanceJobData } from './producers.ts';
import type { SchedulerSetup, WorkerDefinition } from './worker.ts';

// The producer side lives in producers.ts (the gateway bot loads only that); re-exported for the tests.
export { feedJobs, pollJitterMs, pollSchedulerId, pushSchedulerId, schedulePolls } from './producers.ts';
export type { PollJobData, PushDeliveryJobData, PushMaintenanceJobData } from './producers.ts';

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
