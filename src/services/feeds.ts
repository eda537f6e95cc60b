// Following feeds: add (fetch + parse before saving), remove, list. Polling is src/services/feed-poll.ts,
// publishing one item on demand `publishNow` in src/services/publish.ts.
import { FeedError } from '../feeds/errors.ts';
import type { ParsedFeed } from '../feeds/types.ts';
import { withTransaction } from '../db/index.ts';
import { UserError } from '../errors.ts';
import { cutText, shownUrl } from '../render/post.ts';
import {
  findFeedByUrl,
  getFeed,
  listFeeds,
  recordFeedSuccess,
  removeFeed as removeFeedRow,
  updateFeedOptions,
  upsertFeed,
  type Feed,
  type PollStats,
} from '../repositories/feeds.ts';
import { checkFeedChannel, checkFeedOptions, withKeptPing, withMentionRightIn, type FeedOptionsInput } from './feed-option-checks.ts';
import { countFeedPostsByState, getPost, listAnnouncedPostIdsOfFeed, listFailedFeedPosts, type Post, type PostStateCounts } from '../repositories/posts.ts';
import { setFeedIdentity } from './feed-identity.ts';
import { countKeys, holdBackFlood, isFlood, matchItems, storeItems, type StoredItems } from './feed-poll.ts';
import { ensureHookToken, pollIntervalOf, syncPush, unsubscribeFeed } from './push.ts';
import { fetchAndParse, feedUserError, newestFirst, normaliseUrl, unexpectedReason, type FeedContext } from './feed-source.ts';

export const MAX_BACKFILL = 10;

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
  /** New posts (the backfill, or posts since the last poll) that the feed's filters kept out, stored as skipped; absent when none. */
  filtered?: Post[];
  /** Set when the queue could not be reached: the posts are saved and go out when the worker starts. */
  queueError?: string;
  /** When `identity` was given: what it means now (the blog's name through a webhook, or why not). */
  identity?: string;
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
  /** `web`: put the feed on the web (true), take it off (false), or leave it as it is (absent; a new feed starts off). */
  input: { guildId: string; url: string; channelId: string; backfill?: number; web?: boolean; options?: FeedOptionsInput; identity?: boolean },
): Promise<AddFeedResult> {
  const backfill = input.backfill ?? 0;
  if (!Number.isInteger(backfill) || backfill < 0 || backfill > MAX_BACKFILL) {
    throw new UserError(`backfill is how many of the newest posts to publish now: a whole number from 0 to ${MAX_BACKFILL}, not ${backfill}.`, 'bad-backfill');
  }
  const url = normaliseUrl(ctx, input.url);
  const channel = checkFeedChannel(await ctx.discord.getChannel(input.channelId), input.guildId, input.channelId);
  // Options that cannot be right (a role blogcord may not ping in that channel, an unknown placeholder) refuse before the fetch.
  // A followed feed added again in another channel keeps its ping role: it is checked there too.
  const existing = await findFeedByUrl(ctx.db, input.guildId, url);
  const optionsInput = await withMentionRightIn(await withKeptPing(input.options ?? {}, existing, channel.id), channel.id);
  checkFeedOptions(input.guildId, optionsInput, null, null);

  let parsed: ParsedFeed;
  let validators: { etag: string | null; lastModified: string | null };
  let poll: PollStats;
  const started = performance.now();
  try {
    const result = await fetchAndParse(ctx, url);
    if (result.status !== 'ok') throw new FeedError('http-status', `${url} answered 304 Not Modified to an unconditional request`, { url, status: 304 });
    parsed = result.feed;
    validators = { etag: result.etag, lastModified: result.lastModified };
    // Adding a feed reads it as a poll would: /feed status shows that read until the first poll.
    poll = { outcome: 'ok', httpStatus: result.httpStatus, durationMs: performance.now() - started, items: parsed.items.length };
  } catch (error) {
    if (error instanceof FeedError) throw feedUserError(error);
    ctx.log.warn({ err: error, url }, '/feed add: the feed could not be processed');
    throw new UserError(`${unexpectedReason(error)}: ${shownUrl(url)}. Nothing was saved.`, 'feed-unprocessable', { url });
  }
  const newest = newestFirst(parsed.items)[0];
  // The template is checked again with the feed's newest post (its length as rendered).
  const options = checkFeedOptions(input.guildId, optionsInput, newest ?? null, parsed.title);

  // All or nothing: the feed, its items and its state are written in one transaction; a failure half-way
  // leaves nothing behind (no feed, no pending post), and the answer says so.
  let saved: { before: Feed | null; feed: Feed; created: boolean; stored: StoredItems; flood: boolean };
  try {
    saved = await withTransaction(ctx.db, async (db) => {
      const tx = { ...ctx, db };
      const before = await findFeedByUrl(db, input.guildId, url);
      const upserted = await upsertFeed(db, { guildId: input.guildId, url, channelId: channel.id, title: parsed.title, web: input.web });
      const { created } = upserted;
      // The options apply from the first item stored: the backfill and new posts are filtered like a poll's.
      const feed = Object.keys(options).length ? (await updateFeedOptions(db, upserted.feed.id, options))! : upserted.feed;
      // A feed the server follows and has polled (also a paused one: the pause was the bot's doing, not the server's)
      // continues where its last poll stopped; a removed one was let go on purpose and starts afresh like a new one.
      const followed = before !== null && before.state !== 'removed' && before.lastSuccessAt !== null;
      const ordered = newestFirst(parsed.items);
      const backfillKeys = new Set(ordered.slice(0, backfill).map((d) => d.key));
      // Adding a followed feed again after its blog changed its guids: its posts are recognised, not stored twice.
      const match = await matchItems(tx, feed, ordered);
      const flood = followed && isFlood(match.fresh.size, countKeys(ordered));
      // Not published: held by the flood guard (a followed feed), or already in the feed when it was added.
      const stored = await storeItems(tx, feed, ordered, (draft) => backfillKeys.has(draft.key) || (followed && !flood), flood ? 'flood' : 'added');
      await recordFeedSuccess(db, feed.id, { ...validators, title: parsed.title, poll });
      // Its publish hook exists from the start, so /feed status only reads (an existing token is kept).
      await ensureHookToken(tx, feed.id);
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
  const { filtered } = stored;
  // The web setting of a feed already announcing changed: its announcements say so, or stop saying it.
  if (before && input.web !== undefined && before.webEnabled !== input.web) {
    for (const id of await listAnnouncedPostIdsOfFeed(ctx.db, feed.id))
      await ctx.jobs.refreshAnnouncement(id).catch((err) => ctx.log.warn({ err, postId: id }, 'could not queue an announcement refresh'));
  }
  const resumed = Boolean(before && before.state !== 'active');
  for (const post of stored.changed) {
    if (post.messageId)
      await ctx.jobs.refreshAnnouncement(post.id).catch((err) => ctx.log.warn({ err, postId: post.id }, 'could not queue an announcement refresh'));
  }
  // Identity is settled before anything is queued, so the first announcements already go out as the blog.
  const identity = input.identity === undefined ? undefined : await setFeedIdentity(ctx, feed.id, input.identity);
  const held = flood ? stored.skipped : [];
  const { queued } = stored;
  if (held.length) await holdBackFlood(ctx, feed, parsed.title, held, parsed.items.length, queued.length);

  let queueError: string | undefined;
  try {
    for (const post of queued) await ctx.jobs.enqueuePublish(post.id);
    await ctx.jobs.schedulePolls((await getFeed(ctx.db, feed.id))!, await pollIntervalOf(ctx, feed.id));
  } catch (error) {
    // The feed and its pending posts are saved; every worker start queues unfinished posts and polls again.
    queueError = error instanceof Error ? error.message : String(error);
    ctx.log.warn({ err: error, feedId: feed.id }, 'feed saved, but the job queue could not be reached');
  }
  // Push: a WebSub subscription when the feed names a hub (failures are recorded, never thrown).
  await syncPush(ctx, feed.id, parsed.push).catch((err) => ctx.log.warn({ err, feedId: feed.id }, 'could not set up the websub subscription'));
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
    ...(filtered.length ? { filtered } : {}),
    ...(identity ? { identity } : {}),
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
export async function removeFeed(ctx: FeedContext, guildId: string, ref: string): Promise<Feed> {
  const feed = await findGuildFeed(ctx, guildId, ref);
  if (!feed || feed.state === 'removed') throw new UserError(`This server does not follow ${ref}. /feed list shows the feeds it follows.`, 'unknown-feed');
  await removeFeedRow(ctx.db, feed.id);
  await ctx.jobs
    .unschedulePolls(feed.id)
    .catch((err) => ctx.log.warn({ err, feedId: feed.id }, 'could not remove the poll scheduler (the poll skips removed feeds)'));
  await unsubscribeFeed(ctx, feed.id).catch((err) => ctx.log.warn({ err, feedId: feed.id }, 'could not end the websub subscription'));
  ctx.log.info({ feedId: feed.id, url: feed.url }, 'feed removed');
  return (await getFeed(ctx.db, feed.id))!;
}

export interface FeedSummary {
  feed: Feed;
  /** Its posts by state (`known` split by reason, as /feed status shows them). */
  counts: PostStateCounts;
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
  const counts = await countFeedPostsByState(
    ctx.db,
    feeds.map((f) => f.id),
  );
  const failed = await Promise.all(feeds.map((f) => listFailedFeedPosts(ctx.db, f.id, 3)));
  return feeds.map((feed, i) => ({ feed, counts: counts.get(feed.id) ?? {}, failed: failed[i]! }));
}
