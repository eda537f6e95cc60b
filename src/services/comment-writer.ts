// Comment writes from gateway events, micro-batched (micro-batch.ts): queued in arrival order, written in small
// transactions (every ~20 ms, or at once when 2,000 operations wait), retried with backoff while the database is away.
import { isDataError, withTransaction, type Db } from '../db/index.ts';
import type { Logger } from '../logger.ts';
import { MicroBatcher, type MicroBatchOptions, type MicroBatchStats } from './micro-batch.ts';
import { markCommentsDeleted, markThreadCommentsDeleted, upsertComments, type CommentInput } from '../repositories/comments.ts';
import { withoutForgottenAuthors } from './privacy.ts';

export type CommentOp =
  | { kind: 'upsert'; comment: CommentInput }
  | { kind: 'delete'; postId: string; threadId: string; ids: readonly string[]; at: string }
  | { kind: 'deleteThread'; postId: string; threadId: string; at: string };

export interface DirtyThread {
  threadId: string;
  postId: string;
}

/** Batching (flushMs, maxBatch, maxBuffer, retryMinMs, retryMaxMs: see MicroBatchOptions) and the writer's hooks. */
export interface CommentWriterOptions extends Pick<MicroBatchOptions<CommentOp>, 'flushMs' | 'maxBatch' | 'maxBuffer' | 'retryMinMs' | 'retryMaxMs'> {
  /** Called after a successful flush with the posts whose comments changed (announcement refresh). */
  onFlushed?: (postIds: string[]) => Promise<void> | void;
  /** Called (once the database answers again) with the threads whose dropped operations need a catch-up. */
  onDirty?: (threads: DirtyThread[]) => Promise<void> | void;
}

/** Counts of operations: accepted, written, flushes (transactions), failures (retried attempts), dropped (buffer full: their threads were marked dirty). */
export type CommentWriterStats = MicroBatchStats;

/**
 * One process's comment writer. `upsert`/`delete`/`deleteThread` return at once; the operations are applied
 * in the order they arrived (so an edit never lands before its create, nor a delete before either), in
 * transactions of at most `maxBatch` operations. Nothing is lost while the database is briefly away: the
 * writer retries with backoff, keeps up to `maxBuffer` operations, and beyond that drops the oldest but
 * remembers their threads and asks for a catch-up of them (which re-reads them from Discord).
 */
export class CommentWriter {
  readonly #log: Logger | null;
  readonly #onFlushed: CommentWriterOptions['onFlushed'];
  readonly #onDirty: CommentWriterOptions['onDirty'];
  readonly #batcher: MicroBatcher<CommentOp>;
  readonly #dirty = new Map<string, DirtyThread>();

  constructor(db: Db, log: Logger | null, opts: CommentWriterOptions = {}) {
    this.#log = log;
    this.#onFlushed = opts.onFlushed;
    this.#onDirty = opts.onDirty;
    this.#batcher = new MicroBatcher<CommentOp>(log, {
      ...opts,
      name: 'comment writes',
      // A batch of new or edited comments only (a busy server's usual batch) is one statement, atomic by
      // itself: without BEGIN and COMMIT it is one round trip to PostgreSQL instead of three.
      write: (batch) => (batch.every((op) => op.kind === 'upsert') ? applyOps(db, batch) : withTransaction(db, (tx) => applyOps(tx, batch))),
      afterWrite: (batch) => this.#afterFlush(batch),
      isPermanent: isDataError,
      onRejected: (op, err) =>
        this.#log?.error(
          { err, threadId: threadOf(op), ids: op.kind === 'upsert' ? [op.comment.id] : op.kind === 'delete' ? op.ids : [] },
          'comment operation refused by the database: not stored',
        ),
      onDrop: (dropped) => {
        for (const op of dropped) this.#dirty.set(threadOf(op), { threadId: threadOf(op), postId: postOf(op) });
        this.#log?.error(
          { dropped: dropped.length, dirtyThreads: this.#dirty.size },
          'comment buffer full: oldest operations dropped, their threads will be caught up',
        );
      },
    });
  }

  get stats(): CommentWriterStats {
    return this.#batcher.stats;
  }

  /** Operations not written yet (buffered or being written). */
  get pending(): number {
    return this.#batcher.pending;
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
    // After shutdown nothing can be written any more: the thread is caught up at the next start.
    if (!this.#batcher.push(op)) this.#log?.warn({ threadId: threadOf(op) }, 'comment writer closed: operation left to catch-up');
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
  flush(options?: { timeoutMs?: number }): Promise<void> {
    return this.#batcher.flush(options);
  }

  /** Stops accepting, writes what is buffered (retrying up to `timeoutMs`), then stops the timers. */
  async close(options?: { timeoutMs?: number }): Promise<void> {
    const lost = await this.#batcher.close(options);
    if (lost.length)
      this.#log?.error(
        { lost: lost.length, threads: [...new Set(lost.map(threadOf))] },
        'comment writes not saved at shutdown; catch-up repairs these threads at the next start',
      );
  }
}

const threadOf = (op: CommentOp): string => (op.kind === 'upsert' ? op.comment.threadId : op.threadId);
const postOf = (op: CommentOp): string => (op.kind === 'upsert' ? op.comment.postId : op.postId);

/**
 * Applies operations in order. Consecutive upserts are written together (one statement; a
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
      await upsertComments(db, await withoutForgottenAuthors(db, [...run.values()]));
    } else if (op.kind === 'delete') {
      // A run of deletes is stamped with the time the first of them was seen (they are ms apart).
      const ids = new Set<string>();
      for (; i < ops.length && ops[i]!.kind === 'delete'; i++) for (const id of (ops[i] as Extract<CommentOp, { kind: 'delete' }>).ids) ids.add(id);
      await markCommentsDeleted(db, [...ids], op.at);
    } else {
      await markThreadCommentsDeleted(db, op.postId, op.threadId, op.at);
      i++;
    }
  }
}
