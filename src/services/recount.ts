// Recount: make the stored ratings of recent announcements match the keycap reactions Discord shows,
// exactly. It repairs whatever the gateway did not deliver (downtime, a missed event) and settles people
// who hold several keycaps.
import { KEYCAP_OF, type Stars } from '../domain/rating.ts';
import type { AppContext } from '../context.ts';
import { getPost, listAnnouncedPostsSince, type Post } from '../repositories/posts.ts';
import { listRatings, removeRatingIfUnchanged, setRatingIfUnchanged, type RatingSnapshot } from '../repositories/ratings.ts';
import { isDenied, isGone, REACTION_KINDS, type DiscordPort } from './discord-port.ts';
import { forgottenUsers } from './privacy.ts';

export type RecountContext = Pick<AppContext, 'db' | 'discord' | 'log'>;

const STARS: readonly Stars[] = [1, 2, 3, 4, 5];
const PAGE = 100;

export interface PostRecount {
  postId: string;
  /** 'gone': the announcement (or its channel) no longer exists or cannot be read; nothing was changed. */
  status: 'recounted' | 'gone' | 'not-announced';
  /** People (not bots) holding at least one keycap. */
  reactors: number;
  added: number;
  updated: number;
  removed: number;
  /** Extra keycaps the bot removed from people holding several. */
  reactionsRemoved: number;
  /** The ratings changed (the announcement needs a refresh). */
  changed: boolean;
}

export interface RecountSummary {
  posts: number;
  changedPostIds: string[];
  gone: number;
  failed: number;
  added: number;
  updated: number;
  removed: number;
  reactionsRemoved: number;
  ms: number;
}

/** Per channel: may the bot remove other people's reactions there? Learned from the first refusal (50013). */
export type ManageMemo = Map<string, boolean>;

/**
 * Every person (bots left out) holding each keycap on a message, read in full through REST: pages of up
 * to 100 users in ascending id order, each page after the last id of the one before. Both reactor lists of
 * each keycap are read (normal and super reactions: Discord lists them apart), and count the same.
 */
export async function readKeycapReactors(
  discord: DiscordPort,
  channelId: string,
  messageId: string,
  options: { pageSize?: number } = {},
): Promise<Map<string, Set<Stars>>> {
  const botId = await discord.botUserId();
  const limit = options.pageSize ?? PAGE;
  const holders = new Map<string, Set<Stars>>();
  for (const stars of STARS)
    for (const type of REACTION_KINDS) {
      let after: string | undefined;
      for (;;) {
        const page = await discord.listReactors(channelId, messageId, KEYCAP_OF[stars], { ...(after ? { after } : {}), limit, type });
        for (const user of page) {
          if (user.bot || user.id === botId) continue;
          let set = holders.get(user.id);
          if (!set) holders.set(user.id, (set = new Set()));
          set.add(stars);
        }
        if (page.length < limit) break;
        const last = page[page.length - 1]!.id;
        // Ascending ids are the contract; a page that does not move forward would loop for ever.
        if (after !== undefined && BigInt(last) <= BigInt(after))
          throw new Error(`reactor pages of ${KEYCAP_OF[stars]} on message ${messageId} do not advance past ${after}`);
        after = last;
      }
    }
  return holders;
}

/**
 * The rating a person holding `keycaps` ends up with: their stored rating when they still hold its keycap
 * (it is the newest the bot knows of: every add event made it), else the highest keycap they hold (the
 * reactor lists carry no times, so there is no newer one to know of; the highest is the choice).
 */
export function settledStars(keycaps: ReadonlySet<Stars>, stored: Stars | null): Stars {
  if (stored !== null && keycaps.has(stored)) return stored;
  return Math.max(...keycaps) as Stars;
}

/**
 * Recounts one announced post. The stored ratings are read before Discord is, and every write is
 * conditional on the rating still being what was read, so a reaction event applied meanwhile is never
 * overwritten by this older view. Running it twice changes nothing the second time.
 */
export async function recountPost(
  ctx: RecountContext,
  post: Post,
  options: { manage?: ManageMemo; at?: string; pageSize?: number } = {},
): Promise<PostRecount> {
  // A reaction event that rated someone while this recount ran wins (the conditional writes), but the view the
  // recount acted on is then stale: a person it saw with one keycap may hold two now (the event found no
  // previous rating, so it removed nothing). Run it again, a few times at most.
  let result = await recountPostOnce(ctx, post, options);
  for (let round = 1; result.raced && round < 3; round++) {
    const again = await recountPostOnce(ctx, post, options);
    result = {
      ...again,
      added: result.added + again.added,
      updated: result.updated + again.updated,
      removed: result.removed + again.removed,
      reactionsRemoved: result.reactionsRemoved + again.reactionsRemoved,
      changed: result.changed || again.changed,
    };
  }
  delete result.raced;
  return result;
}

async function recountPostOnce(
  ctx: RecountContext,
  post: Post,
  options: { manage?: ManageMemo; at?: string; pageSize?: number },
): Promise<PostRecount & { raced?: boolean }> {
  const result: PostRecount & { raced?: boolean } = {
    postId: post.id,
    status: 'recounted',
    reactors: 0,
    added: 0,
    updated: 0,
    removed: 0,
    reactionsRemoved: 0,
    changed: false,
  };
  if (!post.messageId || !post.channelId) return { ...result, status: 'not-announced' };
  const channelId = post.channelId;
  const messageId = post.messageId;
  const manage = options.manage ?? new Map<string, boolean>();
  const at = options.at ?? new Date().toISOString();

  const stored = new Map<string, NonNullable<RatingSnapshot>>(
    (await listRatings(ctx.db, post.id)).map((r) => [r.userId, { stars: r.stars, updatedAt: r.updatedAt }]),
  );
  let holders: Map<string, Set<Stars>>;
  try {
    holders = await readKeycapReactors(ctx.discord, channelId, messageId, { ...(options.pageSize ? { pageSize: options.pageSize } : {}) });
  } catch (err) {
    if (isGone(err) || isDenied(err)) {
      ctx.log.info(
        { postId: post.id, messageId, err: (err as Error).message },
        'recount: the announcement cannot be read (deleted or no access); its ratings are kept',
      );
      return { ...result, status: 'gone' };
    }
    throw err;
  }
  // Members forgotten in this server (/privacy forget) never count, whatever keycaps they still hold.
  for (const userId of await forgottenUsers(ctx.db, post.guildId, [...holders.keys()])) holders.delete(userId);
  result.reactors = holders.size;

  const people = new Set([...stored.keys(), ...holders.keys()]);
  for (const userId of people) {
    const keycaps = holders.get(userId);
    const seen = stored.get(userId) ?? null;
    if (!keycaps || keycaps.size === 0) {
      // Lost to a live event: that event rated with the person's newest keycap (and removed the old one).
      if (seen && (await removeRatingIfUnchanged(ctx.db, post.id, userId, seen))) result.removed++;
      continue;
    }
    const target = settledStars(keycaps, seen?.stars ?? null);
    if (!seen) {
      if (await setRatingIfUnchanged(ctx.db, post.id, userId, target, at, null)) result.added++;
      else result.raced = true;
    } else if (seen.stars !== target) {
      if (await setRatingIfUnchanged(ctx.db, post.id, userId, target, at, seen)) result.updated++;
      else result.raced = true;
    }
    if (keycaps.size > 1 && manage.get(channelId) !== false) {
      for (const extra of keycaps) {
        if (extra === target) continue;
        try {
          await ctx.discord.removeUserReaction(channelId, messageId, KEYCAP_OF[extra], userId);
          manage.set(channelId, true);
          result.reactionsRemoved++;
        } catch (err) {
          if (!isDenied(err)) throw err;
          manage.set(channelId, false);
          ctx.log.debug({ postId: post.id, channelId }, 'recount: no Manage Messages here; extra keycaps stay');
          break;
        }
      }
    }
  }
  result.changed = result.added + result.updated + result.removed > 0;
  if (result.changed || result.reactionsRemoved) ctx.log.info({ ...result }, 'recount: ratings brought in line with the reactions');
  return result;
}

/** Recounts one post by id (the on-demand job). */
export async function recountPostById(ctx: RecountContext, postId: string): Promise<PostRecount> {
  const post = await getPost(ctx.db, postId);
  if (!post) return { postId, status: 'not-announced', reactors: 0, added: 0, updated: 0, removed: 0, reactionsRemoved: 0, changed: false };
  return recountPost(ctx, post);
}

/**
 * Recounts every post announced within the window (`windowDays`, SYNC_WINDOW_DAYS), one after another.
 * A post that fails is logged and counted; the others still run. `onChanged` hears each changed post.
 */
export async function recountRecent(
  ctx: RecountContext,
  options: { windowDays: number; now?: Date; onChanged?: (postId: string) => Promise<void> | void; pageSize?: number },
): Promise<RecountSummary> {
  const started = Date.now();
  const now = options.now ?? new Date();
  const since = new Date(now.getTime() - options.windowDays * 86_400_000).toISOString();
  const posts = await listAnnouncedPostsSince(ctx.db, since);
  const manage: ManageMemo = new Map();
  const summary: RecountSummary = { posts: posts.length, changedPostIds: [], gone: 0, failed: 0, added: 0, updated: 0, removed: 0, reactionsRemoved: 0, ms: 0 };
  for (const post of posts) {
    try {
      const r = await recountPost(ctx, post, { manage, ...(options.pageSize ? { pageSize: options.pageSize } : {}) });
      if (r.status === 'gone') summary.gone++;
      summary.added += r.added;
      summary.updated += r.updated;
      summary.removed += r.removed;
      summary.reactionsRemoved += r.reactionsRemoved;
      if (r.changed) {
        summary.changedPostIds.push(post.id);
        try {
          await options.onChanged?.(post.id);
        } catch (err) {
          ctx.log.warn({ err, postId: post.id }, 'recount: could not schedule the announcement refresh');
        }
      }
    } catch (err) {
      summary.failed++;
      ctx.log.warn({ err, postId: post.id }, 'recount of a post failed (the next recount tries again)');
    }
  }
  summary.ms = Date.now() - started;
  return summary;
}
