// Media that lasts: attachments in the discussion are served as `GET /media/:commentId/:index` (index = 0-based
// position in the comment's attachments). Discord's attachment URLs are signed and expire (`ex`, hex unix seconds,
// a day after they were issued); a stored URL past (or near) its expiry is exchanged for a fresh one through
// Discord's `POST /attachments/refresh-urls` (REST, the bot token), which is cached until shortly before its own
// expiry in a cache every web process shares (Redis), and the reader is redirected to it. The bytes never pass
// through blogcord.
//
// Only what the web may show: the comment's post is of a feed on the web (`/web enable`), its discussion is open,
// the comment is not deleted and its author did not choose hidden. Anything else is "not found", like an unknown id.
import { createHash } from 'node:crypto';
import type { Db } from '../db/index.ts';
import type { Logger } from '../logger.ts';
import { getComment } from '../repositories/comments.ts';
import { getFeed } from '../repositories/feeds.ts';
import { getPost } from '../repositories/posts.ts';
import { DiscordRequestError, type AttachmentUrlPort } from './discord-port.ts';
import { presentForWeb } from './privacy.ts';

/** A URL with less than this left is refreshed (a reader's browser must still be able to load it). */
export const REFRESH_MARGIN_MS = 5 * 60_000;
/** The longest a redirect is cached by readers and CDNs, whatever the URL's expiry. */
export const MAX_REDIRECT_AGE_S = 6 * 3600;

/** A shared cache of refreshed URLs (Redis in the processes: every web process sees what one refreshed). */
export interface MediaUrlCache {
  get(key: string): Promise<string | null>;
  /** Stores `url` for `ttlMs` (then it is gone by itself). */
  set(key: string, url: string, ttlMs: number): Promise<void>;
}

export interface MediaDeps {
  db: Db;
  log: Logger;
  /** null when the process has no DISCORD_TOKEN: expired URLs cannot be refreshed (503). */
  discord: AttachmentUrlPort | null;
  cache: MediaUrlCache;
  /** The clock (ms); tests move it. */
  now?: () => number;
}

/** Where to send the reader and for how long that answer may be cached. */
export interface MediaRedirect {
  url: string;
  /** Seconds until shortly before the URL expires (capped at MAX_REDIRECT_AGE_S). */
  maxAge: number;
}

/** A fresh URL could not be had: `status` 502 (Discord refused) or 503 (Discord unreachable or not configured; try later). */
export class MediaUnavailableError extends Error {
  override name = 'MediaUnavailableError';
  constructor(
    message: string,
    readonly status: 502 | 503,
  ) {
    super(message);
  }
}

/** When a Discord attachment URL expires (ms), from its `ex` parameter; null when it has none (an unsigned URL). */
export function urlExpiry(url: string): number | null {
  let ex: string | null;
  try {
    ex = new URL(url).searchParams.get('ex');
  } catch {
    return null;
  }
  return ex && /^[0-9a-f]{1,12}$/i.test(ex) ? parseInt(ex, 16) * 1000 : null;
}

const httpUrl = (url: unknown): url is string => typeof url === 'string' && /^https?:\/\//i.test(url);

export interface MediaService {
  /** The redirect for a comment's attachment, or null when there is none the web may show. Throws MediaUnavailableError. */
  resolve(commentId: string, index: number): Promise<MediaRedirect | null>;
}

export function createMediaService(deps: MediaDeps): MediaService {
  const now = deps.now ?? Date.now;
  // Concurrent requests for the same attachment share one refresh (a burst of readers asks Discord once).
  const inFlight = new Map<string, Promise<{ url: string; expiry: number }>>();

  const redirectTo = (url: string, expiry: number): MediaRedirect => ({
    url,
    maxAge: Math.max(0, Math.min(MAX_REDIRECT_AGE_S, Math.floor((expiry - REFRESH_MARGIN_MS - now()) / 1000))),
  });

  async function storedAttachment(commentId: string, index: number): Promise<string | null> {
    const comment = await getComment(deps.db, commentId);
    if (!comment || comment.deletedAt) return null;
    const post = await getPost(deps.db, comment.postId);
    if (!post || post.publishState === 'known' || post.discussionClosedAt) return null;
    if (!(await getFeed(deps.db, post.feedId))?.webEnabled) return null;
    const [shown] = await presentForWeb(deps.db, post, [comment]);
    if (!shown || shown.appearance === 'hidden') return null;
    const url = shown.attachments[index]?.url;
    return httpUrl(url) ? url : null;
  }

  async function refresh(stored: string): Promise<string> {
    if (!deps.discord) throw new MediaUnavailableError('This attachment link has expired and this server cannot ask Discord for a fresh one.', 503);
    let refreshed: string | undefined;
    try {
      refreshed = (await deps.discord.refreshAttachmentUrls([stored])).find((r) => r.original === stored)?.refreshed;
    } catch (error) {
      deps.log.warn({ err: error instanceof Error ? error.message : String(error) }, 'attachment link refresh failed');
      const status = error instanceof DiscordRequestError && error.status >= 400 && error.status < 500 && error.status !== 429 ? 502 : 503;
      throw new MediaUnavailableError(
        status === 502 ? 'Discord refused to renew this attachment link.' : 'Discord could not be reached to renew this attachment link; try again shortly.',
        status,
      );
    }
    if (!httpUrl(refreshed)) throw new MediaUnavailableError('Discord did not renew this attachment link (it may have been removed).', 502);
    return refreshed;
  }

  /**
   * The current URL of an expired stored one: the shared cache, else Discord (then stored in the cache). One flight
   * per key covers the cache read, the refresh AND the cache write, and leaves the map only once the write is done:
   * a request that finds no flight either comes after the write (and reads the cached URL) or starts the only one.
   * (Sharing only the refresh let a request that read the cache before the first write, but looked for a flight
   * after the refresh had ended, ask Discord a second time.)
   */
  async function current(key: string, stored: string): Promise<{ url: string; expiry: number }> {
    const cached = await deps.cache.get(key).catch((err: unknown) => {
      deps.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'media cache unreadable: asking Discord');
      return null;
    });
    const cachedExpiry = cached ? urlExpiry(cached) : null;
    if (cached && cachedExpiry !== null && cachedExpiry - now() > REFRESH_MARGIN_MS) return { url: cached, expiry: cachedExpiry };
    const fresh = await refresh(stored);
    const freshExpiry = urlExpiry(fresh) ?? now() + REFRESH_MARGIN_MS + 60_000;
    const ttl = freshExpiry - REFRESH_MARGIN_MS - now();
    if (ttl > 0)
      await deps.cache.set(key, fresh, ttl).catch((err: unknown) => {
        deps.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'media cache unwritable: the next reader asks Discord again');
      });
    return { url: fresh, expiry: freshExpiry };
  }

  return {
    async resolve(commentId, index) {
      const stored = await storedAttachment(commentId, index);
      if (!stored) return null;
      const storedExpiry = urlExpiry(stored);
      if (storedExpiry !== null && storedExpiry - now() > REFRESH_MARGIN_MS) return redirectTo(stored, storedExpiry);
      // Keyed by the stored URL too: an edited message with other attachments never gets an old refreshed link.
      const key = `media:${commentId}:${index}:${createHash('sha256').update(stored).digest('base64url').slice(0, 16)}`;
      let pending = inFlight.get(key);
      if (!pending) {
        pending = current(key, stored).finally(() => inFlight.delete(key));
        inFlight.set(key, pending);
      }
      const { url, expiry } = await pending;
      return redirectTo(url, expiry);
    },
  };
}

/** The Redis cache of refreshed URLs, under the installation's prefix (QUEUE_PREFIX), with Redis's own expiry. */
export function redisMediaCache(
  redis: { get(key: string): Promise<string | null>; set(key: string, value: string, mode: 'PX', ms: number): Promise<unknown> },
  prefix: string,
): MediaUrlCache {
  return {
    get: (key) => redis.get(`${prefix}:${key}`),
    set: async (key, url, ttlMs) => void (await redis.set(`${prefix}:${key}`, url, 'PX', Math.max(1, Math.ceil(ttlMs)))),
  };
}
