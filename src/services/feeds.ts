// Following feeds: add (fetch + parse before saving), remove, list, poll, and publishing one item on demand.
// Queue work goes through `Jobs` (src/services/jobs.ts, implemented over BullMQ in src/jobs/), so services stay below jobs.
import { ChannelType } from 'discord-api-types/v10';
import type { AppContext } from '../context.ts';
import type { Jobs } from './jobs.ts';
import { canonicalLink } from '../feeds/canonical-link.ts';
import { FeedError } from '../feeds/errors.ts';
import { checkFeedUrl, fetchFeed } from '../feeds/fetch.ts';
import { parseFeed } from '../feeds/parse.ts';
import type { FetchFeedOptions, ParsedFeed, PostDraft } from '../feeds/types.ts';
import { USER_AGENT } from '../feeds/user-agent.ts';
import { withTransaction, type Db } from '../db/index.ts';
import { UserError } from '../errors.ts';
import { escapeMarkdown, plainText } from '../render/markdown.ts';
import { fitLines } from '../render/digest.ts';
import { cutText, shownUrl, threadName } from '../render/post.ts';
import {
  findFeedByUrl,
  getFeed,
  listFeeds,
  recordFeedFailure,
  recordFeedSuccess,
  removeFeed as removeFeedRow,
  upsertFeed,
  type Feed,
} from '../repositories/feeds.ts';
import { stableId } from '../repositories/ids.ts';
import {
  countPostStatesByFeed,
  findFeedPostsByLinks,
  findGuildPostsByUrl,
  findStoredKeys,
  getPost,
  listAnnouncedPostIdsOfFeed,
  listPosts,
  rekeyPost,
  resetPublishing,
  upsertPostFromFeed,
  type Post,
  type PostContent,
  type PostLink,
  type PublishState,
} from '../repositories/posts.ts';
import { announcementLink } from './publish.ts';

/** What the feed services need from the job queues (the context's `jobs`). */
export type FeedJobs = Pick<Jobs, 'enqueuePublish' | 'schedulePolls' | 'unschedulePolls' | 'refreshAnnouncement'>;

export type FeedContext = Pick<AppContext, 'db' | 'discord' | 'log' | 'config'>;

export const MAX_BACKFILL = 10;
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

export function fetchOptions(config: FeedContext['config']): FetchFeedOptions {
  return {
    allowPrivateNetwork: config.feedAllowPrivateNetwork,
    timeoutMs: config.feedTimeoutSeconds * 1000,
    maxBytes: config.feedMaxBytes,
    userAgent: USER_AGENT,
  };
}

/** A feed problem as an answer for the person who asked. */
export function feedUserError(error: FeedError): UserError {
  const unmentioned = error.suggestions.filter((u) => !error.message.includes(u));
  const tips = unmentioned.length ? `\nFeeds found on that page: ${unmentioned.slice(0, 3).join(' · ')}` : '';
  return new UserError(`${error.message}${tips}`, `feed-${error.code}`, { url: error.url });
}

/**
 * A failure that is not a FeedError (a bug, or a library throwing on one hostile item) as a one-line reason for
 * the person who asked and for /feed list: it is counted like any other failure, never swallowed.
 */
export function unexpectedReason(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return `blogcord could not process the feed (${cutText(text, 200)})`;
}

/**
 * The feed's items newest first: by date, the feed's order breaking ties. An undated item keeps its place in the
 * feed's order (newest first by convention): it counts as dated like the item above it, the newest when none is.
 */
export function newestFirst(items: readonly PostDraft[]): PostDraft[] {
  let above = Infinity;
  const dated = items.map((item, i) => {
    const t = item.publishedAt ? Date.parse(item.publishedAt) : NaN;
    if (!Number.isNaN(t)) above = t;
    return { item, i, t: Number.isNaN(t) ? above : t };
  });
  return dated.sort((a, b) => (a.t === b.t ? 0 : b.t - a.t) || a.i - b.i).map((d) => d.item);
}

/** A parsed item as the repository stores it (the summary, else the full content, is what gets rendered). */
export function postContent(draft: PostDraft): PostContent {
  const html = draft.summaryHtml?.trim() ? draft.summaryHtml : draft.contentHtml;
  return {
    key: draft.key,
    url: draft.url,
    title: draft.title,
    author: draft.author,
    publishedAt: draft.publishedAt,
    summaryHtml: html,
    searchText: `${draft.title}\n${plainText(html)}`,
    imageUrl: draft.imageUrl,
    contentHash: draft.contentHash,
  };
}

async function fetchAndParse(ctx: FeedContext, url: string, validators: { etag?: string | null; lastModified?: string | null } = {}) {
  const fetched = await fetchFeed(url, validators, fetchOptions(ctx.config));
  if (fetched.status === 'not-modified') return { status: 'not-modified' as const };
  const feed = parseFeed(fetched.body, fetched.finalUrl);
  return { status: 'ok' as const, feed, etag: fetched.etag, lastModified: fetched.lastModified };
}

function normaliseUrl(ctx: FeedContext, input: string): string {
  try {
    return checkFeedUrl(input, ctx.config.feedAllowPrivateNetwork).toString();
  } catch (error) {
    if (error instanceof FeedError) throw feedUserError(error);
    throw error;
  }
}

export interface AddFeedResult {
  feed: Feed;
  created: boolean;
  /** Whether a paused or removed feed was resumed. */
  resumed: boolean;
  parsed: Pick<ParsedFeed, 'title' | 'format'>;
  items: number;
  /**
   * Posts put in line for publishing now: the backfill, and for a feed the server already followed (a paused one
   * resumed, or an active one added again) the posts that appeared since its last poll.
   */
  queued: Post[];
  /** New posts of a feed already followed that the flood guard stored without announcing them (as a poll would). */
  held: Post[];
  /** Set when the queue could not be reached: the posts are saved and go out when the worker starts. */
  queueError?: string;
}

/**
 * Follows a feed in a channel: fetches and parses it first (a bad feed saves nothing), records every item, queues
 * what is to be published and registers the poll scheduler. A new feed, or one the server removed, starts afresh:
 * the newest `backfill` items are published, all others recorded as known, so nothing old floods the channel.
 * A feed the server follows (paused after failures, or active and added again, e.g. to move it to another
 * channel) is resumed by what amounts to its next poll: items that appeared since are new posts, and a flood of
 * them is held back with a notice exactly as a poll holds it (`isFlood`); `backfill` still publishes that many of
 * the newest. Nothing already stored is ever published again.
 */
export async function addFeed(
  ctx: FeedContext,
  jobs: FeedJobs,
  /** `web`: put the feed on the web (true), take it off (false), or leave it as it is (absent; a new feed starts off). */
  input: { guildId: string; url: string; channelId: string; backfill?: number; web?: boolean },
): Promise<AddFeedResult> {
  const backfill = input.backfill ?? 0;
  if (!Number.isInteger(backfill) || backfill < 0 || backfill > MAX_BACKFILL) {
    throw new UserError(`backfill is how many of the newest posts to publish now: a whole number from 0 to ${MAX_BACKFILL}, not ${backfill}.`, 'bad-backfill');
  }
  const url = normaliseUrl(ctx, input.url);
  const channel = await ctx.discord.getChannel(input.channelId);
  if (!channel || !('guild_id' in channel) || channel.guild_id !== input.guildId) {
    throw new UserError(`blogcord cannot find the channel <#${input.channelId}> in this server (or cannot see it).`, 'bad-channel');
  }
  if (![ChannelType.GuildText, ChannelType.GuildAnnouncement, ChannelType.GuildForum].includes(channel.type)) {
    throw new UserError(`<#${channel.id}> is neither a text channel nor a forum: choose one of those for the announcements.`, 'bad-channel');
  }

  let parsed: ParsedFeed;
  let validators: { etag: string | null; lastModified: string | null };
  try {
    const result = await fetchAndParse(ctx, url);
    if (result.status !== 'ok') throw new FeedError('http-status', `${url} answered 304 Not Modified to an unconditional request`, { url, status: 304 });
    parsed = result.feed;
    validators = { etag: result.etag, lastModified: result.lastModified };
  } catch (error) {
    if (error instanceof FeedError) throw feedUserError(error);
    ctx.log.warn({ err: error, url }, '/feed add: the feed could not be processed');
    throw new UserError(`${unexpectedReason(error)}: ${shownUrl(url)}. Nothing was saved.`, 'feed-unprocessable', { url });
  }

  // All or nothing: the feed, its items and its state are written in one transaction; a failure half-way
  // leaves nothing behind (no feed, no pending post), and the answer says so.
  let saved: { before: Feed | null; feed: Feed; created: boolean; stored: StoredItems; flood: boolean };
  try {
    saved = await withTransaction(ctx.db, async (db) => {
      const tx = { ...ctx, db };
      const before = await findFeedByUrl(db, input.guildId, url);
      const { feed, created } = await upsertFeed(db, { guildId: input.guildId, url, channelId: channel.id, title: parsed.title, web: input.web });
      // A feed the server follows and has polled (also a paused one: the pause was the bot's doing, not the server's)
      // continues where its last poll stopped; a removed one was let go on purpose and starts afresh like a new one.
      const followed = before !== null && before.state !== 'removed' && before.lastSuccessAt !== null;
      const ordered = newestFirst(parsed.items);
      const backfillKeys = new Set(ordered.slice(0, backfill).map((d) => d.key));
      // Adding a followed feed again after its blog changed its guids: its posts are recognised, not stored twice.
      const match = await matchItems(tx, feed, ordered);
      const flood = followed && isFlood(match.fresh.size, countKeys(ordered));
      const stored = await storeItems(tx, feed, ordered, (draft) => backfillKeys.has(draft.key) || (followed && !flood));
      await recordFeedSuccess(db, feed.id, { ...validators, title: parsed.title });
      return { before, feed, created, stored, flood };
    });
  } catch (error) {
    ctx.log.error({ err: error, url, guildId: input.guildId }, '/feed add: saving the feed failed; nothing was saved');
    const reason = error instanceof Error ? error.message : String(error);
    throw new UserError(
      `blogcord could not save ${shownUrl(url)} (${cutText(reason, 200)}). Nothing was saved: no feed and no posts; try again, and tell the bot's operator if it keeps failing.`,
      'feed-save-failed',
      { url },
    );
  }
  const { before, feed, created, stored, flood } = saved;
  // The web setting of a feed already announcing changed: its announcements say so, or stop saying it.
  if (before && input.web !== undefined && before.webEnabled !== input.web) {
    for (const id of await listAnnouncedPostIdsOfFeed(ctx.db, feed.id))
      await jobs.refreshAnnouncement(id).catch((err) => ctx.log.warn({ err, postId: id }, 'could not queue an announcement refresh'));
  }
  const resumed = Boolean(before && before.state !== 'active');
  for (const post of stored.changed) {
    if (post.messageId)
      await jobs.refreshAnnouncement(post.id).catch((err) => ctx.log.warn({ err, postId: post.id }, 'could not queue an announcement refresh'));
  }
  const held = flood ? stored.skipped : [];
  const { queued } = stored;
  if (held.length) await holdBackFlood(ctx, feed, parsed.title, held, parsed.items.length, queued.length);

  let queueError: string | undefined;
  try {
    for (const post of queued) await jobs.enqueuePublish(post.id);
    await jobs.schedulePolls((await getFeed(ctx.db, feed.id))!);
  } catch (error) {
    // The feed and its pending posts are saved; every worker start queues unfinished posts and polls again.
    queueError = error instanceof Error ? error.message : String(error);
    ctx.log.warn({ err: error, feedId: feed.id }, 'feed saved, but the job queue could not be reached');
  }
  ctx.log.info(
    { feedId: feed.id, url, channelId: channel.id, items: parsed.items.length, queued: queued.length, held: held.length, created, resumed },
    'feed added',
  );
  return {
    feed: (await getFeed(ctx.db, feed.id))!,
    created,
    resumed,
    parsed: { title: parsed.title, format: parsed.format },
    items: parsed.items.length,
    queued,
    held,
    ...(queueError ? { queueError } : {}),
  };
}

/** Finds a feed of the server by its URL (as typed or normalised) or by its id (autocomplete values). */
export async function findGuildFeed(ctx: Pick<FeedContext, 'db'>, guildId: string, ref: string): Promise<Feed | null> {
  const trimmed = ref.trim();
  const byId = await getFeed(ctx.db, trimmed);
  if (byId && byId.guildId === guildId) return byId;
  const direct = await findFeedByUrl(ctx.db, guildId, trimmed);
  if (direct) return direct;
  try {
    return await findFeedByUrl(ctx.db, guildId, new URL(trimmed).toString());
  } catch {
    return null;
  }
}

/** Stops following a feed: no more polls; its posts, threads, comments and ratings stay. */
export async function removeFeed(ctx: FeedContext, jobs: FeedJobs, guildId: string, ref: string): Promise<Feed> {
  const feed = await findGuildFeed(ctx, guildId, ref);
  if (!feed || feed.state === 'removed') throw new UserError(`This server does not follow ${ref}. /feed list shows the feeds it follows.`, 'unknown-feed');
  await removeFeedRow(ctx.db, feed.id);
  await jobs
    .unschedulePolls(feed.id)
    .catch((err) => ctx.log.warn({ err, feedId: feed.id }, 'could not remove the poll scheduler (the poll skips removed feeds)'));
  ctx.log.info({ feedId: feed.id, url: feed.url }, 'feed removed');
  return (await getFeed(ctx.db, feed.id))!;
}

export interface FeedSummary {
  feed: Feed;
  counts: Partial<Record<PublishState, number>>;
  /** The most recent failed posts with their reasons. */
  failed: Post[];
}

/** The server's feeds (every state), for the autocomplete of the commands that name one. */
export async function guildFeeds(ctx: Pick<FeedContext, 'db'>, guildId: string): Promise<Feed[]> {
  return listFeeds(ctx.db, guildId);
}

/** A post as stored now (for a command waiting for its publishing to finish). */
export async function currentPost(ctx: Pick<FeedContext, 'db'>, postId: string): Promise<Post | null> {
  return getPost(ctx.db, postId);
}

/** What /feed list shows: every followed feed with its state, last poll and error, and its post counts. */
export async function listFeedSummaries(ctx: Pick<FeedContext, 'db'>, guildId: string): Promise<FeedSummary[]> {
  const feeds = await listFeeds(ctx.db, guildId);
  const counts = await countPostStatesByFeed(
    ctx.db,
    feeds.map((f) => f.id),
  );
  const failed = await listPosts(ctx.db, { guildId, states: ['failed'], limit: 50 });
  return feeds.map((feed) => ({ feed, counts: counts.get(feed.id) ?? {}, failed: failed.filter((p) => p.feedId === feed.id).slice(0, 3) }));
}

export type PollResult =
  | { status: 'skipped'; reason: 'not-found' | 'not-active' | 'backing-off' }
  | { status: 'not-modified' }
  /**
   * new: new posts queued for publishing; changed: edits; relinked: stored posts recognised by their link under a
   * new key (nothing published); held: new items stored as known by the flood guard (nothing published).
   */
  | { status: 'ok'; items: number; new: number; changed: number; relinked: number; held: number }
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
export async function pollFeed(ctx: FeedContext, jobs: FeedJobs, feedId: string, { force = false, at = new Date() } = {}): Promise<PollResult> {
  const feed = await getFeed(ctx.db, feedId);
  if (!feed) return { status: 'skipped', reason: 'not-found' };
  if (feed.state !== 'active') return { status: 'skipped', reason: 'not-active' };
  if (!force && feed.consecutiveFailures > 0 && feed.lastPolledAt) {
    // Scheduler ticks come every interval; skip ticks until the backoff has passed (10% slack for jitter).
    const elapsed = at.getTime() - Date.parse(feed.lastPolledAt);
    if (elapsed < backoffMs(ctx.config.feedPollIntervalSeconds, feed.consecutiveFailures) * 0.9) return { status: 'skipped', reason: 'backing-off' };
  }
  const log = ctx.log.child({ feedId, url: feed.url });
  let result: Awaited<ReturnType<typeof fetchAndParse>>;
  try {
    result = await fetchAndParse(ctx, feed.url, { etag: feed.etag, lastModified: feed.lastModified });
  } catch (error) {
    if (error instanceof FeedError) return recordFailure(ctx, jobs, feed, error.message);
    // Not a feed problem blogcord knows (a bug, a library throwing on a hostile item): still a failed poll,
    // counted with its reason (backoff and pause apply), never an endless silent retry.
    log.error({ err: error }, 'feed poll failed unexpectedly');
    return recordFailure(ctx, jobs, feed, unexpectedReason(error));
  }
  try {
    return await storePoll(ctx, jobs, feed, result, log);
  } catch (error) {
    log.error({ err: error }, 'feed poll failed while storing its items');
    // The database itself may be away: then recording the failure fails too, and the original error goes up.
    const recorded = await recordFailure(ctx, jobs, feed, unexpectedReason(error)).catch(() => null);
    if (!recorded) throw error;
    return recorded;
  }
}

async function storePoll(
  ctx: FeedContext,
  jobs: FeedJobs,
  feed: Feed,
  result: Awaited<ReturnType<typeof fetchAndParse>>,
  log: FeedContext['log'],
): Promise<PollResult> {
  if (result.status === 'not-modified') {
    await recordFeedSuccess(ctx.db, feed.id, {});
    return { status: 'not-modified' };
  }
  const ordered = newestFirst(result.feed.items);
  const match = await matchItems(ctx, feed, ordered);
  // The first poll of a feed never polled (a feed added by /feed add has been) publishes what it finds.
  const flood = feed.lastSuccessAt !== null && isFlood(match.fresh.size, countKeys(ordered));
  // Every item not seen before is a new post, whatever its date (a post drafted long ago may be published today).
  const stored = await storeItems(ctx, feed, ordered, () => !flood);
  for (const post of stored.queued) {
    await jobs.enqueuePublish(post.id);
    log.info({ postId: post.id, title: post.title }, 'new post');
  }
  for (const post of stored.changed) {
    if (post.messageId) await jobs.refreshAnnouncement(post.id);
    log.info({ postId: post.id, title: post.title }, 'post edited in the feed');
  }
  await recordFeedSuccess(ctx.db, feed.id, { etag: result.etag, lastModified: result.lastModified, title: result.feed.title });
  const held = flood ? stored.skipped : [];
  if (held.length) await holdBackFlood(ctx, feed, result.feed.title, held, result.feed.items.length);
  return {
    status: 'ok',
    items: result.feed.items.length,
    new: stored.queued.length,
    changed: stored.changed.length,
    relinked: match.relinked.length,
    held: held.length,
  };
}

const countKeys = (items: readonly PostDraft[]): number => new Set(items.map((d) => d.key)).size;

interface StoredItems {
  /** New posts stored as pending, oldest first; queueing their publish jobs is the caller's part. */
  queued: Post[];
  /** New posts stored as known: never announced unless someone runs /publish. */
  skipped: Post[];
  /** Stored posts whose text changed in the feed (edits). */
  changed: Post[];
}

/**
 * Records a fetched feed's items oldest first (so what is published goes out in the order it was written): a new
 * item becomes a pending post when `publish` says so, else a known one; a stored item whose text changed is an edit.
 */
async function storeItems(ctx: { db: Db }, feed: Feed, ordered: readonly PostDraft[], publish: (draft: PostDraft) => boolean): Promise<StoredItems> {
  const out: StoredItems = { queued: [], skipped: [], changed: [] };
  for (const draft of [...ordered].reverse()) {
    const pending = publish(draft);
    const { post, status } = await upsertPostFromFeed(ctx.db, feed, postContent(draft), pending ? 'pending' : 'known');
    if (status === 'new') (pending ? out.queued : out.skipped).push(post);
    else if (status === 'changed') out.changed.push(post);
  }
  return out;
}

/**
 * The flood guard's word once the held posts are stored: a warning in the log and one notice in the feed's channel.
 * `announced`: how many new posts were published anyway (a backfill).
 */
async function holdBackFlood(ctx: FeedContext, feed: Feed, feedTitle: string | null, held: readonly Post[], items: number, announced = 0): Promise<void> {
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

async function recordFailure(ctx: FeedContext, jobs: FeedJobs, feed: Feed, message: string): Promise<PollResult> {
  const now = await recordFeedFailure(ctx.db, feed.id, message, PAUSE_AFTER_FAILURES);
  const paused = now?.state === 'paused';
  ctx.log.warn({ feedId: feed.id, url: feed.url, failures: now?.consecutiveFailures, paused, error: message }, 'feed poll failed');
  // Exactly the failure that paused it posts the notice (a later one, e.g. of an overlapping poll, does not).
  if (paused && now.consecutiveFailures === PAUSE_AFTER_FAILURES) {
    await jobs.unschedulePolls(feed.id).catch((err) => ctx.log.warn({ err }, 'could not remove the poll scheduler of a paused feed'));
    await postFeedNotice(
      ctx,
      feed,
      `Feed paused: ${feed.title ?? feed.url}`,
      pauseNotice(feed.url, feed.channelId, message),
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

/**
 * The notice of a flood held back: how many, why that happens, and the newest few to /publish by hand. `announced`:
 * how many of the newest were published anyway (the backfill asked for when /feed add resumed the feed).
 */
export function floodNotice(url: string, held: readonly Pick<Post, 'title' | 'url'>[], announced = 0): string {
  const head =
    `⚠️ blogcord found ${held.length + announced} new posts at once in ${shownUrl(url)} and announced ${announced ? `only the newest ${announced}` : 'none of them'}, so as not to flood this channel ` +
    `(a blog that moved to another platform or changed how its feed identifies posts looks like this).\n` +
    `${announced ? `The other ${held.length}` : 'They'} are saved and will not be announced later. An admin can announce one with \`/publish url:\`. The newest:`;
  const shown = held.slice(-5).reverse();
  const lines = shown.map((p) => `• ${escapeMarkdown(cutText(p.title, 100))}${p.url ? ` <${p.url}>` : ''}`);
  const text = `${head}\n${fitLines(lines, Math.max(0, 2000 - head.length - 1), held.length - shown.length)}`;
  return text.length > 2000 ? `${text.slice(0, 1999)}…` : text;
}

export function pauseNotice(url: string, channelId: string, reason: string): string {
  const text =
    `⏸️ blogcord stopped checking ${shownUrl(url)} after ${PAUSE_AFTER_FAILURES} failed attempts in a row.\n` +
    `Last error: ${reason}\n` +
    `Once the feed works again, an admin can resume it with \`/feed add url:${url} channel:\` <#${channelId}> (nothing already posted is posted again).`;
  return text.length > 2000 ? `${text.slice(0, 1999)}…` : text;
}

export type PublishNowResult = { status: 'already-published'; post: Post; link: string | null } | { status: 'queued'; post: Post };

/**
 * /publish URL: publishes one item of a followed feed now, even one that was only `known` (or failed). The URL
 * may name the post any way its canonical link allows (`canonicalLink`: with tracking parameters, a #fragment,
 * http for https …). An item not stored yet is looked up in the server's feeds (fetched now).
 */
export async function publishNow(ctx: FeedContext, jobs: FeedJobs, guildId: string, rawUrl: string): Promise<PublishNowResult> {
  const url = rawUrl.trim();
  if (!/^https?:\/\//i.test(url)) throw new UserError(`"${rawUrl}" is not a post URL (it should start with https://).`, 'bad-url');
  // The same post may be in several feeds of the server (RSS and Atom of one blog): a published copy wins, then one of a followed feed.
  const candidates = await findGuildPostsByUrl(ctx.db, guildId, url);
  const followed = new Set((await listFeeds(ctx.db, guildId)).map((f) => f.id));
  let post: Post | null = candidates.find((p) => p.publishState === 'published') ?? candidates.find((p) => followed.has(p.feedId)) ?? candidates[0] ?? null;
  if (!post) post = await findInFeeds(ctx, guildId, url);
  if (!post) {
    throw new UserError(
      `${url} is not a post of any feed this server follows. /publish takes the link of a post as it appears in the feed; /feed add follows a new feed.`,
      'unknown-post',
    );
  }
  if (post.publishState === 'published') return { status: 'already-published', post, link: announcementLink(guildId, post) };
  const feed = await getFeed(ctx.db, post.feedId);
  if (!feed || feed.state === 'removed') {
    throw new UserError(
      `That post belongs to ${feed?.url ?? 'a feed'} which this server no longer follows. Follow it again with /feed add (backfill 0 posts nothing old), then /publish the post.`,
      'feed-removed',
    );
  }
  if (post.publishState === 'known' || post.publishState === 'failed') {
    // Continue from what exists in Discord: a failed post keeps a message it made unless that is gone.
    let from: 'pending' | 'announced' | 'threaded' = 'pending';
    let clear = true;
    if (post.messageId && post.channelId && (await ctx.discord.getMessage(post.channelId, post.messageId).catch(() => null))) {
      from = post.threadId ? 'threaded' : 'announced';
      clear = false;
    }
    await resetPublishing(ctx.db, post.id, from, { clearDiscord: clear });
  }
  await jobs.enqueuePublish(post.id);
  return { status: 'queued', post: (await getPost(ctx.db, post.id))! };
}

async function findInFeeds(ctx: FeedContext, guildId: string, url: string): Promise<Post | null> {
  const link = canonicalLink(url);
  const same = (a: string | null) => link !== null && canonicalLink(a) === link;
  const errors: string[] = [];
  for (const feed of await listFeeds(ctx.db, guildId)) {
    let parsed: ParsedFeed;
    try {
      const r = await fetchAndParse(ctx, feed.url);
      if (r.status !== 'ok') continue;
      parsed = r.feed;
    } catch (error) {
      if (!(error instanceof FeedError)) throw error;
      errors.push(`${feed.url}: ${error.message}`);
      continue;
    }
    const draft = parsed.items.find((d) => same(d.url) || d.key === url);
    if (draft) return (await upsertPostFromFeed(ctx.db, feed, postContent(draft), 'known')).post;
  }
  if (errors.length) ctx.log.info({ guildId, errors }, '/publish could not read some feeds');
  return null;
}
