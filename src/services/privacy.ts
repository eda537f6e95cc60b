// Member privacy: how a member appears on the web (named, anonymous, hidden), what is stored about them, and
// the erasure of a member ("/privacy forget"). The choice is applied where the web answer is built
// (`presentForWeb`), so it holds at once for everything stored and for the future; a forgotten member is kept
// out of ratings by a per-server list of keyed hashes (`forgottenRaters`, `forgottenUsers`).
import { KEYCAPS } from '../domain/rating.ts';
import { createHmac } from 'node:crypto';
import type { Db } from '../db/index.ts';
import type { Logger } from '../logger.ts';
import type { Comment } from '../repositories/comments.ts';
import {
  eraseMember,
  forgottenHashes,
  getAppearance,
  getAppearances,
  getMemberFootprint,
  getPrivacySecret,
  isAppearance,
  listForgottenHashes,
  postsInGuildsWithForgotten,
  setAppearance,
  type Appearance,
  type MemberFootprint,
} from '../repositories/privacy.ts';
import { isDenied, isGone, type DiscordPort } from './discord-port.ts';

export { APPEARANCES, isAppearance, type Appearance } from '../repositories/privacy.ts';

/** The name the web shows for a member who chose to be anonymous. */
export const ANONYMOUS_NAME = 'A member';

/** The keyed hash that stands for a member of a server on the list of forgotten members (never the id itself). */
export function memberHash(secret: string, guildId: string, userId: string): string {
  return createHmac('sha256', secret).update(`member\u0000${guildId}\u0000${userId}`).digest('hex');
}

// The hashes of the people a busy server's rating batches see again and again, kept for the one secret in use
// (an HMAC costs microseconds; a batch of 2,000 distinct voters in a server with forgotten members paid ~20 ms).
const HASH_CACHE_MAX = 50_000;
const hashCache = { secret: '', hashes: new Map<string, string>() };
function cachedMemberHash(secret: string, guildId: string, userId: string): string {
  if (hashCache.secret !== secret) {
    hashCache.secret = secret;
    hashCache.hashes.clear();
  }
  const key = `${guildId}:${userId}`;
  let hash = hashCache.hashes.get(key);
  if (hash === undefined) {
    hash = memberHash(secret, guildId, userId);
    if (hashCache.hashes.size >= HASH_CACHE_MAX) hashCache.hashes.delete(hashCache.hashes.keys().next().value!);
    hashCache.hashes.set(key, hash);
  }
  return hash;
}

/** An anonymous member's pseudonym in one post: the same in that post, unrelated from one post to another. */
export function pseudonymOf(secret: string, postId: string, userId: string): string {
  return createHmac('sha256', secret).update(`pseudonym\u0000${postId}\u0000${userId}`).digest('hex').slice(0, 12);
}

/** A comment as the web serves it: `appearance` set where the author chose anonymous or hidden. */
export type WebComment = Comment & { appearance?: Exclude<Appearance, 'named'>; pseudonym?: string };

/**
 * The comment list the web is about to serve, with each author's choice applied: a named author unchanged; an
 * anonymous one as "A member" with a per-post pseudonym (and an id that is that pseudonym, so mentions of them
 * do not resolve to a name); a hidden one as a placeholder that keeps only the id, the reply parent and the
 * creation time (so replies to it keep their parent). Tombstones are left as they are.
 */
export async function presentForWeb(db: Db, post: { id: string; guildId: string }, comments: readonly Comment[]): Promise<WebComment[]> {
  const choices = await getAppearances(
    db,
    post.guildId,
    comments.filter((c) => !c.deletedAt).map((c) => c.authorId),
  );
  if (choices.size === 0) return [...comments];
  const secret = await getPrivacySecret(db);
  return comments.map((c): WebComment => {
    const show = c.deletedAt ? undefined : choices.get(c.authorId);
    if (show === 'hidden')
      return { ...c, authorId: '', authorName: '', authorAvatar: null, content: '', attachments: [], editedAt: null, appearance: 'hidden' };
    if (show === 'anonymous') {
      const pseudonym = pseudonymOf(secret, post.id, c.authorId);
      return { ...c, authorId: `anonymous:${pseudonym}`, authorName: ANONYMOUS_NAME, authorAvatar: null, appearance: 'anonymous', pseudonym };
    }
    return c;
  });
}

// ------------------------------------------------------------------ choosing

export async function chooseAppearance(db: Db, guildId: string, userId: string, show: Appearance, at = new Date().toISOString()): Promise<void> {
  if (!isAppearance(show)) throw new RangeError(`unknown appearance ${String(show)}`);
  await setAppearance(db, guildId, userId, show, at);
}

export interface PrivacyStatus extends MemberFootprint {
  appearance: Appearance;
  /** The member ran `/privacy forget` in this server: their reactions no longer count here. */
  forgotten: boolean;
}

export async function privacyStatus(db: Db, guildId: string, userId: string): Promise<PrivacyStatus> {
  const [appearance, footprint, forgotten] = await Promise.all([
    getAppearance(db, guildId, userId),
    getMemberFootprint(db, guildId, userId),
    forgottenUsers(db, guildId, [userId]),
  ]);
  return { appearance, ...footprint, forgotten: forgotten.has(userId) };
}

// ------------------------------------------------------------------ forgotten members

/** Of these (post, person) pairs, the keys `${postId}:${userId}` of people forgotten in the post's server (ratings and comments). */
export async function forgottenRaters(db: Db, pairs: ReadonlyArray<{ postId: string; userId: string }>): Promise<Set<string>> {
  const out = new Set<string>();
  if (pairs.length === 0) return out;
  const guildOf = await postsInGuildsWithForgotten(
    db,
    pairs.map((p) => p.postId),
  );
  if (guildOf.size === 0) return out;
  const byGuild = new Map<string, Set<string>>();
  for (const p of pairs) {
    const g = guildOf.get(p.postId);
    if (g !== undefined) (byGuild.get(g) ?? byGuild.set(g, new Set()).get(g)!).add(p.userId);
  }
  const forgottenByGuild = new Map<string, Set<string>>();
  for (const [guildId, users] of byGuild) forgottenByGuild.set(guildId, await forgottenUsers(db, guildId, [...users]));
  for (const p of pairs) {
    const g = guildOf.get(p.postId);
    if (g !== undefined && forgottenByGuild.get(g)!.has(p.userId)) out.add(`${p.postId}:${p.userId}`);
  }
  return out;
}

/**
 * The comments of these that the mirror may store: none by a member forgotten in the post's server (a message
 * of theirs read by catch-up after downtime, an edit, or a new one: /privacy forget means "stop keeping me").
 */
export async function withoutForgottenAuthors<C extends { postId: string; authorId: string }>(db: Db, comments: readonly C[]): Promise<C[]> {
  const forgotten = await forgottenRaters(
    db,
    comments.map((c) => ({ postId: c.postId, userId: c.authorId })),
  );
  return forgotten.size === 0 ? [...comments] : comments.filter((c) => !forgotten.has(`${c.postId}:${c.authorId}`));
}

/** Which of these people are forgotten in the server. */
export async function forgottenUsers(db: Db, guildId: string, userIds: readonly string[]): Promise<Set<string>> {
  if (userIds.length === 0) return new Set();
  const secret = await getPrivacySecret(db);
  const hashOf = new Map([...new Set(userIds)].map((id) => [cachedMemberHash(secret, guildId, id), id]));
  // Many people (a batch, a recount): the server's list, matched here; a few: looked up by their hashes.
  const found = hashOf.size > 20 ? await listForgottenHashes(db, guildId) : await forgottenHashes(db, guildId, [...hashOf.keys()]);
  return new Set([...hashOf].filter(([h]) => found.has(h)).map(([, id]) => id));
}

export interface ForgetResult {
  /** Comments whose text, name and attachments were erased (now tombstones). */
  comments: number;
  attachments: number;
  /** Earlier tombstones that still carried the member's id. */
  tombstones: number;
  ratings: number;
  /** Keycap reactions of the member the bot removed from announcements. */
  reactionsRemoved: number;
  /** Keycap reactions the bot could not remove (no Manage Messages, or Discord refused): they no longer count all the same. */
  reactionsLeft: number;
}

/**
 * `/privacy forget`: erases the member's comments, attachments, name and ratings in this server (one
 * transaction, with their hash added to the forgotten list), then removes their keycap reactions from the
 * announcements where the bot may. `changed` hears each post whose announcement needs a refresh.
 */
export async function forgetMember(
  // Without `discord` (the operator's CLI run without a token) no reaction is removed: each counts as left.
  ctx: { db: Db; log: Logger } & { discord?: Pick<DiscordPort, 'removeUserReaction'> },
  guildId: string,
  userId: string,
  options: { at?: string; changed?: (postId: string) => Promise<void> | void } = {},
): Promise<ForgetResult> {
  const at = options.at ?? new Date().toISOString();
  const secret = await getPrivacySecret(ctx.db);
  const erased = await eraseMember(ctx.db, guildId, userId, memberHash(secret, guildId, userId), at);
  const result: ForgetResult = {
    comments: erased.comments,
    attachments: erased.attachments,
    tombstones: erased.tombstones,
    ratings: erased.ratings,
    reactionsRemoved: 0,
    reactionsLeft: 0,
  };
  const deniedChannels = new Set<string>();
  for (const r of erased.erasedRatings) {
    const emoji = KEYCAPS[r.stars - 1];
    if (!r.channelId || !r.messageId || !emoji) continue;
    if (!ctx.discord || deniedChannels.has(r.channelId)) {
      result.reactionsLeft++;
      continue;
    }
    try {
      await ctx.discord.removeUserReaction(r.channelId, r.messageId, emoji, userId);
      result.reactionsRemoved++;
    } catch (err) {
      if (isGone(err)) continue;
      result.reactionsLeft++;
      if (isDenied(err)) deniedChannels.add(r.channelId);
      else ctx.log.warn({ err, postId: r.postId }, 'privacy forget: could not remove a rating reaction (it no longer counts)');
    }
  }
  for (const postId of erased.postIds) {
    try {
      await options.changed?.(postId);
    } catch (err) {
      ctx.log.warn({ err, postId }, 'privacy forget: could not schedule the announcement refresh');
    }
  }
  ctx.log.info(
    { guildId, comments: result.comments, ratings: result.ratings, reactionsRemoved: result.reactionsRemoved, reactionsLeft: result.reactionsLeft },
    'a member was forgotten',
  );
  return result;
}
