// Ratings from keycap reactions: the rules, independent of discord.js. The listeners translate gateway
// events into `ReactionEvent`s and hand them to the process's `ReactionProcessor`, which applies them
// strictly in arrival order, in micro-batched transactions.
import { isDataError, withTransaction, type Db, type RootDb } from '../db/index.ts';
import type { Logger } from '../logger.ts';
import { RATING_EMOJIS } from '../render/post.ts';
import { getPostByMessageId, getPostIdsByMessageIds } from '../repositories/posts.ts';
import { getRatingsOf, removeRatings, writeRatings, type Rating, type RatingKey, type Stars } from '../repositories/ratings.ts';
import { DiscordRequestError, type DiscordPort } from './discord-port.ts';
import { MicroBatcher, type MicroBatchOptions, type MicroBatchStats } from './micro-batch.ts';
import { forgottenRaters } from './privacy.ts';

/** The keycap of each star count: 1 → '1️⃣' … 5 → '5️⃣'. */
export const KEYCAP_OF: Readonly<Record<Stars, string>> = Object.freeze({
  1: RATING_EMOJIS[0],
  2: RATING_EMOJIS[1],
  3: RATING_EMOJIS[2],
  4: RATING_EMOJIS[3],
  5: RATING_EMOJIS[4],
});

/** An emoji as the gateway sends it: a unicode emoji has `id: null` and the character(s) as `name`. */
export type EmojiLike = string | { id?: string | null; name?: string | null } | null | undefined;

/**
 * The stars of a keycap emoji 1️⃣–5️⃣ (with or without the U+FE0F variation selector, as clients differ),
 * or null for any other emoji, a custom emoji (even one named like a keycap) and nothing.
 */
export function keycapStars(emoji: EmojiLike): Stars | null {
  if (!emoji) return null;
  if (typeof emoji !== 'string' && emoji.id) return null;
  const name = typeof emoji === 'string' ? emoji : emoji.name;
  if (!name) return null;
  const m = /^([1-5])\uFE0F?\u20E3$/u.exec(name);
  return m ? (Number(m[1]) as Stars) : null;
}

/** A gateway reaction event reduced to what the rules need. */
export type ReactionEvent =
  | {
      kind: 'add';
      messageId: string;
      /** The channel holding the announcement (the thread itself for a forum post). */
      channelId: string;
      userId: string;
      emoji: EmojiLike;
      /** The reactor's bot flag; a function when the event did not carry it (asked only for a keycap on an announcement). */
      isBot: boolean | (() => Promise<boolean>);
      /** Whether the bot may remove other people's reactions in that channel (Manage Messages). */
      canManageMessages: boolean;
    }
  | {
      kind: 'remove';
      messageId: string;
      channelId: string;
      userId: string;
      emoji: EmojiLike;
      isBot?: boolean;
      canManageMessages: boolean;
      /**
       * A person can hold a keycap twice, as a normal and as a super reaction, and the event takes one of them
       * away: true when the other may still be there (someone holds that kind of the keycap, or the message is
       * not cached), so a recount settles whether the rating stays.
       */
      otherKindMayRemain?: boolean;
    }
  | { kind: 'remove-all'; messageId: string; channelId: string }
  | { kind: 'remove-emoji'; messageId: string; channelId: string; emoji: EmojiLike; canManageMessages: boolean };

export type ReactionOutcome =
  | { result: 'ignored'; reason: 'not-a-keycap' | 'bot' | 'not-an-announcement' | 'no-rating' | 'forgotten' }
  | { result: 'unchanged'; postId: string; stars: Stars }
  | { result: 'rated'; postId: string; stars: Stars; previous: Stars | null; removedPreviousReaction: boolean }
  | { result: 'removed'; postId: string; count: number; needsRecount: boolean };

/** What the rating rules need (the context module names the processor, so this one does not import it). */
export interface RatingsContext {
  readonly db: RootDb;
  readonly discord: DiscordPort;
  readonly log: Logger;
}

/** What happens after a change: the caller wires these to the job queues (services do not import jobs). */
export interface RatingEffects {
  /** A post's ratings changed: bring its announcement up to date (debounced by the caller). */
  ratingsChanged(postId: string): Promise<void> | void;
  /**
   * Someone may still hold another keycap than the one just removed (the bot could not remove old keycaps):
   * recount the post against Discord so the rating follows what the message shows.
   */
  recountNeeded(postId: string): Promise<void> | void;
}

/**
 * messageId → postId (null: not an announcement), bounded, with a long TTL for announcements and a short
 * one for other messages (so a post announced a moment ago is found as soon as its row is written).
 */
export class AnnouncementIndex {
  readonly #cache = new Map<string, { postId: string | null; until: number }>();
  constructor(
    private readonly db: Db,
    readonly options: { max?: number; hitTtlMs?: number; missTtlMs?: number; now?: () => number } = {},
  ) {}

  async postIdOf(messageId: string): Promise<string | null> {
    const hit = this.#fresh(messageId);
    if (hit) return hit.postId;
    const post = await getPostByMessageId(this.db, messageId);
    return this.#remember(messageId, post?.id ?? null);
  }

  /** Looks up, in one query, those of these messages that are not cached, so `postIdOf` answers them from the cache. */
  async prime(messageIds: Iterable<string>): Promise<void> {
    const missing = [...new Set(messageIds)].filter((id) => !this.#fresh(id));
    if (missing.length === 0) return;
    const found = await getPostIdsByMessageIds(this.db, missing);
    for (const id of missing) this.#remember(id, found.get(id) ?? null);
  }

  /** A cached answer that has not expired (made the most recently used). */
  #fresh(messageId: string): { postId: string | null } | null {
    const hit = this.#cache.get(messageId);
    if (!hit || hit.until <= (this.options.now ?? Date.now)()) return null;
    // Refresh recency (Map keeps insertion order: the first entry is the least recently used).
    this.#cache.delete(messageId);
    this.#cache.set(messageId, hit);
    return hit;
  }

  #remember(messageId: string, postId: string | null): string | null {
    const ttl = postId ? (this.options.hitTtlMs ?? 10 * 60_000) : (this.options.missTtlMs ?? 5_000);
    this.#cache.delete(messageId);
    this.#cache.set(messageId, { postId, until: (this.options.now ?? Date.now)() + ttl });
    const max = this.options.max ?? 10_000;
    while (this.#cache.size > max) this.#cache.delete(this.#cache.keys().next().value!);
    return postId;
  }

  get size(): number {
    return this.#cache.size;
  }

  /** The cached answer for `messageId`, without asking the database (undefined: not cached). */
  peek(messageId: string): string | null | undefined {
    return this.#cache.get(messageId)?.postId;
  }

  forget(messageId: string): void {
    this.#cache.delete(messageId);
  }
}

/**
 * The checks that need no database: other emoji (on every kind but remove-all) and reactors known to be
 * bots never count.
 */
function precheck(event: ReactionEvent): ReactionOutcome | null {
  if (event.kind !== 'remove-all' && keycapStars(event.emoji) === null) return { result: 'ignored', reason: 'not-a-keycap' };
  if ((event.kind === 'add' || event.kind === 'remove') && event.isBot === true) return { result: 'ignored', reason: 'bot' };
  return null;
}

/**
 * Applies one reaction event to the ratings. The rules:
 * - only keycaps 1️⃣–5️⃣ on the announcement of a known post count; bots never count;
 * - one rating per person and post, the latest reaction wins; when the bot may manage messages it removes
 *   the person's previous keycap (the resulting remove event finds a different rating and leaves it);
 * - removing the reaction that holds the rating removes the rating (a removed keycap that no longer holds
 *   it changes nothing); remove-all removes every rating of the post, remove-emoji those of that keycap.
 * The ReactionProcessor applies the same rules (`precheck`, `writeReactions`, `followUp`) to batches of events.
 */
export async function applyReactionEvent(
  ctx: RatingsContext,
  event: ReactionEvent,
  index: AnnouncementIndex,
  at: string = new Date().toISOString(),
  effects?: Pick<RatingEffects, 'recountNeeded'>,
): Promise<ReactionOutcome> {
  const early = precheck(event);
  if (early) return early;
  const postId = await index.postIdOf(event.messageId);
  if (!postId) return { result: 'ignored', reason: 'not-an-announcement' };
  if (event.kind === 'add' && typeof event.isBot === 'function' && (await event.isBot())) return { result: 'ignored', reason: 'bot' };
  const [outcome] = await withTransaction(ctx.db, (tx) => writeReactions(tx, [{ event, postId, at }]));
  followUp(ctx, event, postId, outcome!, effects);
  return outcome!;
}

/** An event that passed `precheck`, on the announcement of `postId`, by someone who is not a bot. */
interface RuleInput {
  event: ReactionEvent;
  postId: string;
  /** The time of the rating it may write. */
  at: string;
}

const keyOf = (postId: string, userId: string) => `${postId}:${userId}`;

/**
 * The database part of the rules for a batch of events, applied strictly in order (call it in a transaction).
 * The batch's ratings are read in one query and changed in memory; the final state is written in a few
 * statements. A remove-all or remove-emoji is applied in SQL (it concerns ratings the batch never read), after
 * what came before it is written.
 */
async function writeReactions(db: Db, inputs: readonly RuleInput[]): Promise<ReactionOutcome[]> {
  const state = new Map<string, Rating | null>();
  const keys = inputs.flatMap(({ event, postId }) => (event.kind === 'add' || event.kind === 'remove' ? [{ postId, userId: event.userId }] : []));
  for (const r of await getRatingsOf(db, keys)) state.set(keyOf(r.postId, r.userId), r);
  // A member who ran /privacy forget in the post's server never rates there again.
  const forgotten = await forgottenRaters(
    db,
    inputs.flatMap(({ event, postId }) => (event.kind === 'add' ? [{ postId, userId: event.userId }] : [])),
  );
  const dirty = new Map<string, RatingKey>();
  const writeDirty = async () => {
    const set: Rating[] = [];
    const removed: RatingKey[] = [];
    for (const [k, key] of dirty) {
      const r = state.get(k);
      if (r) set.push(r);
      else removed.push(key);
    }
    dirty.clear();
    await writeRatings(db, set, removed);
  };

  const outcomes: ReactionOutcome[] = [];
  for (const { event, postId, at } of inputs) {
    if (event.kind === 'remove-all' || event.kind === 'remove-emoji') {
      const stars = event.kind === 'remove-emoji' ? keycapStars(event.emoji)! : undefined;
      await writeDirty();
      const count = await removeRatings(db, postId, stars);
      for (const [k, r] of state) if (r?.postId === postId && (stars === undefined || r.stars === stars)) state.set(k, null);
      // Without Manage Messages people may hold other keycaps too: after remove-emoji a recount lets those count again.
      outcomes.push(
        count > 0
          ? { result: 'removed', postId, count, needsRecount: event.kind === 'remove-emoji' && !event.canManageMessages }
          : { result: 'ignored', reason: 'no-rating' },
      );
      continue;
    }
    const stars = keycapStars(event.emoji)!;
    const k = keyOf(postId, event.userId);
    if (event.kind === 'add' && forgotten.has(k)) {
      outcomes.push({ result: 'ignored', reason: 'forgotten' });
      continue;
    }
    const current = state.get(k) ?? null;
    if (event.kind === 'remove') {
      // Removing the keycap that holds the rating removes it; another keycap changes nothing.
      if (current?.stars !== stars) {
        outcomes.push({ result: 'ignored', reason: 'no-rating' });
        continue;
      }
      state.set(k, null);
      dirty.set(k, { postId, userId: event.userId });
      outcomes.push({ result: 'removed', postId, count: 1, needsRecount: !event.canManageMessages || event.otherKindMayRemain === true });
      continue;
    }
    if (current?.stars === stars) {
      outcomes.push({ result: 'unchanged', postId, stars });
      continue;
    }
    state.set(k, { postId, userId: event.userId, stars, updatedAt: at });
    dirty.set(k, { postId, userId: event.userId });
    outcomes.push({ result: 'rated', postId, stars, previous: current?.stars ?? null, removedPreviousReaction: current !== null && event.canManageMessages });
  }
  await writeDirty();
  return outcomes;
}

/**
 * What an applied event asks of Discord, once it is written (not awaited: the next events need not wait for
 * Discord): after remove-all or remove-emoji, the bot's own keycaps back; after a switch, the removal of the
 * person's previous keycap. The remove event that removal causes carries the old keycap, which no longer
 * holds the rating, so the new rating stays.
 */
function followUp(ctx: RatingsContext, event: ReactionEvent, postId: string, outcome: ReactionOutcome, effects?: Pick<RatingEffects, 'recountNeeded'>): void {
  if (event.kind === 'remove-all') return restoreOwnKeycaps(ctx, event, RATING_EMOJIS);
  if (event.kind === 'remove-emoji') return restoreOwnKeycaps(ctx, event, [KEYCAP_OF[keycapStars(event.emoji)!]]);
  if (event.kind !== 'add' || outcome.result !== 'rated' || !outcome.removedPreviousReaction || outcome.previous === null) return;
  void ctx.discord.removeUserReaction(event.channelId, event.messageId, KEYCAP_OF[outcome.previous], event.userId).catch((err: unknown) => {
    const known = err instanceof DiscordRequestError && [10008, 10003, 10014, 50001, 50013].includes(err.code);
    ctx.log[known ? 'info' : 'warn'](
      { err, postId, messageId: event.messageId, userId: event.userId },
      'could not remove the previous rating reaction (the recount settles it)',
    );
    // A passing failure (429/5xx beyond the REST client's retries): a recount of the post removes it soon,
    // instead of leaving two keycaps on the announcement until the periodic recount.
    if (!known && effects)
      return Promise.resolve(effects.recountNeeded(postId)).catch((e: unknown) => ctx.log.warn({ err: e, postId }, 'could not schedule the recount'));
  });
}

/**
 * A moderator who clears an announcement's reactions also clears the bot's own keycaps, which show members how
 * to rate: put them back. Not awaited (later events of the announcement need not wait for Discord); each PUT
 * of the bot's own reaction is idempotent.
 */
function restoreOwnKeycaps(ctx: RatingsContext, event: { channelId: string; messageId: string }, emojis: readonly string[]): void {
  void (async () => {
    for (const emoji of emojis) await ctx.discord.addReaction(event.channelId, event.messageId, emoji);
  })().catch((err: unknown) => ctx.log.warn({ err, messageId: event.messageId }, 'could not put the rating reactions back on the announcement'));
}

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
      if (p.postId === undefined) p.postId = await this.index.postIdOf(p.event.messageId);
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

function logApplied(ctx: RatingsContext, event: ReactionEvent, outcome: ReactionOutcome): void {
  ctx.log.debug({ event: event.kind, messageId: event.messageId, userId: 'userId' in event ? event.userId : undefined, outcome }, 'rating reaction applied');
}
