// GET /media/:commentId/:index → 302 to the attachment's current Discord URL (services/media.ts refreshes an
// expired one), cached by readers and CDNs until shortly before that URL expires. Never the bytes themselves.
// 404 for anything the web may not show; 502/503 (JSON, not cached) when no fresh URL could be had.
import type { FastifyInstance } from 'fastify';
import { MediaUnavailableError, type MediaService } from '../services/media.ts';
import { HttpError } from './errors.ts';

/** What the route needs of the process: the media service (absent: every media request is a 503). */
export interface MediaContext {
  media?: MediaService;
}

export function registerMediaRoutes(app: FastifyInstance, ctx: MediaContext): void {
  app.get<{ Params: { commentId: string; index: number } }>(
    '/media/:commentId/:index',
    {
      schema: {
        params: {
          type: 'object',
          properties: { commentId: { type: 'string', pattern: '^[0-9]{15,21}$' }, index: { type: 'integer', minimum: 0, maximum: 99 } },
          required: ['commentId', 'index'],
        },
      },
    },
    async (request, reply) => {
      if (!ctx.media) throw new HttpError(503, 'media_unavailable', 'Attachments are not served by this process.');
      let target;
      try {
        target = await ctx.media.resolve(request.params.commentId, request.params.index);
      } catch (error) {
        if (error instanceof MediaUnavailableError) {
          reply.header('retry-after', error.status === 503 ? '30' : '300');
          throw new HttpError(error.status, error.status === 502 ? 'media_refresh_failed' : 'media_unavailable', error.message);
        }
        throw error;
      }
      if (!target) throw new HttpError(404, 'media_not_found', 'No such attachment is served here.');
      return reply
        .code(302)
        .header('location', target.url)
        .header('cache-control', target.maxAge > 0 ? `public, max-age=${target.maxAge}` : 'no-store')
        .header('referrer-policy', 'no-referrer')
        .send();
    },
  );
}
