// GET /avatars/:commentId → the comment author's avatar (64 px) as bytes, from the API's own address: readers never
// contact Discord and no user id reaches the page. 404 (never cached) for anything the web may not show; 502/503
// when the CDN has no image or cannot be reached (the widget then shows the letter placeholder).
import type { FastifyInstance } from 'fastify';
import { AvatarUnavailableError, type AvatarService } from '../services/avatars.ts';
import { sendCacheable } from './caching.ts';
import { HttpError } from './errors.ts';

/** A day fresh, a week served stale while revalidating: an avatar changes rarely, and a new one has a new hash. */
export const AVATAR_CACHE = { maxAge: 86_400, swr: 604_800 } as const;

export function registerAvatarRoutes(app: FastifyInstance, avatars: AvatarService): void {
  app.get<{ Params: { commentId: string } }>(
    '/avatars/:commentId',
    { schema: { params: { type: 'object', properties: { commentId: { type: 'string', pattern: '^[0-9]{15,21}$' } }, required: ['commentId'] } } },
    async (request, reply) => {
      let image;
      try {
        image = await avatars.get(request.params.commentId);
      } catch (error) {
        if (error instanceof AvatarUnavailableError) {
          if (error.status === 503) reply.header('retry-after', '30');
          throw new HttpError(error.status, error.status === 502 ? 'avatar_unavailable' : 'avatar_unreachable', error.message);
        }
        throw error;
      }
      if (!image) throw new HttpError(404, 'avatar_not_found', 'No such avatar is served here.');
      reply.header('cross-origin-resource-policy', 'cross-origin');
      return sendCacheable(request, reply, { body: image.body, contentType: image.contentType, ...AVATAR_CACHE });
    },
  );
}
