// Consent before the web: a server chooses, feed by feed, whether its discussion and ratings are served outside
// Discord (the HTTP API and the widget). `/web enable|disable|status` and `/feed add web:` come through here.
// Changing the setting edits the feed's existing announcements (through the debounced refresh), which then say
// where the replies appear, or stop saying it.
import type { AppContext } from '../context.ts';
import { UserError } from '../errors.ts';
import { setFeedWeb, listFeeds, type Feed } from '../repositories/feeds.ts';
import { listAnnouncedPostIdsOfFeed } from '../repositories/posts.ts';
import { findGuildFeed, guildFeeds } from './feeds.ts';
import type { FeedJobs } from './feed-source.ts';

export type WebContext = Pick<AppContext, 'db' | 'log'> & { jobs: Pick<FeedJobs, 'refreshAnnouncement'> };

export interface WebChange {
  feed: Feed;
  /** False when the feed already was as asked (nothing was changed). */
  changed: boolean;
  /** Announcements asked to be edited. */
  refreshed: number;
  /** Set when the queue could not be reached: the setting is saved, the announcements are edited later. */
  queueError?: string;
}

/** Asks for the refresh of every announcement of a feed; returns how many, or the queue's error. */
export async function refreshFeedAnnouncements(ctx: WebContext, feedId: string): Promise<{ refreshed: number; queueError?: string }> {
  const ids = await listAnnouncedPostIdsOfFeed(ctx.db, feedId);
  try {
    for (const id of ids) await ctx.jobs.refreshAnnouncement(id);
    return { refreshed: ids.length };
  } catch (error) {
    ctx.log.warn({ err: error, feedId }, 'web setting saved, but the announcement refreshes could not be queued');
    return { refreshed: 0, queueError: error instanceof Error ? error.message : String(error) };
  }
}

/** Puts a followed feed of the server on the web or takes it off. A feed the server does not follow is a UserError (nothing changes). */
export async function setWeb(ctx: WebContext, guildId: string, ref: string, enabled: boolean): Promise<WebChange> {
  const found = await findGuildFeed(ctx, guildId, ref);
  if (!found || found.state === 'removed')
    throw new UserError(`This server does not follow ${ref.trim() || 'that feed'}. \`/feed list\` shows the feeds it follows.`, 'unknown-feed');
  const changed = await setFeedWeb(ctx.db, found.id, enabled);
  const feed = { ...found, webEnabled: enabled };
  if (!changed) return { feed, changed, refreshed: 0 };
  ctx.log.info({ feedId: feed.id, guildId, web: enabled }, enabled ? 'feed put on the web' : 'feed taken off the web');
  return { feed, changed, ...(await refreshFeedAnnouncements(ctx, feed.id)) };
}

export interface WebStatus {
  /** Every followed feed with its setting. */
  feeds: Feed[];
  /** The blog origins the HTTP API answers browsers from (HTTP_CORS_ORIGINS); '*' = every origin. */
  origins: string[] | '*';
  /** HTTP_PORT; 0 = the HTTP API is off in this installation. */
  httpPort: number;
}

export async function webStatus(ctx: Pick<AppContext, 'db' | 'config'>, guildId: string): Promise<WebStatus> {
  return {
    feeds: await listFeeds(ctx.db, guildId),
    origins: ctx.config.httpCorsOrigins.includes('*') ? '*' : [...ctx.config.httpCorsOrigins],
    httpPort: ctx.config.httpPort,
  };
}

/** The HTML a blog pastes under its posts to show this server's discussion (`api` = where the HTTP API is reachable). */
export function widgetSnippet(guildId: string, api: string): string {
  return `<div data-blogcord data-guild="${guildId}" data-api="${api}"></div>\n<script src="${api}/widget.js" async></script>`;
}

export type { Feed };
export { guildFeeds };
