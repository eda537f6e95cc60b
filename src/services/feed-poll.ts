// Polling one feed: a conditional GET, new items as pending posts, edits, posts recognised under new keys
// (`matchItems`), the flood guard (`isFlood`), and failures counted with backoff and a pause.
import { ChannelType } from 'discord-api-types/v10';
import { canonicalLink } from '../feeds/canonical-link.ts';
import { FeedError } from '../feeds/errors.ts';
import { parseFeed } from '../feeds/parse.ts';
import type { PostDraft } from '../feeds/types.ts';
import type { PushLinks } from '../feeds/websub-discovery.ts';
import type { Db } from '../db/index.ts';
import { applyFilters, type FilterVerdict } from '../feeds/filter.ts';
import { floodNotice, pauseNotice } from '../render/feed-notices.ts';
import { threadName } from '../render/post.ts';
import { getFeed, recordFeedFailure, recordFeedSuccess, type Feed, type PollStats } from '../repositories/feeds.ts';
import { stableId } from '../repositories/ids.ts';
import { findFeedPostsByLinks, findStoredKeys, rekeyPost, upsertPostFromFeed, type KnownReason, type Post, type PostLink } from '../repositories/posts.ts';
import { fetchAndParse, newestFirst, postContent, unexpectedReason, type FeedContext, type FetchedFeed } from './feed-source.ts';

/** Consecutive failed polls after which a feed is paused (with one notice in its channel). */
export const PAUSE_AFTER_FAILURES = 5;
/**
 * A poll of a feed polled before that finds more new items than this, or more than half of a feed of at least
 * this many items, holds them all back (stored as known, one notice): see `isFlood`.
 */
export const FLOOD_LIMIT = 10;
/** A stored post and a feed item with the same link but publication dates further apart than this are two posts. */
export const RELINK_MAX_DATE_DRIFT_MS = 48 * 3600 * 1000;
/** Longest wait between polls of a failing feed. */
const MAX_BACKOFF_MS = 6 * 3600 * 1000;

export type PollResult =
  /** bad-delivery: a pushed body (WebSub) that is not a readable feed; logged, not counted as a failure of the feed. */
  | { status: 'skipped'; reason: 'not-found' | 'not-active' | 'backing-off' | 'bad-delivery' }
  | { status: 'not-modified' }
  /**
   * new: new posts queued for publishing; changed: edits; relinked: stored posts recognised by their link under a
   * new key (nothing published); held: new items stored as known by the flood guard (nothing published).
   */
  /** filtered: new items the feed's filters kept out (stored as skipped), present when there were any. */
  | { status: 'ok'; items: number; new: number; changed: number; relinked: number; held: number; filtered?: number }
  | { status: 'failed'; error: string; paused: boolean };

/** How long a feed with `failures` consecutive failures waits before the next poll. */
export function backoffMs(intervalSeconds: number, failures: number): number {
  if (failures <= 0) return 0;
  return Math.min(intervalSeconds * 1000 * 2 ** (failures - 1), MAX_BACKOFF_MS);
}

/**
 * Whether one poll found too many new items to announce them: more than FLOOD_LIMIT, or more than half of a
 * feed of at least FLOOD_LIMIT items. A blog publishes a few posts between two polls; a feed whose items are
 * (nearly) all new at once has changed how it names them (a move to another platform, new guids and links) or
 * was unreachable for a long time, and announcing them would flood the channel with posts it mostly already has.
 * FLOOD_LIMIT is also the largest backfill: the most blogcord ever publishes in one go on purpose.
 */
export function isFlood(fresh: number, items: number): boolean {
  return fresh > FLOOD_LIMIT || (items >= FLOOD_LIMIT && fresh * 2 > items);
}

export interface ItemMatch {
  /** Keys of the items that are new to the feed: neither stored nor recognised by their link. */
  fresh: Set<string>;
  /** Stored posts recognised by their link under a new key, and moved to it. */
  relinked: Array<{ postId: string; from: string; to: string }>;
}

const datesAgree = (a: string | null, b: string | null): boolean => !a || !b || Math.abs(Date.parse(a) - Date.parse(b)) <= RELINK_MAX_DATE_DRIFT_MS;

/**
 * Sorts a fetched feed's items into stored and new, recognising posts whose key changed (a blog that moved to
 * another platform or changed its guids). An item whose key the feed has not stored is a stored post of the same
 * feed when their links name the same article (`canonicalLink`), the post's own key is no longer in the feed
 * (else both are live items that share a link), and their publication dates, when both are known, are at most
 * 48 hours apart (a link blog may link one page twice, weeks apart). That post moves to the item's key and keeps
 * its id, so the item updates it (an edit when its text changed) and is never published again. When several
 * stored posts qualify, the announced one wins, then the first discovered; a post matches one item at most.
 */
export async function matchItems(ctx: { db: Db; log: FeedContext['log'] }, feed: Pick<Feed, 'id' | 'url'>, items: readonly PostDraft[]): Promise<ItemMatch> {
  const keys = items.map((d) => d.key);
  const stored = await findStoredKeys(ctx.db, feed.id, keys);
  const unseen = items.filter((d) => !stored.has(d.key));
  const fresh = new Set(unseen.map((d) => d.key));
  const relinked: ItemMatch['relinked'] = [];
  const linkOf = new Map(unseen.map((d) => [d.key, canonicalLink(d.url)]));
  const links = [...linkOf.values()].filter((link): link is string => link !== null);
  if (links.length === 0) return { fresh, relinked };
  const inFeed = new Set(keys);
  const byLink = new Map<string, PostLink[]>();
  for (const post of await findFeedPostsByLinks(ctx.db, feed.id, links)) {
    if (inFeed.has(post.guid)) continue;
    byLink.set(post.link, [...(byLink.get(post.link) ?? []), post]);
  }
  const rank = (p: PostLink) => (p.messageId ? 0 : 1);
  for (const list of byLink.values()) list.sort((a, b) => rank(a) - rank(b) || a.discoveredAt.localeCompare(b.discoveredAt) || a.id.localeCompare(b.id));
  for (const draft of unseen) {
    const link = linkOf.get(draft.key);
    const candidates = link ? byLink.get(link) : undefined;
    if (!fresh.has(draft.key) || !candidates) continue;
    const i = candidates.findIndex((p) => datesAgree(p.publishedAt, draft.publishedAt));
    if (i < 0) continue;
    const [post] = candidates.splice(i, 1);
    if (await rekeyPost(ctx.db, post!.id, feed.id, draft.key)) {
      fresh.delete(draft.key);
      relinked.push({ postId: post!.id, from: post!.guid, to: draft.key });
    }
  }
  if (relinked.length) {
    ctx.log.info(
      { feedId: feed.id, url: feed.url, relinked: relinked.length, posts: relinked.slice(0, 20) },
      'posts recognised by their link under new keys (the feed changed its guids)',
    );
  }
  return { fresh, relinked };
}

/**
 * Polls one feed: a conditional GET with the stored validators; new items become pending posts with a
 * publish job, changed items refresh their announcement; known items are never published again, also when the
 * blog changed their guids (`matchItems`). A flood of new items (`isFlood`) in a feed polled before is stored
 * without publishing anything, with a warning and one notice in the feed's channel.
 * A failure is counted (and backs off); the PAUSE_AFTER_FAILURES-th in a row pauses the feed and posts
 * one notice in its channel.
 */
export async function pollFeed(
  ctx: FeedContext,
  feedId: string,
  {
    force = false,
    at = new Date(),
    delivered,
    onLinks,
  }: {
    force?: boolean;
    at?: Date;
    /** A body a WebSub hub delivered for this feed: stored exactly like a fetched one, no download. */
    delivered?: { body: string };
    /** Told the WebSub hub and self links of a fetched feed (headers and document), after its items are stored. */
    onLinks?: (links: PushLinks) => void;
  } = {},
): Promise<PollResult> {
  const feed = await getFeed(ctx.db, feedId);
  if (!feed) return { status: 'skipped', reason: 'not-found' };
  if (feed.state !== 'active') return { status: 'skipped', reason: 'not-active' };
  if (delivered) return storeDelivery(ctx, feed, delivered.body);
  if (!force && feed.consecutiveFailures > 0 && feed.lastPolledAt) {
    // Scheduler ticks come every interval; skip ticks until the backoff has passed (10% slack for jitter).
    const elapsed = at.getTime() - Date.parse(feed.lastPolledAt);
    if (elapsed < backoffMs(ctx.config.feedPollIntervalSeconds, feed.consecutiveFailures) * 0.9) return { status: 'skipped', reason: 'backing-off' };
  }
  const log = ctx.log.child({ feedId, url: feed.url });
  const started = performance.now();
  const failed = (httpStatus: number | null, items: number | null = null): PollStats => ({
    outcome: 'failed',
    httpStatus,
    durationMs: performance.now() - started,
    items,
  });
  let result: FetchedFeed;
  try {
    result = await fetchAndParse(ctx, feed.url, { etag: feed.etag, lastModified: feed.lastModified });
  } catch (error) {
    if (error instanceof FeedError) return recordFailure(ctx, feed, error.message, failed(error.status ?? null));
    // Not a feed problem blogcord knows (a bug, a library throwing on a hostile item): still a failed poll,
    // counted with its reason (backoff and pause apply), never an endless silent retry.
    log.error({ err: error }, 'feed poll failed unexpectedly');
    return recordFailure(ctx, feed, unexpectedReason(error), failed(null));
  }
  try {
    const stored = await storePoll(ctx, feed, result, log, started);
    if (result.status === 'ok' && stored.status === 'ok') onLinks?.(result.feed.push);
    return stored;
  } catch (error) {
    log.error({ err: error }, 'feed poll failed while storing its items');
    // The database itself may be away: then recording the failure fails too, and the original error goes up.
    const stats = failed(result.status === 'ok' ? result.httpStatus : 304, result.status === 'ok' ? result.feed.items.length : null);
    const recorded = await recordFailure(ctx, feed, unexpectedReason(error), stats).catch(() => null);
    if (!recorded) throw error;
    return recorded;
  }
}

/**
 * A content distribution of the feed's hub, treated as a poll result (identity, edits, flood guard, exactly-once):
 * the feed's validators stay (the next poll is still conditional). A body that is not a feed is logged and dropped.
 */
async function storeDelivery(ctx: FeedContext, feed: Feed, body: string): Promise<PollResult> {
  const log = ctx.log.child({ feedId: feed.id, url: feed.url, push: true });
  let parsed: ReturnType<typeof parseFeed>;
  try {
    parsed = parseFeed(body, feed.url);
  } catch (error) {
    log.warn({ error: error instanceof Error ? error.message : String(error) }, 'a pushed delivery is not a readable feed; dropped');
    return { status: 'skipped', reason: 'bad-delivery' };
  }
  // Not a poll: the last poll's statistics stay as they are (started = null).
  return storePoll(ctx, feed, { status: 'ok', httpStatus: 200, feed: parsed, etag: feed.etag, lastModified: feed.lastModified }, log, null);
}

/** `started`: when the poll began (performance.now()), for its statistics; null for a pushed delivery (no poll). */
async function storePoll(ctx: FeedContext, feed: Feed, result: FetchedFeed, log: FeedContext['log'], started: number | null): Promise<PollResult> {
  if (result.status === 'not-modified') {
    await recordFeedSuccess(
      ctx.db,
      feed.id,
      started === null ? {} : { poll: { outcome: 'not-modified', httpStatus: 304, durationMs: performance.now() - started, items: null } },
    );
    return { status: 'not-modified' };
  }
  const ordered = newestFirst(result.feed.items);
  const match = await matchItems(ctx, feed, ordered);
  // The first poll of a feed never polled (a feed added by /feed add has been) publishes what it finds.
  const flood = feed.lastSuccessAt !== null && isFlood(match.fresh.size, countKeys(ordered));
  // Every item not seen before is a new post, whatever its date (a post drafted long ago may be published today).
  const stored = await storeItems(ctx, feed, ordered, () => !flood, 'flood');
  for (const post of stored.queued) {
    await ctx.jobs.enqueuePublish(post.id);
    log.info({ postId: post.id, title: post.title }, 'new post');
  }
  for (const post of stored.changed) {
    if (post.messageId) await ctx.jobs.refreshAnnouncement(post.id);
    log.info({ postId: post.id, title: post.title }, 'post edited in the feed');
  }
  await recordFeedSuccess(ctx.db, feed.id, {
    etag: result.etag,
    lastModified: result.lastModified,
    title: result.feed.title,
    ...(started === null
      ? {}
      : { poll: { outcome: 'ok' as const, httpStatus: result.httpStatus, durationMs: performance.now() - started, items: result.feed.items.length } }),
  });
  const held = flood ? stored.skipped : [];
  if (held.length) await holdBackFlood(ctx, feed, result.feed.title, held, result.feed.items.length);
  return {
    status: 'ok',
    items: result.feed.items.length,
    new: stored.queued.length,
    changed: stored.changed.length,
    relinked: match.relinked.length,
    held: held.length,
    ...(stored.filtered.length ? { filtered: stored.filtered.length } : {}),
  };
}

export const countKeys = (items: readonly PostDraft[]): number => new Set(items.map((d) => d.key)).size;

export interface StoredItems {
  /** New posts stored as pending, oldest first; queueing their publish jobs is the caller's part. */
  queued: Post[];
  /** New posts stored as known: never announced unless someone runs /publish. */
  skipped: Post[];
  /** Stored posts whose text changed in the feed (edits). */
  changed: Post[];
  /** New posts the feed's filters kept out: stored as skipped with the rule. */
  filtered: Post[];
}

/** Whether a new item passes the feed's filters (a filter that no longer parses lets everything through, and says so). */
function filterVerdict(feed: Feed, draft: PostDraft): FilterVerdict {
  try {
    return applyFilters(feed.options, draft);
  } catch {
    return { pass: true };
  }
}

/**
 * Records a fetched feed's items oldest first (so what is published goes out in the order it was written): a new
 * item becomes a pending post when `publish` says so, else a known one (recorded with `knownReason`: why it is not
 * announced); a stored item whose text changed is an edit.
 */
export async function storeItems(
  ctx: { db: Db },
  feed: Feed,
  ordered: readonly PostDraft[],
  publish: (draft: PostDraft) => boolean,
  knownReason: KnownReason,
): Promise<StoredItems> {
  const out: StoredItems = { queued: [], skipped: [], changed: [], filtered: [] };
  for (const draft of [...ordered].reverse()) {
    let state: 'pending' | 'known' | 'skipped' = publish(draft) ? 'pending' : 'known';
    let reason: string | null = state === 'known' ? knownReason : null;
    if (state === 'pending') {
      // A new post the feed's filters keep out is stored as skipped with the rule (`/publish url` still publishes it).
      const verdict = filterVerdict(feed, draft);
      if (!verdict.pass) [state, reason] = ['skipped', verdict.rule];
    }
    const { post, status } = await upsertPostFromFeed(ctx.db, feed, postContent(draft), state, reason);
    if (status === 'new') (state === 'pending' ? out.queued : state === 'skipped' ? out.filtered : out.skipped).push(post);
    else if (status === 'changed') out.changed.push(post);
  }
  return out;
}

/**
 * The flood guard's word once the held posts are stored: a warning in the log and one notice in the feed's channel.
 * `announced`: how many new posts were published anyway (a backfill).
 */
export async function holdBackFlood(
  ctx: FeedContext,
  feed: Feed,
  feedTitle: string | null,
  held: readonly Post[],
  items: number,
  announced = 0,
): Promise<void> {
  ctx.log.warn(
    { feedId: feed.id, url: feed.url, count: held.length, announced, items },
    'flood guard: too many new items at once; stored without announcing them',
  );
  await postFeedNotice(
    ctx,
    feed,
    `Feed held back: ${feedTitle ?? feed.title ?? feed.url}`,
    floodNotice(feed.url, held, announced),
    `bf${stableId('flood', feed.id, ...held.map((p) => p.id)).slice(0, 20)}`,
  );
}

async function recordFailure(ctx: FeedContext, feed: Feed, message: string, poll: PollStats): Promise<PollResult> {
  const now = await recordFeedFailure(ctx.db, feed.id, message, PAUSE_AFTER_FAILURES, poll);
  const paused = now?.state === 'paused';
  ctx.log.warn({ feedId: feed.id, url: feed.url, failures: now?.consecutiveFailures, paused, error: message }, 'feed poll failed');
  // Exactly the failure that paused it posts the notice (a later one, e.g. of an overlapping poll, does not).
  if (paused && now.consecutiveFailures === PAUSE_AFTER_FAILURES) {
    await ctx.jobs.unschedulePolls(feed.id).catch((err) => ctx.log.warn({ err }, 'could not remove the poll scheduler of a paused feed'));
    await postFeedNotice(
      ctx,
      feed,
      `Feed paused: ${feed.title ?? feed.url}`,
      pauseNotice(feed.url, feed.channelId, message, PAUSE_AFTER_FAILURES),
      `bp${stableId('pause', feed.id, now.lastPolledAt ?? '').slice(0, 20)}`,
    );
  }
  return { status: 'failed', error: message, paused };
}

/** Tells a feed's channel about a problem of the feed: a message, or in a forum a forum post named `forumTitle`. */
async function postFeedNotice(ctx: FeedContext, feed: Feed, forumTitle: string, content: string, nonce: string): Promise<void> {
  try {
    const channel = await ctx.discord.getChannel(feed.channelId);
    if (channel && (channel.type === ChannelType.GuildForum || channel.type === ChannelType.GuildMedia)) {
      // A forum takes no plain messages: the notice is a forum post of its own.
      await ctx.discord.createForumPost(feed.channelId, threadName(forumTitle), { content, allowed_mentions: { parse: [] } });
    } else {
      await ctx.discord.createMessage(feed.channelId, { content, allowed_mentions: { parse: [] }, nonce, enforce_nonce: true });
    }
  } catch (err) {
    ctx.log.warn({ err, feedId: feed.id }, 'could not post a notice about the feed');
  }
}
