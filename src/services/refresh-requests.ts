// The gateway writers' announcement refresh requests, at most one per post per window. After every batch the
// comment writer and the rating processor ask for a refresh of each post they touched; on a busy server that is
// a BullMQ add (a Lua script on Redis and a round trip) per post and batch, tens of batches a second, for a
// refresh that runs once per ANNOUNCEMENT_REFRESH_MS anyway. Here the first request of a post goes out at once
// (a quiet post's announcement is not delayed) and those that follow within the window are folded into one sent
// when the window ends: still after the change it stands for was committed, so the refresh reads it, and
// BullMQ's deduplication keeps a request that arrives while a refresh runs as the next one, as before.
import type { Logger } from '../logger.ts';

/** The longest window; shorter when the refresh delay is short (a fifth of it: the fold never dominates it). */
export const MAX_REFRESH_WINDOW_MS = 1000;

export const refreshWindowMs = (refreshDelayMs: number): number => Math.min(MAX_REFRESH_WINDOW_MS, Math.floor(refreshDelayMs / 5));

export class RefreshRequests {
  readonly #send: (postId: string) => Promise<void>;
  readonly #log: Logger;
  readonly #windowMs: number;
  /** Posts with a request sent in the current window → whether another was asked for since. */
  readonly #open = new Map<string, boolean>();
  #timer: NodeJS.Timeout | null = null;
  /** Requests sent (each a BullMQ add, a failed one included) and requests folded into a later one. */
  readonly stats = { sent: 0, folded: 0 };

  constructor(send: (postId: string) => Promise<void>, log: Logger, windowMs: number) {
    this.#send = send;
    this.#log = log;
    this.#windowMs = Math.max(0, windowMs);
  }

  /** Asks for a refresh of the post: sent now (a failure rejects, and it is sent again at the window's end), or folded into the one at the window's end. */
  request(postId: string): Promise<void> {
    if (this.#windowMs === 0) return this.#sendOne(postId);
    if (this.#open.has(postId)) {
      if (!this.#open.get(postId)) this.#open.set(postId, true);
      this.stats.folded++;
      return Promise.resolve();
    }
    this.#open.set(postId, false);
    this.#timer ??= setTimeout(() => void this.#tick(), this.#windowMs);
    return this.#sendOne(postId).catch((err: unknown) => {
      // Sent again at the window's end (its caller logs this failure).
      if (this.#open.has(postId)) this.#open.set(postId, true);
      throw err;
    });
  }

  /** Sends what was folded and stops the timer (at shutdown, after the writers have flushed). */
  async close(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    const again = [...this.#open].filter(([, v]) => v).map(([k]) => k);
    this.#open.clear();
    await this.#sendAll(again);
  }

  /** The window's end: posts asked for again get one request (and a new window); the others' windows close. */
  async #tick(): Promise<void> {
    this.#timer = null;
    const again: string[] = [];
    for (const [postId, asked] of this.#open) {
      if (asked) {
        again.push(postId);
        this.#open.set(postId, false);
      } else this.#open.delete(postId);
    }
    if (this.#open.size > 0) this.#timer = setTimeout(() => void this.#tick(), this.#windowMs);
    await this.#sendAll(again);
  }

  async #sendAll(postIds: string[]): Promise<void> {
    if (postIds.length === 0) return;
    // All at once: ioredis sends them without waiting for each answer. A failure is logged; the sweep queues a
    // refresh for a post whose change no refresh has read (src/jobs/sweep.ts).
    const failed = (await Promise.allSettled(postIds.map((id) => this.#sendOne(id)))).filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed.length)
      this.#log.warn({ err: failed[0]!.reason, posts: failed.length }, 'could not schedule the announcement refresh of posts that changed again');
  }

  #sendOne(postId: string): Promise<void> {
    this.stats.sent++;
    return this.#send(postId);
  }
}
