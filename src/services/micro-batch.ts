// Micro-batching of database writes from gateway events: items are queued in arrival order and written in
// small transactions (every ~20 ms, or at once when 2,000 items wait), one transaction at a time, retried
// with backoff while the database is away. One transaction per batch instead of one per event is what lets a
// busy server's replies and votes keep up (a commit costs far more than a row), and writing one batch at a
// time is the backpressure between the gateway and the database: events wait as small objects in the
// buffer, not as queries piled up in the connection pool.
import type { Logger } from '../logger.ts';

export interface MicroBatchOptions<T> {
  /** What is written, for the logs ("comment writes", "rating writes"). */
  name: string;
  /** Writes one batch in one transaction; a throw means nothing of it was written (it is retried). */
  write: (batch: T[]) => Promise<void>;
  /** After a batch was written: runs while the next batch is written, one at a time, in batch order (a throw is logged). */
  afterWrite?: (batch: T[]) => Promise<void> | void;
  /** The buffer was full: these oldest items were dropped unwritten. */
  onDrop?: (dropped: T[]) => void;
  /**
   * Whether a failed write was refused because of what it wrote (a constraint, a value the database cannot
   * store), so that retrying the same batch would fail forever. Such a batch is halved until the item at
   * fault is alone; that one goes to `onRejected` and the writes go on. Other errors (the database away) are
   * retried with backoff, the batch whole.
   */
  isPermanent?: (err: unknown) => boolean;
  /** An item the database refused (see `isPermanent`); it is not written. */
  onRejected?: (item: T, err: unknown) => void;
  /** Flush this long after the first buffered item (default 20 ms: the most a quiet server's event waits). */
  flushMs?: number;
  /**
   * Flush at once when this many items wait; also the most written in one transaction (default 2,000: a
   * burst is written in a few large transactions, each one statement per kind of write).
   */
  maxBatch?: number;
  /** The most items kept while the database is away (default 100,000); beyond it the oldest are dropped. */
  maxBuffer?: number;
  /** First and longest wait between two attempts while writes fail (defaults 100 ms and 5 s). */
  retryMinMs?: number;
  retryMaxMs?: number;
}

export interface MicroBatchStats {
  /** Items accepted. */
  accepted: number;
  /** Items written. */
  written: number;
  /** Transactions committed. */
  flushes: number;
  /** Failed attempts (each retried). */
  failures: number;
  /** Items dropped because the buffer was full. */
  dropped: number;
  /** Items the database refused (see `isPermanent`). */
  rejected: number;
}

/**
 * Writes items in arrival order, in transactions of at most `maxBatch`, one at a time. Nothing is lost while
 * the database is briefly away: a failed batch goes back to the front of the buffer and is retried with
 * backoff; up to `maxBuffer` items are kept, and beyond that the oldest are handed to `onDrop`.
 */
export class MicroBatcher<T> {
  readonly #o: Required<Pick<MicroBatchOptions<T>, 'flushMs' | 'maxBatch' | 'maxBuffer' | 'retryMinMs' | 'retryMaxMs'>> & MicroBatchOptions<T>;
  readonly #log: Logger | null;
  #buffer: T[] = [];
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  /** The follow-up of the last written batch, while it runs (it overlaps the next batch's write). */
  #following: Promise<void> | null = null;
  #retryMs = 0;
  #inFlight = 0;
  #failingSince: number | null = null;
  #closed = false;
  #stopped = false;
  readonly #idle = new Set<() => void>();
  readonly stats: MicroBatchStats = { accepted: 0, written: 0, flushes: 0, failures: 0, dropped: 0, rejected: 0 };
  /** While a batch refused for its items is narrowed down: how many of them are still at the front of the buffer… */
  #suspects = 0;
  /** … and how many of them the next write takes. */
  #limit = 0;

  constructor(log: Logger | null, options: MicroBatchOptions<T>) {
    const maxBatch = Math.max(1, options.maxBatch ?? 2000);
    this.#o = {
      ...options,
      flushMs: options.flushMs ?? 20,
      maxBatch,
      maxBuffer: Math.max(maxBatch, options.maxBuffer ?? 100_000),
      retryMinMs: options.retryMinMs ?? 100,
      retryMaxMs: options.retryMaxMs ?? 5000,
    };
    this.#log = log;
  }

  /** Items not written yet (buffered or being written). */
  get pending(): number {
    return this.#buffer.length + this.#inFlight;
  }

  /** Whether `push` still accepts items (false after `close`). */
  get open(): boolean {
    return !this.#closed;
  }

  /** Queues an item; false (and nothing queued) once closed. */
  push(item: T): boolean {
    if (this.#closed) return false;
    this.stats.accepted++;
    this.#buffer.push(item);
    this.#enforceBound();
    this.#schedule();
    return true;
  }

  #enforceBound(): void {
    const over = this.#buffer.length - this.#o.maxBuffer;
    if (over <= 0) return;
    const dropped = this.#buffer.splice(0, over);
    this.stats.dropped += dropped.length;
    this.#o.onDrop?.(dropped);
  }

  #schedule(delay?: number): void {
    if (this.#stopped || this.#running || this.#buffer.length === 0) return;
    if (this.#retryMs > 0 && delay === undefined) return; // a retry is already scheduled
    const wait = delay ?? (this.#buffer.length >= this.#o.maxBatch ? 0 : this.#o.flushMs);
    if (this.#timer) {
      if (wait > 0) return;
      clearTimeout(this.#timer);
    }
    this.#timer = setTimeout(() => {
      this.#timer = null;
      void this.#run();
    }, wait);
  }

  #run(): Promise<void> {
    if (this.#running) return this.#running;
    this.#running = (async () => {
      try {
        while (this.#buffer.length > 0) {
          const ok = await this.#flushOnce();
          if (!ok) return;
        }
        await this.#following;
      } finally {
        this.#running = null;
        if (this.#buffer.length === 0) for (const fn of [...this.#idle]) fn();
        else if (this.#retryMs > 0) this.#schedule(this.#retryMs);
        else this.#schedule();
      }
    })();
    return this.#running;
  }

  /** Writes one batch; false when it failed (the batch is back at the front of the buffer). */
  async #flushOnce(): Promise<boolean> {
    const batch = this.#buffer.splice(0, this.#suspects > 0 ? Math.min(this.#limit, this.#suspects) : this.#o.maxBatch);
    this.#inFlight = batch.length;
    const started = performance.now();
    try {
      await this.#o.write(batch);
    } catch (err) {
      this.#inFlight = 0;
      if (this.#o.isPermanent?.(err)) {
        this.#narrow(batch, err);
        return true;
      }
      this.#buffer.unshift(...batch);
      this.#enforceBound();
      this.stats.failures++;
      this.#retryMs = this.#retryMs === 0 ? this.#o.retryMinMs : Math.min(this.#o.retryMaxMs, this.#retryMs * 2);
      if (this.#failingSince === null) {
        this.#failingSince = Date.now();
        this.#log?.warn({ err, pending: this.#buffer.length }, `${this.#o.name} failed: retrying with backoff`);
      }
      return false;
    }
    const written = performance.now();
    this.#inFlight = 0;
    if (this.#failingSince !== null) {
      this.#log?.info({ downMs: Date.now() - this.#failingSince, pending: this.#buffer.length }, `${this.#o.name} succeed again`);
      this.#failingSince = null;
    }
    this.#retryMs = 0;
    this.#suspects = Math.max(0, this.#suspects - batch.length);
    this.stats.flushes++;
    this.stats.written += batch.length;
    if (this.#o.afterWrite) {
      // The follow-up (Redis, Discord) overlaps the next batch's write, so a slow round trip there does not
      // hold up the database; follow-ups still run one at a time, in batch order.
      await this.#following;
      const afterWrite = this.#o.afterWrite;
      const following = (async () => {
        try {
          await afterWrite(batch);
          this.#log?.debug(
            { items: batch.length, writeMs: Math.round(written - started), followUpMs: Math.round(performance.now() - written), pending: this.#buffer.length },
            `${this.#o.name}: batch written`,
          );
        } catch (err) {
          this.#log?.warn({ err, items: batch.length }, `${this.#o.name}: the follow-up of a written batch failed`);
        }
      })();
      this.#following = following;
      void following.finally(() => {
        if (this.#following === following) this.#following = null;
      });
    }
    return true;
  }

  /**
   * After a batch refused for its items: its first half is written next, then the rest, halving whatever is
   * refused again until the item at fault is alone. That one is rejected, and full batches resume.
   */
  #narrow(batch: T[], err: unknown): void {
    if (batch.length > 1) {
      this.#buffer.unshift(...batch);
      this.#suspects = Math.max(this.#suspects, batch.length);
      this.#limit = Math.ceil(batch.length / 2);
      return;
    }
    this.#suspects = 0;
    this.stats.rejected++;
    this.#log?.error({ err }, `${this.#o.name}: the database refused an item; it is not written`);
    try {
      this.#o.onRejected?.(batch[0]!, err);
    } catch (hookErr) {
      this.#log?.warn({ err: hookErr }, `${this.#o.name}: handling a refused item failed`);
    }
  }

  /** Writes everything buffered now; resolves when the buffer is empty (or rejects after `timeoutMs`). */
  async flush({ timeoutMs = 30_000 } = {}): Promise<void> {
    if (this.#buffer.length === 0 && !this.#running) return;
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    this.#retryMs = Math.min(this.#retryMs, this.#o.retryMinMs);
    await new Promise<void>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        this.#idle.delete(done);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#idle.delete(done);
        reject(new Error(`${this.#o.name}: ${this.#buffer.length} items still unwritten after ${timeoutMs} ms`));
      }, timeoutMs);
      this.#idle.add(done);
      if (!this.#running) void this.#run();
    });
  }

  /**
   * Stops accepting, writes what is buffered (retrying up to `timeoutMs`), then stops the timers. Returns the
   * items that could not be written (empty when everything was saved).
   */
  async close({ timeoutMs = 10_000 } = {}): Promise<T[]> {
    this.#closed = true;
    try {
      await this.flush({ timeoutMs });
      return [];
    } catch {
      return [...this.#buffer];
    } finally {
      this.#stopped = true;
      if (this.#timer) clearTimeout(this.#timer);
      this.#timer = null;
    }
  }
}
