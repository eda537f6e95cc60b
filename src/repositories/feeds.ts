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
  createdAt: string;
}

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
  info: { etag?: string | null; lastModified?: string | null; title?: string | null },
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
    })
    .where('id', '=', id)
    .execute();
}

/** Counts a failure; after `pauseAfter` in a row the feed is paused. Returns the feed as it is now. */
export async function recordFeedFailure(db: Db, id: string, error: string, pauseAfter: number): Promise<Feed | null> {
  const at = now();
  await db.kysely
    .updateTable('feeds')
    .set((eb) => ({ consecutive_failures: eb('consecutive_failures', '+', 1), last_error: error.slice(0, 1000), last_polled_at: at, updated_at: at }))
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
