// Ratings from keycap reactions: the rules, independent of discord.js and of batching. The listeners translate
// gateway events into `ReactionEvent`s; the ReactionProcessor (`reaction-processor.ts`) batches them and applies
// these rules: `precheck` before the database, `writeReactions` in a transaction, `followUp` after the commit.
import { KEYCAPS, KEYCAP_OF, keycapStars, type EmojiLike, type Stars } from '../domain/rating.ts';
import type { Db, RootDb } from '../db/index.ts';
import type { Logger } from '../logger.ts';
import { getRatingsOf, removeRatings, writeRatings, type Rating, type RatingKey } from '../repositories/ratings.ts';
import { isDenied, isGone, type DiscordPort } from './discord-port.ts';
import { forgottenRaters } from './privacy.ts';

// The rules:
// - only keycaps 1️⃣–5️⃣ on the announcement of a known post count; bots never count;
// - one rating per person and post, the latest reaction wins; when the bot may manage messages it removes
//   the person's previous keycap (the resulting remove event finds a different rating and leaves it);
// - removing the reaction that holds the rating removes the rating (a removed keycap that no longer holds
//   it changes nothing); remove-all removes every rating of the post, remove-emoji those of that keycap.

/**
 * Whether the bot may remove other people's reactions in the event's channel (Manage Messages). A function is asked
 * only when the answer matters (a switch of keycaps, a removal), when its batch is written: working it out costs
 * discord.js a walk over the bot's roles and the channel's overwrites, and most events (a first vote) never need it.
 */
export type ManageMessages = boolean | (() => boolean);

const mayManageMessages = (m: ManageMessages): boolean => (typeof m === 'function' ? m() : m);

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
      canManageMessages: ManageMessages;
    }
  | {
      kind: 'remove';
      messageId: string;
      channelId: string;
      userId: string;
      emoji: EmojiLike;
      isBot?: boolean;
      canManageMessages: ManageMessages;
      /**
       * A person can hold a keycap twice, as a normal and as a super reaction, and the event takes one of them
       * away: true when the other may still be there (someone holds that kind of the keycap, or the message is
       * not cached), so a recount settles whether the rating stays.
       */
      otherKindMayRemain?: boolean;
    }
  | { kind: 'remove-all'; messageId: string; channelId: string }
  | { kind: 'remove-emoji'; messageId: string; channelId: string; emoji: EmojiLike; canManageMessages: ManageMessages };

export type ReactionOutcome =
  | { result: 'ignored'; reason: 'not-a-keycap' | 'bot' | 'not-an-announcement' | 'no-rating' | 'forgotten' }
  | { result: 'unchanged'; postId: string; stars: Stars }
  | { result: 'rated'; postId: string; stars: Stars; previous: Stars | null; removedPreviousReaction: boolean }
  | { result: 'removed'; postId: string; count: number; needsRecount: boolean };

/** What the rating rules need. */
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
 * The checks that need no database: other emoji (on every kind but remove-all) and reactors known to be
 * bots never count.
 */
export function precheck(event: ReactionEvent): ReactionOutcome | null {
  if (event.kind !== 'remove-all' && keycapStars(event.emoji) === null) return { result: 'ignored', reason: 'not-a-keycap' };
  if ((event.kind === 'add' || event.kind === 'remove') && event.isBot === true) return { result: 'ignored', reason: 'bot' };
  return null;
}

/** An event that passed `precheck`, on the announcement of `postId`, by someone who is not a bot. */
export interface RuleInput {
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
export async function writeReactions(db: Db, inputs: readonly RuleInput[]): Promise<ReactionOutcome[]> {
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
          ? { result: 'removed', postId, count, needsRecount: event.kind === 'remove-emoji' && !mayManageMessages(event.canManageMessages) }
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
      outcomes.push({ result: 'removed', postId, count: 1, needsRecount: !mayManageMessages(event.canManageMessages) || event.otherKindMayRemain === true });
      continue;
    }
    if (current?.stars === stars) {
      outcomes.push({ result: 'unchanged', postId, stars });
      continue;
    }
    state.set(k, { postId, userId: event.userId, stars, updatedAt: at });
    dirty.set(k, { postId, userId: event.userId });
    outcomes.push({
      result: 'rated',
      postId,
      stars,
      previous: current?.stars ?? null,
      removedPreviousReaction: current !== null && mayManageMessages(event.canManageMessages),
    });
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
export function followUp(
  ctx: RatingsContext,
  event: ReactionEvent,
  postId: string,
  outcome: ReactionOutcome,
  effects?: Pick<RatingEffects, 'recountNeeded'>,
): void {
  if (event.kind === 'remove-all') return restoreOwnKeycaps(ctx, event, KEYCAPS);
  if (event.kind === 'remove-emoji') return restoreOwnKeycaps(ctx, event, [KEYCAP_OF[keycapStars(event.emoji)!]]);
  if (event.kind !== 'add' || outcome.result !== 'rated' || !outcome.removedPreviousReaction || outcome.previous === null) return;
  void ctx.discord.removeUserReaction(event.channelId, event.messageId, KEYCAP_OF[outcome.previous], event.userId).catch((err: unknown) => {
    const known = isGone(err) || isDenied(err);
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

export function logApplied(ctx: RatingsContext, event: ReactionEvent, outcome: ReactionOutcome): void {
  ctx.log.debug({ event: event.kind, messageId: event.messageId, userId: 'userId' in event ? event.userId : undefined, outcome }, 'rating reaction applied');
}
