import type { Job } from 'bullmq';
import type { AppContext } from '../context.ts';
import { refreshAnnouncement } from '../services/announcement.ts';
import type { Queues } from './queues.ts';
import type { WorkerDefinition } from './worker.ts';

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

export const refreshWorker: WorkerDefinition = {
  queue: 'refresh',
  concurrency: 4,
  processor: (ctx: AppContext) => async (job: Job) => refreshAnnouncement(ctx, (job.data as RefreshJobData).postId),
};
