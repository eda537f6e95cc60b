// The producer side of every queue: job names, ids and data, and the functions that add jobs and schedulers.
// It imports no processor, so a process that only enqueues (the gateway bot) loads none of the job processors
// and what they need; the processor modules (feeds.ts, publish.ts, …) import from here.
import type { AppContext } from '../context.ts';
import { getGuildSettings } from '../repositories/guilds.ts';
import { stableId } from '../repositories/ids.ts';
import type { Feed } from '../repositories/feeds.ts';
import { listThreadsToSync } from '../services/catch-up.ts';
import type { DigestJobData } from '../services/digest.ts';
import { cronPattern, scheduleOf } from '../services/digest-period.ts';
import type { FeedJobs } from '../services/feed-source.ts';
import { jobId, type Queues } from './queues.ts';

// ── publish
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

// ── refresh
export interface RefreshJobData {
  postId: string;
}

/**
 * Asks for an announcement to be brought up to date. Debounced through BullMQ deduplication: while a
 * refresh of the post waits (for `delayMs`) every further request joins it (it reads the database when it
 * runs); one arriving while it runs is kept as the next one. So a busy thread or a reaction storm edits
 * the announcement at most once every `delayMs` per post, and the last change is never missed.
 *
 * Requests are also coalesced in process, which saves a Redis round trip per post and batch during a storm:
 * after this process itself created the waiting refresh (not joined one made elsewhere, which may run
 * sooner), further requests for the post within the first half of its delay are not sent. That refresh
 * cannot have started yet (it waits `delayMs` from its creation), and the change being announced was
 * committed before the request, so it reads that change when it runs.
 */
export async function scheduleAnnouncementRefresh(queues: Queues, postId: string, delayMs: number): Promise<void> {
  const waiting = waitingRefreshes(queues.refresh);
  const now = Date.now();
  if ((waiting.get(postId) ?? 0) > now) return;
  const jobId = `refresh-${postId}-${now}-${++sequence}`;
  const job = await queues.refresh.add('refresh', { postId } satisfies RefreshJobData, {
    jobId,
    delay: delayMs,
    deduplication: { id: postId, keepLastIfActive: true },
    attempts: 5,
    backoff: { type: 'exponential', delay: 2000 },
  });
  // A deduplicated add returns the id of the refresh it joined: only a refresh made here has a known start.
  if (job.id === jobId && delayMs >= MIN_COALESCED_DELAY_MS) {
    if (waiting.size >= 10_000) for (const [id, until] of waiting) if (until <= now) waiting.delete(id);
    waiting.set(postId, now + delayMs / 2);
  }
}

/** Below this delay the in-process coalescing is not worth its margin for clock skew between machines. */
const MIN_COALESCED_DELAY_MS = 1000;
let sequence = 0;
/** Per refresh queue: post → until when a refresh this process created is certainly still waiting. */
const waitingByQueue = new WeakMap<Queues['refresh'], Map<string, number>>();
function waitingRefreshes(queue: Queues['refresh']): Map<string, number> {
  let m = waitingByQueue.get(queue);
  if (!m) waitingByQueue.set(queue, (m = new Map()));
  return m;
}

// ── feeds
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

// ── recount
/** `recount-all`: every post announced within SYNC_WINDOW_DAYS; `recount-post`: one post, on demand. */
export const RECOUNT_SCHEDULER_ID = 'recount-all';

/**
 * Asks for one post to be recounted against Discord. Requests made while one waits join it
 * (deduplication on `jobId('recount', postId)`); one made while it runs is kept as the next.
 */
export async function scheduleRecount(queues: Queues, postId: string, delayMs = 2000): Promise<void> {
  await queues.recount.add('recount-post', { postId }, { delay: delayMs, deduplication: { id: jobId('recount', postId), keepLastIfActive: true } });
}

/**
 * A recount of every recent announcement now. No deduplication: a job left active by a crashed process would
 * hold the id until it is found stalled, and the request must not wait for that (a recount is idempotent).
 */
export async function requestRecountAll(queues: Queues): Promise<void> {
  await queues.recount.add('recount-all', {}, { removeOnComplete: true, removeOnFail: true });
}

// ── sync
export interface SyncThreadJobData {
  threadId: string;
  full?: boolean;
}

const THREAD_JOB = { attempts: 5, backoff: { type: 'exponential', delay: 2000 }, removeOnComplete: true, removeOnFail: true } as const;

/** Asks for a catch-up of one thread (deduplicated per thread while one waits). */
export async function requestThreadSync(queues: Queues, threadId: string, { full = false } = {}): Promise<void> {
  await queues.sync.add('sync-thread', { threadId, full } satisfies SyncThreadJobData, {
    ...THREAD_JOB,
    jobId: full ? jobId('sync', threadId, 'full') : jobId('sync', threadId),
  });
}

/** Asks for the catch-up of every post thread active within SYNC_WINDOW_DAYS. */
export async function syncAll(ctx: Pick<AppContext, 'db' | 'queues' | 'config' | 'log'>): Promise<number> {
  const threads = await listThreadsToSync(ctx.db, ctx.config.syncWindowDays);
  for (let i = 0; i < threads.length; i += 500) {
    await ctx.queues.sync.addBulk(
      threads.slice(i, i + 500).map((t) => ({
        name: 'sync-thread',
        data: { threadId: t.threadId } satisfies SyncThreadJobData,
        opts: { ...THREAD_JOB, jobId: jobId('sync', t.threadId) },
      })),
    );
  }
  ctx.log.debug({ threads: threads.length }, 'catch-up of the post threads requested');
  return threads.length;
}

/** A catch-up of every post thread now (requests made while one waits join it). */
export async function requestSyncAll(queues: Queues): Promise<void> {
  await queues.sync.add(
    'sync-all',
    {},
    { jobId: 'sync-all-now', attempts: 3, backoff: { type: 'exponential', delay: 2000 }, removeOnComplete: true, removeOnFail: true },
  );
}

// ── digest
export const DIGEST_JOB_NAME = 'digest';
export const digestSchedulerId = (guildId: string): string => `digest-${guildId}`;

/** Registers (enabled) or removes (disabled) one server's BullMQ job scheduler. */
export async function syncDigestScheduler(ctx: Pick<AppContext, 'db' | 'config' | 'queues'>, guildId: string): Promise<'scheduled' | 'removed'> {
  const settings = await getGuildSettings(ctx.db, guildId);
  const queue = ctx.queues.digest;
  if (!settings.digestEnabled) {
    await queue.removeJobScheduler(digestSchedulerId(guildId));
    return 'removed';
  }
  await queue.upsertJobScheduler(
    digestSchedulerId(guildId),
    { pattern: ctx.config.digestCronOverride ?? cronPattern(scheduleOf(settings)), tz: settings.digestTimezone },
    {
      name: DIGEST_JOB_NAME,
      data: { guildId } satisfies DigestJobData,
      opts: { attempts: 6, backoff: { type: 'exponential', delay: 5000 }, removeOnComplete: { count: 200 }, removeOnFail: { count: 1000 } },
    },
  );
  return 'scheduled';
}
