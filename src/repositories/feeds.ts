import type { Db } from '../db/index.ts';
import type { FeedRow } from '../db/schema.ts';
import { now, stableId } from './ids.ts';

export interface Feed {
  id: string;
  guildId: string;
  url: string;
  channelId: string;
  title: string | null;
  etag: string | null;
  lastModified: string | null;
  /** 'removed' keeps the feed's posts, comments and ratings: the discussion is never thrown away. */
  state: 'active' | 'paused' | 'removed';
  consecutiveFailures: number;
  lastError: string | null;
  lastPolledAt: string | null;
  lastSuccessAt: string | null;
  /** The server put this feed's discussion and ratings on the web (`/web enable`). */
  webEnabled: boolean;
  /** The operator's options (`/feed add`, `/feed edit`; src/services/feed-options.ts). */
  options: FeedOptions;
  /** The last poll as it went (null before the first recorded one). */
  lastPoll: LastPoll | null;
  /** Post through a channel webhook named after the blog (per-feed identity). */
  identity: boolean;
  /** The webhook in use for that identity (its token is never part of a Feed). */
  webhookId: string | null;
  /** Why the feed posts with the bot's own identity although `identity` is on. */
  identityNote: string | null;
  createdAt: string;
}

/** How a feed's posts are announced: null/false = today's behaviour. */
export interface FeedOptions {
  /** The role mentioned (pinged) in each new announcement. */
  pingRoleId: string | null;
  /** The announcement's content line with {placeholders}. */
  template: string | null;
  /** Comma-separated filter terms. */
  include: string | null;
  exclude: string | null;
  /** In a forum, the post's categories become the forum's matching tags. */
  forumTags: boolean;
}

export const DEFAULT_FEED_OPTIONS: FeedOptions = { pingRoleId: null, template: null, include: null, exclude: null, forumTags: false };

export interface LastPoll {
  outcome: 'ok' | 'not-modified' | 'failed';
  /** The HTTP status, null when none came (a timeout, a refused connection). */
  httpStatus: number | null;
  durationMs: number | null;
  /** Items the feed held, null when it was not read (304, failure). */
  items: number | null;
}

/** What a poll records about itself, in the same UPDATE as its success or failure. */
export type PollStats = LastPoll;

const pollColumns = (stats: PollStats | undefined) =>
  stats
    ? {
        last_poll_outcome: stats.outcome,
        last_poll_status: stats.httpStatus,
        last_poll_ms: stats.durationMs === null ? null : Math.round(stats.durationMs),
        last_poll_items: stats.items,
      }
    : {};

function toFeed(r: FeedRow): Feed {
  return {
    id: r.id,
    guildId: r.guild_id,
    url: r.url,
    channelId: r.channel_id,
    title: r.title,
    etag: r.etag,
    lastModified: r.last_modified,
    state: r.state === 'paused' || r.state === 'removed' ? r.state : 'active',
    consecutiveFailures: r.consecutive_failures,
    lastError: r.last_error,
    lastPolledAt: r.last_polled_at,
    lastSuccessAt: r.last_success_at,
    webEnabled: r.web_enabled === 1,
    options: {
      pingRoleId: r.ping_role_id ?? null,
      template: r.template ?? null,
      include: r.include_filter ?? null,
      exclude: r.exclude_filter ?? null,
      forumTags: r.forum_tags === 1,
    },
    lastPoll:
      r.last_poll_outcome === 'ok' || r.last_poll_outcome === 'not-modified' || r.last_poll_outcome === 'failed'
        ? { outcome: r.last_poll_outcome, httpStatus: r.last_poll_status ?? null, durationMs: r.last_poll_ms ?? null, items: r.last_poll_items ?? null }
        : null,
    identity: r.identity === 1,
    webhookId: r.webhook_id ?? null,
    identityNote: r.identity_note ?? null,
    createdAt: r.created_at,
  };
}

export const feedId = (guildId: string, url: string): string => stableId('feed', guildId, url);

/**
 * Adds a feed to a server (or moves it to another channel and re-activates it). Returns it and whether it is new.
 * A new feed is off the web unless `web` is true; `web` given for an existing feed sets it, absent keeps it.
 */
export async function upsertFeed(
  db: Db,
  input: { guildId: string; url: string; channelId: string; title?: string | null; web?: boolean },
): Promise<{ feed: Feed; created: boolean }> {
  const id = feedId(input.guildId, input.url);
  const at = now();
  const existing = await getFeed(db, id);
  await db.kysely
    .insertInto('feeds')
    .values({
      id,
      guild_id: input.guildId,
      url: input.url,
      channel_id: input.channelId,
      title: input.title ?? null,
      state: 'active',
      consecutive_failures: 0,
      web_enabled: input.web ? 1 : 0,
      created_at: at,
      updated_at: at,
    })
    .onConflict((oc) =>
      oc.column('id').doUpdateSet({
        channel_id: input.channelId,
        state: 'active',
        consecutive_failures: 0,
        last_error: null,
        updated_at: at,
        ...(input.title ? { title: input.title } : {}),
        ...(input.web !== undefined ? { web_enabled: input.web ? 1 : 0 } : {}),
      }),
    )
    .execute();
  return { feed: (await getFeed(db, id))!, created: !existing };
}

export async function getFeed(db: Db, id: string): Promise<Feed | null> {
  const row = await db.kysely.selectFrom('feeds').selectAll().where('id', '=', id).executeTakeFirst();
  return row ? toFeed(row) : null;
}

export async function findFeedByUrl(db: Db, guildId: string, url: string): Promise<Feed | null> {
  return getFeed(db, feedId(guildId, url));
}

/** The feeds a server follows (active or paused; removed ones are left out). */
export async function listFeeds(db: Db, guildId?: string): Promise<Feed[]> {
  let q = db.kysely.selectFrom('feeds').selectAll().where('state', '!=', 'removed').orderBy('created_at').orderBy('id');
  if (guildId) q = q.where('guild_id', '=', guildId);
  return (await q.execute()).map(toFeed);
}

export async function recordFeedSuccess(
  db: Db,
  id: string,
  info: { etag?: string | null; lastModified?: string | null; title?: string | null; poll?: PollStats },
): Promise<void> {
  const at = now();
  await db.kysely
    .updateTable('feeds')
    .set({
      consecutive_failures: 0,
      last_error: null,
      last_polled_at: at,
      last_success_at: at,
      updated_at: at,
      ...(info.etag !== undefined ? { etag: info.etag } : {}),
      ...(info.lastModified !== undefined ? { last_modified: info.lastModified } : {}),
      ...(info.title ? { title: info.title } : {}),
      ...pollColumns(info.poll),
    })
    .where('id', '=', id)
    .execute();
}

/** Counts a failure; after `pauseAfter` in a row the feed is paused. Returns the feed as it is now. */
export async function recordFeedFailure(db: Db, id: string, error: string, pauseAfter: number, poll?: PollStats): Promise<Feed | null> {
  const at = now();
  await db.kysely
    .updateTable('feeds')
    .set((eb) => ({
      consecutive_failures: eb('consecutive_failures', '+', 1),
      last_error: error.slice(0, 1000),
      last_polled_at: at,
      updated_at: at,
      ...pollColumns(poll),
    }))
    .where('id', '=', id)
    .execute();
  await db.kysely.updateTable('feeds').set({ state: 'paused', updated_at: at }).where('id', '=', id).where('consecutive_failures', '>=', pauseAfter).execute();
  return getFeed(db, id);
}

/**
 * Stops following a feed. Its posts, comments and ratings stay; adding it again resumes without reposting. It also
 * leaves the web: a feed the server no longer follows is not in `/web status`, so it must not stay public unseen.
 */
export async function removeFeed(db: Db, id: string): Promise<boolean> {
  const res = await db.kysely
    .updateTable('feeds')
    .set({ state: 'removed', web_enabled: 0, updated_at: now() })
    .where('id', '=', id)
    .where('state', '!=', 'removed')
    .executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}

export async function countFeeds(db: Db, guildId: string): Promise<number> {
  const row = await db.kysely
    .selectFrom('feeds')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('guild_id', '=', guildId)
    .where('state', '!=', 'removed')
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Every feed of a server or of all servers, removed ones included (the export names their URLs). */
export async function listFeedsWithRemoved(db: Db, guildId?: string): Promise<Feed[]> {
  let q = db.kysely.selectFrom('feeds').selectAll().orderBy('created_at').orderBy('id');
  if (guildId) q = q.where('guild_id', '=', guildId);
  return (await q.execute()).map(toFeed);
}

/** Puts a feed's discussion on the web or takes it off. Returns whether the flag changed. */
export async function setFeedWeb(db: Db, id: string, enabled: boolean): Promise<boolean> {
  const res = await db.kysely
    .updateTable('feeds')
    .set({ web_enabled: enabled ? 1 : 0, updated_at: now() })
    .where('id', '=', id)
    .where('web_enabled', '=', enabled ? 0 : 1)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}
/** Changes a feed's options and/or channel in place: only the fields given change. Returns the feed as it is now. */
export async function updateFeedOptions(db: Db, id: string, patch: Partial<FeedOptions> & { channelId?: string }): Promise<Feed | null> {
  await db.kysely
    .updateTable('feeds')
    .set({
      updated_at: now(),
      ...(patch.channelId !== undefined ? { channel_id: patch.channelId } : {}),
      ...(patch.pingRoleId !== undefined ? { ping_role_id: patch.pingRoleId } : {}),
      ...(patch.template !== undefined ? { template: patch.template } : {}),
      ...(patch.include !== undefined ? { include_filter: patch.include } : {}),
      ...(patch.exclude !== undefined ? { exclude_filter: patch.exclude } : {}),
      ...(patch.forumTags !== undefined ? { forum_tags: patch.forumTags ? 1 : 0 } : {}),
    })
    .where('id', '=', id)
    .execute();
  return getFeed(db, id);
}

/** Turns a feed's per-feed identity on or off; off forgets the webhook in use (the webhook itself stays in Discord). */
export async function setFeedIdentity(db: Db, id: string, on: boolean): Promise<void> {
  await db.kysely
    .updateTable('feeds')
    .set({ identity: on ? 1 : 0, updated_at: now(), ...(on ? {} : { webhook_id: null, identity_note: null }) })
    .where('id', '=', id)
    .execute();
}

/** Records the webhook a feed posts through (and clears the note), or why it posts with the bot's identity. */
export async function setFeedWebhook(db: Db, id: string, value: { webhookId: string } | { note: string }): Promise<void> {
  await db.kysely
    .updateTable('feeds')
    .set('webhookId' in value ? { webhook_id: value.webhookId, identity_note: null } : { webhook_id: null, identity_note: value.note.slice(0, 500) })
    .where('id', '=', id)
    .execute();
}

/** A channel webhook blogcord created. `token` is a secret: never log it, never show it. */
export interface StoredWebhook {
  id: string;
  guildId: string;
  channelId: string;
  token: string;
}

export async function saveWebhook(db: Db, hook: StoredWebhook): Promise<void> {
  await db.kysely
    .insertInto('webhooks')
    .values({ id: hook.id, guild_id: hook.guildId, channel_id: hook.channelId, token: hook.token, created_at: now() })
    .onConflict((oc) => oc.column('id').doUpdateSet({ token: hook.token, channel_id: hook.channelId }))
    .execute();
}

export async function getWebhook(db: Db, id: string): Promise<StoredWebhook | null> {
  const r = await db.kysely.selectFrom('webhooks').selectAll().where('id', '=', id).executeTakeFirst();
  return r ? { id: r.id, guildId: r.guild_id, channelId: r.channel_id, token: r.token } : null;
}

export async function deleteWebhook(db: Db, id: string): Promise<void> {
  await db.kysely.deleteFrom('webhooks').where('id', '=', id).execute();
  await db.kysely.updateTable('feeds').set({ webhook_id: null }).where('webhook_id', '=', id).execute();
}
