import { sql } from 'kysely';
import type { Db } from '../db/index.ts';
import type { PostRow } from '../db/schema.ts';
import { canonicalLink } from '../feeds/canonical-link.ts';
import { stripControls } from '../feeds/clean.ts';
import { now, stableId } from './ids.ts';
import { textList } from './relation.ts';

/** 'skipped': new in the feed but kept out by one of its filters (`skipReason`); like 'known', only /publish publishes it. */
export type PublishState = 'known' | 'skipped' | 'pending' | 'announced' | 'threaded' | 'published' | 'failed';

export interface Post {
  id: string;
  feedId: string;
  guildId: string;
  guid: string;
  url: string | null;
  title: string;
  author: string | null;
  publishedAt: string | null;
  summaryHtml: string | null;
  imageUrl: string | null;
  contentHash: string;
  channelId: string | null;
  messageId: string | null;
  threadId: string | null;
  publishState: PublishState;
  failureReason: string | null;
  /** Why a 'skipped' post was not published: the filter rule (`exclude: title:release`). */
  skipReason: string | null;
  /** The item's categories as the feed gives them. */
  categories: string[];
  publishAttempts: number;
  /** When its announcement or thread was deleted in Discord: the discussion is closed (not served on the web). */
  discussionClosedAt: string | null;
  /** Why it is known without being announced: held by the flood guard, already in the feed when it was added… */
  knownReason: KnownReason | null;
  knownAt: string | null;
  announcedAt: string | null;
  /** The webhook that posted its announcement (per-feed identity). */
  webhookId: string | null;
  webhookIntentAt: string | null;
  discoveredAt: string;
  updatedAt: string;
}

/**
 * Why a post is known without being announced: 'flood' held by the flood guard, 'added' already in the feed when the
 * server added it (and not backfilled), 'removed' the feed was removed before it went out.
 */
export type KnownReason = 'flood' | 'added' | 'removed';
const KNOWN_REASONS = new Set<string>(['flood', 'added', 'removed']);

/** What a feed says about a post (a subset of the parser's PostDraft). */
export interface PostContent {
  key: string;
  url: string | null;
  title: string;
  author: string | null;
  publishedAt: string | null;
  summaryHtml: string | null;
  searchText: string;
  imageUrl: string | null;
  contentHash: string;
  /** The item's categories (absent: none). */
  categories?: readonly string[];
}

function parseCategories(json: string | null | undefined): string[] {
  try {
    const v: unknown = JSON.parse(json ?? '[]');
    return Array.isArray(v) ? v.filter((c): c is string => typeof c === 'string') : [];
  } catch {
    return [];
  }
}

export function toPost(r: PostRow): Post {
  return {
    id: r.id,
    feedId: r.feed_id,
    guildId: r.guild_id,
    guid: r.guid,
    url: r.url,
    title: r.title,
    author: r.author,
    publishedAt: r.published_at,
    summaryHtml: r.summary,
    imageUrl: r.image_url,
    contentHash: r.content_hash,
    channelId: r.channel_id,
    messageId: r.message_id,
    threadId: r.thread_id,
    publishState: r.publish_state as PublishState,
    failureReason: r.failure_reason,
    skipReason: r.skip_reason ?? null,
    categories: parseCategories(r.categories),
    publishAttempts: r.publish_attempts,
    discussionClosedAt: r.discussion_closed_at ?? null,
    knownReason: r.known_reason && KNOWN_REASONS.has(r.known_reason) ? (r.known_reason as KnownReason) : null,
    knownAt: r.known_at ?? null,
    announcedAt: r.announced_at ?? null,
    webhookId: r.webhook_id ?? null,
    webhookIntentAt: r.webhook_intent_at ?? null,
    discoveredAt: r.discovered_at,
    updatedAt: r.updated_at,
  };
}

/**
 * The id a post gets when it is first stored. A post keeps its id for good (Discord messages, ratings and comments
 * hang on it), also when its feed key changes (`rekeyPost`): find a stored post by (feed, key), never by
 * recomputing this.
 */
export const postId = (feedId: string, key: string): string => stableId('post', feedId, key);

const SUMMARY_CAP = 20_000;

/**
 * Records a feed item, found by (feed, key). New items get `initialState` ('pending' to publish, 'known' to never
 * publish, 'skipped' with `skipReason` when a filter kept it out); a known item whose content hash changed is updated in place and reported as 'changed' (an edit, never
 * a repost).
 */
export async function upsertPostFromFeed(
  db: Db,
  feed: { id: string; guildId: string },
  item: PostContent,
  initialState: 'pending' | 'known' | 'skipped',
  /**
   * Why a new post is not announced: for `skipped` the filter rule that skipped it (`exclude: title:draft`), for
   * `known` a KnownReason (shown by /feed status and /feed why).
   */
  reason: string | null = null,
): Promise<{ post: Post; status: 'new' | 'changed' | 'unchanged' }> {
  const at = now();
  const content = {
    url: item.url,
    canonical_link: canonicalLink(item.url),
    title: item.title,
    author: item.author,
    published_at: item.publishedAt,
    summary: item.summaryHtml?.slice(0, SUMMARY_CAP) ?? null,
    search_text: item.searchText.slice(0, SUMMARY_CAP),
    image_url: item.imageUrl,
    content_hash: item.contentHash,
    categories: JSON.stringify(item.categories ?? []),
  };
  for (let attempt = 0; attempt < 5; attempt++) {
    // The usual id is taken when a post that moved to another key once had this one (the blog went back to an
    // old guid for a different item): the next candidate is just as deterministic.
    const id = attempt === 0 ? postId(feed.id, item.key) : stableId('post', feed.id, item.key, String(attempt));
    const inserted = await db.kysely
      .insertInto('posts')
      .values({
        id,
        feed_id: feed.id,
        guild_id: feed.guildId,
        guid: item.key,
        ...content,
        publish_state: initialState,
        skip_reason: initialState === 'skipped' ? (reason ?? 'filter').slice(0, 500) : null,
        known_reason: initialState === 'known' ? (reason as KnownReason | null) : null,
        known_at: initialState === 'known' && reason ? at : null,
        publish_attempts: 0,
        discovered_at: at,
        updated_at: at,
      })
      .onConflict((oc) => oc.doNothing())
      .executeTakeFirst();
    if (Number(inserted.numInsertedOrUpdatedRows ?? 0) > 0) return { post: (await getPost(db, id))!, status: 'new' };
    const changed = await db.kysely
      .updateTable('posts')
      .set({ ...content, updated_at: at })
      .where('feed_id', '=', feed.id)
      .where('guid', '=', item.key)
      .where('content_hash', '!=', item.contentHash)
      .executeTakeFirst();
    const post = await getFeedPostByKey(db, feed.id, item.key);
    if (post) return { post, status: Number(changed.numUpdatedRows) > 0 ? 'changed' : 'unchanged' };
  }
  throw new Error(`cannot store the item ${item.key} of feed ${feed.id}: every candidate id is taken`);
}

/** The feed's post stored under this key (guid, else link, else hash). */
export async function getFeedPostByKey(db: Db, feedId: string, key: string): Promise<Post | null> {
  const row = await db.kysely.selectFrom('posts').selectAll().where('feed_id', '=', feedId).where('guid', '=', key).executeTakeFirst();
  return row ? toPost(row) : null;
}

/** Which of these keys the feed has stored posts for, in one query. */
export async function findStoredKeys(db: Db, feedId: string, keys: readonly string[]): Promise<Set<string>> {
  if (keys.length === 0) return new Set();
  const rows = await db.kysely
    .selectFrom('posts')
    .select('guid')
    .where('feed_id', '=', feedId)
    .where('guid', 'in', textList(db, [...new Set(keys)]))
    .execute();
  return new Set(rows.map((r) => r.guid));
}

/** What link matching needs of a feed's stored post; `link` is its canonical link (`canonicalLink`). */
export type PostLink = Pick<Post, 'id' | 'guid' | 'publishedAt' | 'messageId' | 'discoveredAt'> & { link: string };

/** The feed's posts whose canonical links are among `links` (for recognising a post whose key changed). */
export async function findFeedPostsByLinks(db: Db, feedId: string, links: readonly string[]): Promise<PostLink[]> {
  const unique = [...new Set(links)];
  if (unique.length === 0) return [];
  const rows = await db.kysely
    .selectFrom('posts')
    .select(['id', 'guid', 'canonical_link', 'published_at', 'message_id', 'discovered_at'])
    .where('canonical_link', 'in', textList(db, unique))
    .where('feed_id', '=', feedId)
    .execute();
  return rows.map((r) => ({
    id: r.id,
    guid: r.guid,
    link: r.canonical_link!,
    publishedAt: r.published_at,
    messageId: r.message_id,
    discoveredAt: r.discovered_at,
  }));
}

/**
 * Moves a post to a new feed key (its blog changed its guids), keeping its id and so its announcement, thread,
 * ratings and comments. False when the key is already another post's of the feed (nothing changes then).
 */
export async function rekeyPost(db: Db, id: string, feedId: string, key: string): Promise<boolean> {
  const res = await db.kysely
    .updateTable('posts')
    .set({ guid: key, updated_at: now() })
    .where('id', '=', id)
    .where((eb) => eb.not(eb.exists(eb.selectFrom('posts as other').select('other.id').where('other.feed_id', '=', feedId).where('other.guid', '=', key))))
    .executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}

export async function getPost(db: Db, id: string): Promise<Post | null> {
  const row = await db.kysely.selectFrom('posts').selectAll().where('id', '=', id).executeTakeFirst();
  return row ? toPost(row) : null;
}

/** The post announced by this Discord message (reactions live there). */
export async function getPostByMessageId(db: Db, messageId: string): Promise<Post | null> {
  const row = await db.kysely.selectFrom('posts').selectAll().where('message_id', '=', messageId).executeTakeFirst();
  return row ? toPost(row) : null;
}

/** The posts announced by these Discord messages, as message id → post id, in one query. */
export async function getPostIdsByMessageIds(db: Db, messageIds: readonly string[]): Promise<Map<string, string>> {
  if (messageIds.length === 0) return new Map();
  const rows = await db.kysely.selectFrom('posts').select(['id', 'message_id']).where('message_id', 'in', textList(db, messageIds)).execute();
  return new Map(rows.map((r) => [r.message_id!, r.id]));
}

/**
 * Closes the discussion of the posts whose announcement (message id) or thread was deleted in Discord; the first
 * time stays. Returns the ids of the posts closed now.
 */
export async function closeDiscussions(db: Db, by: { messageIds?: readonly string[]; threadIds?: readonly string[] }, at: string): Promise<string[]> {
  const messageIds = by.messageIds ?? [];
  const threadIds = by.threadIds ?? [];
  if (messageIds.length === 0 && threadIds.length === 0) return [];
  const rows = await db.kysely
    .updateTable('posts')
    .set({ discussion_closed_at: at, updated_at: at })
    .where((eb) =>
      eb.or([
        ...(messageIds.length ? [eb('message_id', 'in', textList(db, messageIds))] : []),
        ...(threadIds.length ? [eb('thread_id', 'in', textList(db, threadIds))] : []),
      ]),
    )
    .where('discussion_closed_at', 'is', null)
    .returning('id')
    .execute();
  return rows.map((r) => r.id);
}

/** The posts discussed in these Discord threads, as thread id → post, in one query. */
export async function getPostsByThreadIds(db: Db, threadIds: readonly string[]): Promise<Map<string, Post>> {
  if (threadIds.length === 0) return new Map();
  const rows = await db.kysely.selectFrom('posts').selectAll().where('thread_id', 'in', textList(db, threadIds)).execute();
  return new Map(rows.map((r) => [r.thread_id!, toPost(r)]));
}

/** The post discussed in this Discord thread. */
export async function getPostByThreadId(db: Db, threadId: string): Promise<Post | null> {
  const row = await db.kysely.selectFrom('posts').selectAll().where('thread_id', '=', threadId).executeTakeFirst();
  return row ? toPost(row) : null;
}

export interface PublishPatch {
  state: PublishState;
  channelId?: string | null;
  messageId?: string | null;
  threadId?: string | null;
  failureReason?: string | null;
  knownReason?: KnownReason | null;
  announcedAt?: string | null;
  webhookId?: string | null;
}

export async function setPublishState(db: Db, id: string, patch: PublishPatch): Promise<void> {
  await db.kysely
    .updateTable('posts')
    .set({
      publish_state: patch.state,
      updated_at: now(),
      ...(patch.channelId !== undefined ? { channel_id: patch.channelId } : {}),
      ...(patch.messageId !== undefined ? { message_id: patch.messageId } : {}),
      ...(patch.threadId !== undefined ? { thread_id: patch.threadId } : {}),
      ...(patch.failureReason !== undefined ? { failure_reason: patch.failureReason?.slice(0, 1000) ?? null } : {}),
      ...(patch.knownReason !== undefined ? { known_reason: patch.knownReason, known_at: patch.knownReason ? now() : null } : {}),
      ...(patch.announcedAt !== undefined ? { announced_at: patch.announcedAt } : {}),
      ...(patch.webhookId !== undefined ? { webhook_id: patch.webhookId } : {}),
    })
    .where('id', '=', id)
    .execute();
}

export async function countPublishAttempt(db: Db, id: string): Promise<void> {
  await db.kysely
    .updateTable('posts')
    .set((eb) => ({ publish_attempts: eb('publish_attempts', '+', 1) }))
    .where('id', '=', id)
    .execute();
}

/** Posts newest first (by publication date, then discovery); with `webOnly`, only those of feeds on the web. */
export async function listPosts(
  db: Db,
  opts: { guildId?: string; states?: PublishState[]; limit?: number; offset?: number; webOnly?: boolean } = {},
): Promise<Post[]> {
  let q = db.kysely.selectFrom('posts').selectAll();
  if (opts.guildId) q = q.where('guild_id', '=', opts.guildId);
  if (opts.webOnly) q = q.where('feed_id', 'in', (eb) => eb.selectFrom('feeds').select('feeds.id').where('feeds.web_enabled', '=', 1));
  if (opts.states?.length) q = q.where('publish_state', 'in', opts.states);
  const rows = await q
    .orderBy((eb) => eb.fn.coalesce('published_at', 'discovered_at'), 'desc')
    .orderBy('id')
    .limit(opts.limit ?? 1000)
    .offset(opts.offset ?? 0)
    .execute();
  return rows.map(toPost);
}

/** The ids of a feed's posts that have an announcement in Discord (what a change of the feed's web setting edits). */
export async function listAnnouncedPostIdsOfFeed(db: Db, feedId: string): Promise<string[]> {
  const rows = await db.kysely.selectFrom('posts').select('id').where('feed_id', '=', feedId).where('message_id', 'is not', null).orderBy('id').execute();
  return rows.map((r) => r.id);
}

/** Posts that still need a publishing step: pending, or part-way through (announced/threaded). */
export async function listUnfinishedPosts(db: Db, limit = 500): Promise<Post[]> {
  const rows = await db.kysely
    .selectFrom('posts')
    .selectAll()
    .where('publish_state', 'in', ['pending', 'announced', 'threaded'])
    .orderBy('discovered_at')
    .limit(limit)
    .execute();
  return rows.map(toPost);
}

/** Posts with an announcement (and usually a thread) discovered since `sinceIso`: what catch-up and recount look at. */
export async function listAnnouncedPostsSince(db: Db, sinceIso: string, guildIds?: readonly string[]): Promise<Post[]> {
  let q = db.kysely
    .selectFrom('posts')
    .selectAll()
    .where('message_id', 'is not', null)
    .where((eb) => eb.or([eb('discovered_at', '>=', sinceIso), eb('published_at', '>=', sinceIso)]));
  if (guildIds) {
    if (guildIds.length === 0) return [];
    q = q.where('guild_id', 'in', guildIds);
  }
  return (await q.orderBy('discovered_at', 'desc').execute()).map(toPost);
}

export async function countPosts(db: Db, guildId: string): Promise<number> {
  const row = await db.kysely
    .selectFrom('posts')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('guild_id', '=', guildId)
    .where('publish_state', 'not in', ['known', 'skipped'])
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/**
 * A server's posts at this blog URL, announced ones first: any link naming the same article (`canonicalLink`:
 * host case, http/https, #fragment, trailing slash, tracking parameters and parameter order do not matter).
 */
export async function findGuildPostsByUrl(db: Db, guildId: string, url: string): Promise<Post[]> {
  const link = canonicalLink(url);
  if (!link) return [];
  const rows = await db.kysely
    .selectFrom('posts')
    .selectAll()
    .where('canonical_link', '=', link)
    .where('guild_id', '=', guildId)
    .orderBy((eb) => eb.case().when('message_id', 'is not', null).then(0).else(1).end())
    .orderBy('discovered_at')
    .orderBy('id')
    .execute();
  return rows.map(toPost);
}

/**
 * Puts a post (back) in line for publishing from `state`: the failure reason and the attempt count are
 * cleared; with `clearDiscord`, so are its channel, message and thread (they are gone).
 */
export async function resetPublishing(db: Db, id: string, state: 'pending' | 'announced' | 'threaded', { clearDiscord = false } = {}): Promise<void> {
  await db.kysely
    .updateTable('posts')
    .set({
      publish_state: state,
      failure_reason: null,
      publish_attempts: 0,
      updated_at: now(),
      ...(clearDiscord ? { channel_id: null, message_id: null, thread_id: null } : {}),
    })
    .where('id', '=', id)
    .execute();
}

/** A feed's posts, newest first (by publication date, then discovery). */
export async function listFeedPosts(db: Db, feedId: string, limit: number): Promise<Post[]> {
  const rows = await db.kysely
    .selectFrom('posts')
    .selectAll()
    .where('feed_id', '=', feedId)
    .orderBy((eb) => eb.fn.coalesce('published_at', 'discovered_at'), 'desc')
    .orderBy('discovered_at', 'desc')
    .orderBy('id')
    .limit(limit)
    .execute();
  return rows.map(toPost);
}

/**
 * Puts a post that is not published nor on its way (known, skipped, or failed before it made a message) in line
 * for publishing, in one conditional update: true for the one caller that moved it, false for any other.
 */
export async function claimForPublishing(db: Db, id: string): Promise<boolean> {
  const res = await db.kysely
    .updateTable('posts')
    .set({ publish_state: 'pending', failure_reason: null, publish_attempts: 0, updated_at: now() })
    .where('id', '=', id)
    .where((eb) => eb.or([eb('publish_state', 'in', ['known', 'skipped']), eb.and([eb('publish_state', '=', 'failed'), eb('message_id', 'is', null)])]))
    .executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}

/** Records that the post's webhook is about to be executed (the first time only): a retry then looks for that message. */
export async function markWebhookIntent(db: Db, id: string): Promise<string> {
  await db.kysely.updateTable('posts').set({ webhook_intent_at: now() }).where('id', '=', id).where('webhook_intent_at', 'is', null).execute();
  const row = await db.kysely.selectFrom('posts').select('webhook_intent_at').where('id', '=', id).executeTakeFirstOrThrow();
  return row.webhook_intent_at!;
}

/**
 * A feed's posts counted by state, read generically (a state added later is counted too), with the known ones split
 * by why they are known: `known:flood`, `known:added`, `known:removed`, plain `known` for none.
 */
export type PostStateCounts = Record<string, number>;

/** How many posts of each feed are in each state (`PostStateCounts`; a feed without posts gets an empty record). */
export async function countFeedPostsByState(db: Db, feedIds: readonly string[]): Promise<Map<string, PostStateCounts>> {
  const out = new Map<string, PostStateCounts>(feedIds.map((id) => [id, {}]));
  if (feedIds.length === 0) return out;
  // Read from posts_feed_state_idx alone (migration 014).
  const rows = await db.kysely
    .selectFrom('posts')
    .select(['feed_id', 'publish_state', 'known_reason', (eb) => eb.fn.countAll<number>().as('n')])
    .where('feed_id', 'in', feedIds)
    .groupBy(['feed_id', 'publish_state', 'known_reason'])
    .execute();
  for (const r of rows) {
    const counts = out.get(r.feed_id)!;
    const key = r.publish_state === 'known' && r.known_reason ? `known:${r.known_reason}` : r.publish_state;
    counts[key] = (counts[key] ?? 0) + Number(r.n);
  }
  return out;
}

/** A feed's most recent failed posts (by publication date, then discovery), found by the feed (posts_feed_state_idx). */
export async function listFailedFeedPosts(db: Db, feedId: string, limit: number): Promise<Post[]> {
  const rows = await db.kysely
    .selectFrom('posts')
    .selectAll()
    .where('feed_id', '=', feedId)
    .where('publish_state', '=', 'failed')
    .orderBy((eb) => eb.fn.coalesce('published_at', 'discovered_at'), 'desc')
    .orderBy('id')
    .limit(limit)
    .execute();
  return rows.map(toPost);
}

/** A server's posts (every state) whose title contains `typed` (case-insensitive), newest first: the autocomplete of /feed why. */
export async function searchGuildPostsByTitle(db: Db, guildId: string, typed: string, limit = 25): Promise<Post[]> {
  // Control characters dropped: PostgreSQL refuses NUL in text; `%`, `_` and `\` are taken literally.
  const text = stripControls(typed).trim().toLowerCase().slice(0, 100);
  let q = db.kysely.selectFrom('posts').selectAll().where('guild_id', '=', guildId);
  if (text) q = q.where(sql<boolean>`lower(title) like ${`%${text.replace(/[\\%_]/g, '\\$&')}%`} escape '\\'`);
  const rows = await q.orderBy('discovered_at', 'desc').orderBy('id').limit(limit).execute();
  return rows.map(toPost);
}

/** A server's most recent posts with the fields similarity needs (for "not in any followed feed: closest matches"). */
export async function listGuildPostCandidates(db: Db, guildId: string, limit = 2000): Promise<Post[]> {
  const rows = await db.kysely.selectFrom('posts').selectAll().where('guild_id', '=', guildId).orderBy('discovered_at', 'desc').limit(limit).execute();
  return rows.map(toPost);
}
