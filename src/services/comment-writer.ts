// Micro-batching of comment writes: gateway events are queued in arrival order and written in small
// transactions (every ~50 ms or ~500 operations), retried with backoff while the database is away.
import { withTransaction, type Db } from '../db/index.ts';
import type { Logger } from '../logger.ts';
import { markCommentsDeleted, markThreadCommentsDeleted, upsertComments, type CommentInput } from '../repositories/comments.ts';

export type CommentOp =
  | { kind: 'upsert'; comment: CommentInput }
  | { kind: 'delete'; postId: string; threadId: string; ids: readonly string[]; at: string }
  | { kind: 'deleteThread'; postId: string; threadId: string; at: string };

export interface DirtyThread {
  threadId: string;
  postId: string;
}

export interface CommentWriterOptions {
  /** Flush this long after the first buffered operation (default 50 ms). */
  flushMs?: number;
  /** Flush at once when this many operations wait; also the most written in one transaction (default 500). */
  maxBatch?: number;
  /** The most operations kept while the database is away (default 100,000); beyond it the oldest are dropped. */
  maxBuffer?: number;
  /** First and longest wait between two attempts while writes fail (defaults 100 ms and 5 s). */
  retryMinMs?: number;
  retryMaxMs?: number;
  /** Called after a successful flush with the posts whose comments changed (announcement refresh). */
  onFlushed?: (postIds: string[]) => Promise<void> | void;
  /** Called (once the database answers again) with the threads whose dropped operations need a catch-up. */
  onDirty?: (threads: DirtyThread[]) => Promise<void> | void;
}

export interface CommentWriterStats {
  /** Operations accepted. */
  accepted: number;
  /** Operations written. */
  written: number;
  /** Transactions committed. */
  flushes: number;
  /** Failed attempts (each retried). */
  failures: number;
  /** Operations dropped because the buffer was full (their threads were marked dirty). */
  dropped: number;
}

/**
 * One process's comment writer. `upsert`/`delete`/`deleteThread` return at once; the operations are applied
 * in the order they arrived (so an edit never lands before its create, nor a delete before either), in
 * transactions of at most `maxBatch` operations. Nothing is lost while the database is briefly away: the
 * writer retries with backoff, keeps up to `maxBuffer` operations, and beyond that drops the oldest but
 * remembers their threads and asks for a catch-up of them (which re-reads them from Discord).
 */
export class CommentWriter {
  readonly #db: Db;
  readonly #log: Logger | null;
  readonly #flushMs: number;
  readonly #maxBatch: number;
  readonly #maxBuffer: number;
  readonly #retryMinMs: number;
  readonly #retryMaxMs: number;
  readonly #onFlushed: CommentWriterOptions['onFlushed'];
  readonly #onDirty: CommentWriterOptions['onDirty'];
  #buffer: CommentOp[] = [];
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  #retryMs = 0;
  #inFlight = 0;
  #failingSince: number | null = null;
  #closed = false;
  #stopped = false;
  readonly #dirty = new Map<string, DirtyThread>();
  readonly #idle = new Set<() => void>();
  readonly stats: CommentWriterStats = { accepted: 0, written: 0, flushes: 0, failures: 0, dropped: 0 };

  constructor(db: Db, log: Logger | null, opts: CommentWriterOptions = {}) {
    this.#db = db;
    this.#log = log;
    this.#flushMs = opts.flushMs ?? 50;
    this.#maxBatch = Math.max(1, opts.maxBatch ?? 500);
    this.#maxBuffer = Math.max(this.#maxBatch, opts.maxBuffer ?? 100_000);
    this.#retryMinMs = opts.retryMinMs ?? 100;
    this.#retryMaxMs = opts.retryMaxMs ?? 5000;
    this.#onFlushed = opts.onFlushed;
    this.#onDirty = opts.onDirty;
  }

  /** Operations not written yet (buffered or being written). */
  get pending(): number {
    return this.#buffer.length + this.#inFlight;
  }

  /** Threads whose dropped operations still wait for their catch-up request. */
  dirtyThreads(): DirtyThread[] {
    return [...this.#dirty.values()];
  }

  upsert(comment: CommentInput): void {
    this.#push({ kind: 'upsert', comment });
  }

  delete(postId: string, threadId: string, ids: readonly string[], at: string): void {
    if (ids.length) this.#push({ kind: 'delete', postId, threadId, ids: [...ids], at });
  }

  deleteThread(postId: string, threadId: string, at: string): void {
    this.#push({ kind: 'deleteThread', postId, threadId, at });
  }

  #push(op: CommentOp): void {
    if (this.#closed) {
      // After shutdown nothing can be written any more: the thread is caught up at the next start.
      this.#log?.warn({ threadId: threadOf(op) }, 'comment writer closed: operation left to catch-up');
      return;
    }
    this.stats.accepted++;
    this.#buffer.push(op);
    this.#enforceBound();
    this.#schedule();
  }

  #enforceBound(): void {
    const over = this.#buffer.length - this.#maxBuffer;
    if (over <= 0) return;
    const dropped = this.#buffer.splice(0, over);
    for (const op of dropped) {
      const t = { threadId: threadOf(op), postId: postOf(op) };
      this.#dirty.set(t.threadId, t);
    }
    this.stats.dropped += dropped.length;
    this.#log?.error({ dropped: dropped.length, dirtyThreads: this.#dirty.size }, 'comment buffer full: oldest operations dropped, their threads will be caught up');
  }

  #schedule(delay?: number): void {
    if (this.#stopped || this.#running || this.#buffer.length === 0) return;
    if (this.#retryMs > 0 && delay === undefined) return; // a retry is already scheduled
    const wait = delay ?? (this.#buffer.length >= this.#maxBatch ? 0 : this.#flushMs);
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
    const batch = this.#buffer.splice(0, this.#maxBatch);
    this.#inFlight = batch.length;
    try {
      await withTransaction(this.#db, (tx) => applyOps(tx, batch));
    } catch (err) {
      this.#inFlight = 0;
      this.#buffer.unshift(...batch);
      this.#enforceBound();
      this.stats.failures++;
      this.#retryMs = this.#retryMs === 0 ? this.#retryMinMs : Math.min(this.#retryMaxMs, this.#retryMs * 2);
      if (this.#failingSince === null) {
        this.#failingSince = Date.now();
        this.#log?.warn({ err, pending: this.#buffer.length }, 'comment writes failed: retrying with backoff');
      }
      return false;
    }
    this.#inFlight = 0;
    if (this.#failingSince !== null) {
      this.#log?.info({ downMs: Date.now() - this.#failingSince, pending: this.#buffer.length }, 'comment writes succeed again');
      this.#failingSince = null;
    }
    this.#retryMs = 0;
    this.stats.flushes++;
    this.stats.written += batch.length;
    await this.#afterFlush(batch);
    return true;
  }

  async #afterFlush(batch: CommentOp[]): Promise<void> {
    if (this.#onFlushed) {
      const posts = [...new Set(batch.map(postOf))];
      try {
        await this.#onFlushed(posts);
      } catch (err) {
        this.#log?.warn({ err, posts: posts.length }, 'could not schedule the announcement refresh after comment writes');
      }
    }
    if (this.#dirty.size > 0 && this.#onDirty) {
      const dirty = [...this.#dirty.values()];
      try {
        await this.#onDirty(dirty);
        for (const t of dirty) this.#dirty.delete(t.threadId);
      } catch (err) {
        this.#log?.warn({ err, threads: dirty.length }, 'could not ask for the catch-up of dirty threads (asked again after the next write)');
      }
    }
  }

  /** Writes everything buffered now; resolves when the buffer is empty (or rejects after `timeoutMs`). */
  async flush({ timeoutMs = 30_000 } = {}): Promise<void> {
    if (this.#buffer.length === 0 && !this.#running) return;
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    this.#retryMs = Math.min(this.#retryMs, this.#retryMinMs);
    await new Promise<void>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        this.#idle.delete(done);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#idle.delete(done);
        reject(new Error(`comment writer: ${this.#buffer.length} operations still unwritten after ${timeoutMs} ms`));
      }, timeoutMs);
      this.#idle.add(done);
      if (!this.#running) void this.#run();
    });
  }

  /** Stops accepting, writes what is buffered (retrying up to `timeoutMs`), then stops the timers. */
  async close({ timeoutMs = 10_000 } = {}): Promise<void> {
    this.#closed = true;
    try {
      await this.flush({ timeoutMs });
    } catch (err) {
      this.#log?.error({ err, lost: this.#buffer.length, threads: [...new Set(this.#buffer.map(threadOf))] }, 'comment writes not saved at shutdown; catch-up repairs these threads at the next start');
    } finally {
      this.#stopped = true;
      if (this.#timer) clearTimeout(this.#timer);
      this.#timer = null;
    }
  }
}

const threadOf = (op: CommentOp): string => (op.kind === 'upsert' ? op.comment.threadId : op.threadId);
const postOf = (op: CommentOp): string => (op.kind === 'upsert' ? op.comment.postId : op.postId);

/**
 * Applies operations in order. Consecutive upserts are written together (one statement per 500 rows; a
 * message seen twice keeps its last version), consecutive deletes too.
 */
export async function applyOps(db: Db, ops: readonly CommentOp[]): Promise<void> {
  let i = 0;
  while (i < ops.length) {
    const op = ops[i]!;
    if (op.kind === 'upsert') {
      const run = new Map<string, CommentInput>();
      for (; i < ops.length && ops[i]!.kind === 'upsert'; i++) {
        const c = (ops[i] as Extract<CommentOp, { kind: 'upsert' }>).comment;
        run.delete(c.id); // keep the position of its latest version
        run.set(c.id, c);
      }
      await upsertComments(db, [...run.values()]);
    } else if (op.kind === 'delete') {
      // A run of deletes is stamped with the time the first of them was seen (they are ms apart).
      const ids = new Set<string>();
      for (; i < ops.length && ops[i]!.kind === 'delete'; i++) for (const id of (ops[i] as Extract<CommentOp, { kind: 'delete' }>).ids) ids.add(id);
      await markCommentsDeleted(db, [...ids], op.at);
    } else {
      await markThreadCommentsDeleted(db, op.threadId, op.at);
      i++;
    }
  }
}
