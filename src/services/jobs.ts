// The queue work the services and commands ask for, as one interface. It is implemented once over BullMQ in
// src/jobs/port.ts and handed to them in the AppContext (`ctx.jobs`), so nothing above src/jobs imports it.
import type { Feed } from '../repositories/feeds.ts';

export interface Jobs {
  /** One publish job per post (deterministic id); a finished job with the same id is replaced. */
  enqueuePublish(postId: string): Promise<void>;
  /** The feed's poll scheduler (created or updated), every `intervalSeconds` (default FEED_POLL_INTERVAL_SECONDS). */
  schedulePolls(feed: Feed, intervalSeconds?: number): Promise<void>;
  /** Poll one feed now (a publish hook call): one waiting job per feed at most, further requests join it. */
  requestPoll(feedId: string): Promise<void>;
  /** Process a WebSub content distribution of a feed (deduplicated by its bytes: a replay joins the first). */
  enqueuePushDelivery(feedId: string, body: string): Promise<void>;
  /** The feed's WebSub maintenance scheduler (renewal, lapse, retries), every `everySeconds`. */
  schedulePushMaintenance(feedId: string, everySeconds: number): Promise<void>;
  unschedulePushMaintenance(feedId: string): Promise<void>;
  unschedulePolls(feedId: string): Promise<void>;
  /** A post changed (an edit, its rating, its web setting): bring its announcement and thread name up to date (debounced). */
  refreshAnnouncement(postId: string): Promise<void>;
  /** Catch up every post thread of the sync window now; resolves with how many were asked for. */
  requestCatchUpAll(): Promise<number>;
  /** Recount the ratings of every announcement of the sync window now. */
  requestRecountAll(): Promise<void>;
  /** Recount one post's ratings against Discord soon (deduplicated per post). */
  recountPost(postId: string): Promise<void>;
  /** Catch one thread up with Discord (`full`: read it all again, e.g. after events had to be dropped). */
  requestThreadSync(threadId: string, opts?: { full?: boolean }): Promise<void>;
  /** A server's weekly digest schedule registered as its settings say (or removed when it is off). */
  syncDigestSchedule(guildId: string): Promise<'scheduled' | 'removed'>;
}
