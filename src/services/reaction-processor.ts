// The in-process entry point for reaction events: micro-batched, strictly ordered application of the rating
// rules (`rating-rules.ts`), with the follow-ups and effects after each commit.
import { isDataError, withTransaction } from '../db/index.ts';
import { AnnouncementIndex } from './announcement-index.ts';
import { DiscordRequestError } from './discord-port.ts';
import { MicroBatcher, type MicroBatchOptions, type MicroBatchStats } from './micro-batch.ts';
import {
  followUp,
  logApplied,
  precheck,
  writeReactions,
  type RatingEffects,
  type RatingsContext,
  type ReactionEvent,
  type ReactionOutcome,
} from './rating-rules.ts';

/** A reaction event waiting in the processor's batch, with what was learnt about it so far. */
interface PendingReaction {
  event: ReactionEvent;
  /** When it arrived: the time of the rating it writes. */
  at: string;
  resolve: (outcome: ReactionOutcome) => void;
  reject: (err: unknown) => void;
  /** The announcement's post (null: not an announcement), once looked up. */
  postId?: string | null;
  /** The fetched bot flag of a partial user. */
  bot?: boolean;
  /** Discord refused the bot-flag fetch: the event is not applied and its caller gets this error. */
  error?: unknown;
  outcome?: ReactionOutcome;
}

export interface ReactionProcessorOptions extends Pick<MicroBatchOptions<PendingReaction>, 'flushMs' | 'maxBatch' | 'maxBuffer' | 'retryMinMs' | 'retryMaxMs'> {
  index?: AnnouncementIndex;
}

/**
 * The in-process entry point for reaction events. Events are applied strictly in arrival order (so a fast
 * 5→3 switch always ends at 3), in micro-batches: one transaction per batch instead of one per vote, which
 * is what lets a busy server's votes keep up. While the database is away the batch is retried with backoff
 * and later events wait behind it, so everything is applied in order once it answers again; past
 * `maxBuffer` waiting events the oldest are refused (the recount settles their posts against Discord).
 */
export class ReactionProcessor {
  readonly index: AnnouncementIndex;
  readonly #batcher: MicroBatcher<PendingReaction>;

  constructor(
    private readonly ctx: RatingsContext,
    private readonly effects: RatingEffects,
    options: ReactionProcessorOptions = {},
  ) {
    this.index = options.index ?? new AnnouncementIndex(ctx.db);
    this.#batcher = new MicroBatcher<PendingReaction>(ctx.log, {
      ...options,
      name: 'rating writes',
      write: (batch) => this.#write(batch),
      afterWrite: (batch) => this.#afterWrite(batch),
      onDrop: (dropped) => this.#refuse(dropped, 'rating buffer full while the database is away'),
      isPermanent: isDataError,
      onRejected: (p) => this.#refuse([p], 'rating refused by the database'),
    });
  }

  /** Queues the event behind the earlier events; resolves with what it did once it is written. */
  submit(event: ReactionEvent): Promise<ReactionOutcome> {
    // Cheap rejections first, without queueing: other emoji never touch the database.
    const early = precheck(event);
    if (early) return Promise.resolve(early);
    return new Promise((resolve, reject) => {
      const pending: PendingReaction = { event, at: new Date().toISOString(), resolve, reject };
      if (!this.#batcher.push(pending)) this.#refuse([pending], 'rating writer closed');
    });
  }

  /** Events waiting to be written (buffered or being written). */
  get pending(): number {
    return this.#batcher.pending;
  }

  /** Events accepted, written, transactions, failed attempts, events refused because the buffer was full. */
  get stats(): MicroBatchStats {
    return this.#batcher.stats;
  }

  /**
   * Writes one batch in one transaction. The lookups that may wait on the network (the announcement index,
   * a partial user's bot flag) happen before it, so the transaction never waits on Discord.
   */
  async #write(batch: PendingReaction[]): Promise<void> {
    await this.index.prime(batch.filter((p) => p.postId === undefined).map((p) => p.event.messageId));
    for (const p of batch) {
      p.outcome = undefined;
      if (p.postId === undefined) {
        // Primed just now: answered from the cache without a promise per event (postIdOf asks the database if not).
        const known = this.index.cached(p.event.messageId);
        p.postId = known !== undefined ? known : await this.index.postIdOf(p.event.messageId);
      }
      if (p.postId && p.event.kind === 'add' && typeof p.event.isBot === 'function' && p.bot === undefined && p.error === undefined) {
        try {
          p.bot = await p.event.isBot();
        } catch (err) {
          if (!(err instanceof DiscordRequestError)) throw err; // retried with the batch
          p.error = err;
        }
      }
    }
    const rated: PendingReaction[] = [];
    for (const p of batch) {
      if (p.error !== undefined) continue;
      if (!p.postId) p.outcome = { result: 'ignored', reason: 'not-an-announcement' };
      else if (p.bot) p.outcome = { result: 'ignored', reason: 'bot' };
      else rated.push(p);
    }
    if (rated.length === 0) return;
    const outcomes = await withTransaction(this.ctx.db, (tx) =>
      writeReactions(
        tx,
        rated.map((p) => ({ event: p.event, postId: p.postId!, at: p.at })),
      ),
    );
    rated.forEach((p, i) => (p.outcome = outcomes[i]));
  }

  /** After the commit: Discord follow-ups, one refresh (and recount) request per changed post, the answers. */
  #afterWrite(batch: PendingReaction[]): void {
    const changed = new Set<string>();
    const recount = new Set<string>();
    for (const p of batch) {
      const outcome = p.outcome;
      if (p.error !== undefined || !outcome) continue;
      if (p.postId && !p.bot) {
        // A Discord port that throws at once must not keep the written batch's callers waiting forever.
        try {
          followUp(this.ctx, p.event, p.postId, outcome, this.effects);
        } catch (err) {
          this.ctx.log.warn({ err, messageId: p.event.messageId }, 'could not ask Discord for the follow-up of a rating change');
        }
      }
      if (outcome.result === 'rated' || outcome.result === 'removed') {
        logApplied(this.ctx, p.event, outcome);
        changed.add(outcome.postId);
        if (outcome.result === 'removed' && outcome.needsRecount) recount.add(outcome.postId);
      }
    }
    for (const postId of changed) this.#effect(() => this.effects.ratingsChanged(postId), postId, 'announcement refresh');
    for (const postId of recount) this.#effect(() => this.effects.recountNeeded(postId), postId, 'recount');
    for (const p of batch) {
      if (p.error !== undefined) p.reject(p.error);
      else p.resolve(p.outcome!);
    }
  }

  #refuse(items: PendingReaction[], why: string): void {
    const posts = new Set(items.map((p) => p.postId ?? this.index.peek(p.event.messageId)).filter((id): id is string => typeof id === 'string'));
    this.ctx.log.error({ events: items.length, posts: posts.size }, `${why}: reaction events not applied (the recount settles their posts)`);
    for (const postId of posts) this.#effect(() => this.effects.recountNeeded(postId), postId, 'recount');
    for (const p of items) p.reject(new Error(`${why}: reaction event not applied`));
  }

  /** Effects never hold up the next event and never fail it (Redis may be down: the recount repairs). */
  #effect(fn: () => Promise<void> | void, postId: string, what: string): void {
    Promise.resolve()
      .then(fn)
      .catch((err: unknown) => this.ctx.log.warn({ err, postId }, `could not schedule the ${what} after a rating change`));
  }

  /** Resolves when everything submitted so far is written. */
  idle(options?: { timeoutMs?: number }): Promise<void> {
    return this.#batcher.flush(options);
  }

  /** Stops accepting, writes what waits (up to `timeoutMs`); what could not be written is left to the recount at the next start. */
  async close(options?: { timeoutMs?: number }): Promise<void> {
    const lost = await this.#batcher.close(options);
    if (lost.length) this.#refuse(lost, 'rating writes not saved at shutdown');
  }
}
