// Ratings from keycap reactions: the rules, independent of discord.js. The listeners translate gateway
// events into `ReactionEvent`s and hand them to a `ReactionProcessor`, which applies the events of one
// announcement strictly in order.
import type { AppContext } from '../context.ts';
import type { Db } from '../db/index.ts';
import { RATING_EMOJIS } from '../render/post.ts';
import { getPostByMessageId } from '../repositories/posts.ts';
import { getRating, removeRating, removeRatings, setRating, type Stars } from '../repositories/ratings.ts';
import { DiscordRequestError } from './discord-port.ts';

/** The keycap of each star count: 1 → '1️⃣' … 5 → '5️⃣'. */
export const KEYCAP_OF: Readonly<Record<Stars, string>> = Object.freeze({ 1: RATING_EMOJIS[0], 2: RATING_EMOJIS[1], 3: RATING_EMOJIS[2], 4: RATING_EMOJIS[3], 5: RATING_EMOJIS[4] });

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
  | { kind: 'remove'; messageId: string; channelId: string; userId: string; emoji: EmojiLike; isBot?: boolean; canManageMessages: boolean }
  | { kind: 'remove-all'; messageId: string; channelId: string }
  | { kind: 'remove-emoji'; messageId: string; channelId: string; emoji: EmojiLike; canManageMessages: boolean };

export type ReactionOutcome =
  | { result: 'ignored'; reason: 'not-a-keycap' | 'bot' | 'not-an-announcement' | 'no-rating' }
  | { result: 'unchanged'; postId: string; stars: Stars }
  | { result: 'rated'; postId: string; stars: Stars; previous: Stars | null; removedPreviousReaction: boolean }
  | { result: 'removed'; postId: string; count: number; needsRecount: boolean };

export type RatingsContext = Pick<AppContext, 'db' | 'discord' | 'log'>;

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
    const now = (this.options.now ?? Date.now)();
    const hit = this.#cache.get(messageId);
    if (hit && hit.until > now) {
      // Refresh recency (Map keeps insertion order: the first entry is the least recently used).
      this.#cache.delete(messageId);
      this.#cache.set(messageId, hit);
      return hit.postId;
    }
    const post = await getPostByMessageId(this.db, messageId);
    const postId = post?.id ?? null;
    const ttl = postId ? (this.options.hitTtlMs ?? 10 * 60_000) : (this.options.missTtlMs ?? 5_000);
    this.#cache.delete(messageId);
    this.#cache.set(messageId, { postId, until: now + ttl });
    const max = this.options.max ?? 10_000;
    while (this.#cache.size > max) this.#cache.delete(this.#cache.keys().next().value!);
    return postId;
  }

  get size(): number {
    return this.#cache.size;
  }

  forget(messageId: string): void {
    this.#cache.delete(messageId);
  }
}

/** Runs tasks one after another per key (tasks of different keys run side by side); idle keys are dropped. */
export class KeyedSerialQueue {
  readonly #tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    const result = previous.then(task, task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.#tails.set(key, tail);
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return result;
  }

  /** Keys with work queued or running. */
  get busyKeys(): number {
    return this.#tails.size;
  }

  /** Resolves when everything queued so far has run. */
  async idle(): Promise<void> {
    while (this.#tails.size) await Promise.all([...this.#tails.values()]);
  }
}

/**
 * Applies one reaction event to the ratings. The rules:
 * - only keycaps 1️⃣–5️⃣ on the announcement of a known post count; bots never count;
 * - one rating per person and post, the latest reaction wins; when the bot may manage messages it removes
 *   the person's previous keycap (the resulting remove event finds a different rating and leaves it);
 * - removing the reaction that holds the rating removes the rating (a removed keycap that no longer holds
 *   it changes nothing); remove-all removes every rating of the post, remove-emoji those of that keycap.
 */
export async function applyReactionEvent(
  ctx: RatingsContext,
  event: ReactionEvent,
  index: AnnouncementIndex,
  at: string = new Date().toISOString(),
  effects?: Pick<RatingEffects, 'recountNeeded'>,
): Promise<ReactionOutcome> {
  if (event.kind === 'remove-all') {
    const postId = await index.postIdOf(event.messageId);
    if (!postId) return { result: 'ignored', reason: 'not-an-announcement' };
    restoreOwnKeycaps(ctx, event, RATING_EMOJIS);
    const count = await removeRatings(ctx.db, postId);
    return count > 0 ? { result: 'removed', postId, count, needsRecount: false } : { result: 'ignored', reason: 'no-rating' };
  }

  const stars = keycapStars(event.emoji);
  if (stars === null) return { result: 'ignored', reason: 'not-a-keycap' };

  if (event.kind === 'remove-emoji') {
    const postId = await index.postIdOf(event.messageId);
    if (!postId) return { result: 'ignored', reason: 'not-an-announcement' };
    restoreOwnKeycaps(ctx, event, [KEYCAP_OF[stars]]);
    const count = await removeRatings(ctx.db, postId, stars);
    // Without Manage Messages people may hold other keycaps too: a recount lets those count again.
    return count > 0 ? { result: 'removed', postId, count, needsRecount: !event.canManageMessages } : { result: 'ignored', reason: 'no-rating' };
  }

  if (event.kind === 'remove') {
    // A bot never has a rating: nothing to look up.
    if (event.isBot === true) return { result: 'ignored', reason: 'bot' };
    const postId = await index.postIdOf(event.messageId);
    if (!postId) return { result: 'ignored', reason: 'not-an-announcement' };
    const removed = await removeRating(ctx.db, postId, event.userId, stars);
    return removed ? { result: 'removed', postId, count: 1, needsRecount: !event.canManageMessages } : { result: 'ignored', reason: 'no-rating' };
  }

  // add
  if (event.isBot === true) return { result: 'ignored', reason: 'bot' };
  const postId = await index.postIdOf(event.messageId);
  if (!postId) return { result: 'ignored', reason: 'not-an-announcement' };
  if (typeof event.isBot === 'function' && (await event.isBot())) return { result: 'ignored', reason: 'bot' };
  const previous = await getRating(ctx.db, postId, event.userId);
  if (previous?.stars === stars) return { result: 'unchanged', postId, stars };
  await setRating(ctx.db, postId, event.userId, stars, at);
  let removedPreviousReaction = false;
  if (previous && event.canManageMessages) {
    removedPreviousReaction = true;
    // Not awaited: the next events of this announcement need not wait for Discord. The remove event this
    // causes carries the old keycap, which no longer holds the rating, so the new rating stays.
    void ctx.discord.removeUserReaction(event.channelId, event.messageId, KEYCAP_OF[previous.stars], event.userId).catch((err: unknown) => {
      const known = err instanceof DiscordRequestError && [10008, 10003, 10014, 50001, 50013].includes(err.code);
      ctx.log[known ? 'info' : 'warn']({ err, postId, messageId: event.messageId, userId: event.userId }, 'could not remove the previous rating reaction (the recount settles it)');
      // A passing failure (429/5xx beyond the REST client's retries): a recount of the post removes it soon,
      // instead of leaving two keycaps on the announcement until the periodic recount.
      if (!known && effects) return Promise.resolve(effects.recountNeeded(postId)).catch((e: unknown) => ctx.log.warn({ err: e, postId }, 'could not schedule the recount'));
    });
  }
  return { result: 'rated', postId, stars, previous: previous?.stars ?? null, removedPreviousReaction };
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

/**
 * The in-process entry point for reaction events: one serial queue per announcement (so a fast 5→3 switch
 * always ends at 3), the announcement index, and the effects of a change.
 */
export class ReactionProcessor {
  readonly queue = new KeyedSerialQueue();
  readonly index: AnnouncementIndex;

  readonly #retryForMs: number;
  readonly #retryMaxMs: number;

  constructor(
    private readonly ctx: RatingsContext,
    private readonly effects: RatingEffects,
    options: { index?: AnnouncementIndex; retryForMs?: number; retryMaxMs?: number } = {},
  ) {
    this.index = options.index ?? new AnnouncementIndex(ctx.db);
    this.#retryForMs = options.retryForMs ?? 120_000;
    this.#retryMaxMs = options.retryMaxMs ?? 5_000;
  }

  /** Queues the event behind the earlier events of the same message; resolves with what it did. */
  submit(event: ReactionEvent): Promise<ReactionOutcome> {
    // Cheap rejections first, without queueing: other emoji never touch the database.
    if (event.kind !== 'remove-all' && keycapStars(event.emoji) === null) return Promise.resolve({ result: 'ignored', reason: 'not-a-keycap' });
    if ((event.kind === 'add' || event.kind === 'remove') && event.isBot === true) return Promise.resolve({ result: 'ignored', reason: 'bot' });
    return this.queue.run(event.messageId, async () => {
      const outcome = await this.#apply(event);
      if (outcome.result === 'rated' || outcome.result === 'removed') {
        logApplied(this.ctx, event, outcome);
        this.#effect(() => this.effects.ratingsChanged(outcome.postId), outcome.postId, 'announcement refresh');
        if (outcome.result === 'removed' && outcome.needsRecount) this.#effect(() => this.effects.recountNeeded(outcome.postId), outcome.postId, 'recount');
      }
      return outcome;
    });
  }

  /**
   * Applies an event, retrying with backoff (up to `retryForMs`) while it fails for another reason than a
   * Discord answer, such as the database being away: the event keeps its place in its announcement's queue,
   * so the events after it wait and everything is applied in order once the database answers again. Beyond
   * that the error is thrown (the listener logs it) and the periodic recount repairs the post.
   */
  async #apply(event: ReactionEvent): Promise<ReactionOutcome> {
    const deadline = Date.now() + this.#retryForMs;
    let wait = 100;
    for (let attempt = 1; ; attempt++) {
      try {
        const outcome = await applyReactionEvent(this.ctx, event, this.index, undefined, this.effects);
        if (attempt > 1) this.ctx.log.info({ messageId: event.messageId, attempts: attempt }, 'rating reaction applied after retrying');
        return outcome;
      } catch (err) {
        if (err instanceof DiscordRequestError || Date.now() + wait > deadline) throw err;
        if (attempt === 1) this.ctx.log.warn({ err, messageId: event.messageId, event: event.kind }, 'rating reaction not applied (database away?): retrying with backoff');
        await new Promise((r) => setTimeout(r, wait));
        wait = Math.min(this.#retryMaxMs, wait * 2);
      }
    }
  }

  /** Effects never hold up the next event and never fail it (Redis may be down: the recount repairs). */
  #effect(fn: () => Promise<void> | void, postId: string, what: string): void {
    Promise.resolve()
      .then(fn)
      .catch((err: unknown) => this.ctx.log.warn({ err, postId }, `could not schedule the ${what} after a rating change`));
  }

  idle(): Promise<void> {
    return this.queue.idle();
  }
}

function logApplied(ctx: RatingsContext, event: ReactionEvent, outcome: ReactionOutcome): void {
  ctx.log.debug({ event: event.kind, messageId: event.messageId, userId: 'userId' in event ? event.userId : undefined, outcome }, 'rating reaction applied');
}
