// The queue work the services and commands ask for, as one interface. It is implemented once over BullMQ in
// src/jobs/port.ts and handed to them in the AppContext (`ctx.jobs`), so nothing above src/jobs imports it.
import type { Feed } from '../repositories/feeds.ts';

export interface Jobs {
  /** One publish job per post (deterministic id); a finished job with the same id is replaced. */
  enqueuePublish(postId: string): Promise<void>;
  /** The feed's poll scheduler (created or updated). */
  schedulePolls(feed: Feed): Promise<void>;
  unschedulePolls(feedId: string): Promise<void>;
  /** A post changed (an edit, its rating, its web setting): bring its announcement and thread name up to date (debounced). */
  refreshAnnouncement(postId: string): Promise<void>;
  /** Catch up every post thread of the sync window now; resolves with how many were asked for. */
  requestCatchUpAll(): Promise<number>;
  /** Recount the ratings of every announcement of the sync window now. */
  requestRecountAll(): Promise<void>;
}
