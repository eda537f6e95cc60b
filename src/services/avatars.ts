// Avatars on the web (issue 17). Discord's avatar URLs carry the user's id, which the web never shows, so readers
// get `GET /avatars/:commentId` from the API instead: it checks that the web may show this author (named, public
// post, not deleted, not forgotten — every request, so a privacy choice or an erasure is a 404 at once), fetches the
// small image (64 px) from Discord's CDN and keeps the bytes in a bounded in-memory LRU, so readers never contact
// Discord and the CDN is asked once per avatar and process.
import type { Db } from '../db/index.ts';
import type { Logger } from '../logger.ts';
import { getWebAvatarSource, type AvatarSource } from '../repositories/avatars.ts';

export interface AvatarImage {
  body: Buffer;
  contentType: string;
}

/** The CDN could not give the image: 502 (it answered, but not an image: the avatar changed or is gone) or 503 (unreachable). */
export class AvatarUnavailableError extends Error {
  override name = 'AvatarUnavailableError';
  constructor(
    message: string,
    readonly status: 502 | 503,
  ) {
    super(message);
  }
}

export interface AvatarDeps {
  db: Db;
  log: Logger;
  /** Discord's CDN base (config.discordCdnUrl). */
  cdnUrl: string;
  fetch?: typeof fetch;
  /** Images kept (default 1000) and their bytes at most (default 16 MB). */
  maxEntries?: number;
  maxBytes?: number;
  /** Time allowed to fetch one image (default 5000 ms). */
  timeoutMs?: number;
}

export const AVATAR_SIZE = 64;
/** The largest image accepted from the CDN (a 64 px avatar is a few KB). */
export const AVATAR_MAX_BYTES = 256 * 1024;
const IMAGE_TYPES = /^image\/(png|jpeg|webp|gif)$/;

/** The CDN URL of an avatar (never leaves the server). */
export function avatarCdnUrl(cdnUrl: string, source: AvatarSource): string {
  const hash = source.avatar.slice(2);
  const path = source.avatar.startsWith('g:') ? `guilds/${source.guildId}/users/${source.authorId}/avatars/${hash}` : `avatars/${source.authorId}/${hash}`;
  return `${cdnUrl}/${path}.png?size=${AVATAR_SIZE}`;
}

export interface AvatarService {
  /** The avatar of a comment's author as the web may show it, or null (not found: no avatar, or not to be shown). */
  get(commentId: string): Promise<AvatarImage | null>;
}

export function createAvatarService(deps: AvatarDeps): AvatarService {
  const doFetch = deps.fetch ?? fetch;
  const maxEntries = deps.maxEntries ?? 1000;
  const maxBytes = deps.maxBytes ?? 16 * 1024 * 1024;
  const images = new Map<string, AvatarImage>();
  let bytes = 0;
  const loading = new Map<string, Promise<AvatarImage>>();

  const keep = (url: string, image: AvatarImage) => {
    images.set(url, image);
    bytes += image.body.length;
    for (const [k, v] of images) {
      if (images.size <= maxEntries && bytes <= maxBytes) break;
      images.delete(k);
      bytes -= v.body.length;
    }
  };

  const load = async (url: string): Promise<AvatarImage> => {
    let res: Response;
    try {
      res = await doFetch(url, { signal: AbortSignal.timeout(deps.timeoutMs ?? 5000), redirect: 'error' });
    } catch (err) {
      deps.log.warn({ err: (err as Error).message }, 'avatar: the CDN could not be reached');
      throw new AvatarUnavailableError('The avatar could not be fetched; try again later.', 503);
    }
    const type = (res.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    if (!res.ok || !IMAGE_TYPES.test(type)) {
      await res.body?.cancel().catch(() => {});
      throw new AvatarUnavailableError(`The CDN has no such avatar (HTTP ${res.status}).`, 502);
    }
    const body = Buffer.from(await res.arrayBuffer());
    if (body.length === 0 || body.length > AVATAR_MAX_BYTES) throw new AvatarUnavailableError('The CDN answered an image of an unexpected size.', 502);
    return { body, contentType: type };
  };

  return {
    async get(commentId) {
      const source = await getWebAvatarSource(deps.db, commentId);
      if (!source) return null;
      const url = avatarCdnUrl(deps.cdnUrl, source);
      const hit = images.get(url);
      if (hit) {
        images.delete(url);
        images.set(url, hit);
        return hit;
      }
      let pending = loading.get(url);
      if (!pending) {
        pending = load(url)
          .then((image) => {
            keep(url, image);
            return image;
          })
          .finally(() => loading.delete(url));
        loading.set(url, pending);
      }
      return pending;
    },
  };
}
