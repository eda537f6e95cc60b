// Push routes of the HTTP API (issue 19; docs/push.md), registered when the process has queues (`start`, and `web`
// when PUBLIC_URL is set):
//   GET  /websub/:callback          a WebSub hub's verification of intent or denial (answered for the pending request only)
//   POST /websub/:callback          a hub's content distribution: signature checked, then queued for the workers (202)
//   POST /hooks/feeds/:token        a blog's publish hook: the feed is polled now through the queue (202; 404 wrong token; 429)
// The handlers only check and enqueue; the workers do the rest, so several web processes can run.
import type { FastifyInstance } from 'fastify';
import { lazyImport } from '../lazy-require.ts';
import type { PushEdgeContext } from '../services/push.ts';

// The push service (and the feed parsing, polling and notices it runs) is loaded at the first push request: a `web`
// process that takes none does not hold it (~2 MB of heap with luxon and the feed parser).
const push = lazyImport(() => import('../services/push.ts'));

/** What the push routes need: the database, the config and the queues (through `jobs`); no Discord. */
export type PushHttpContext = PushEdgeContext;

const CALLBACK = { type: 'object', properties: { callback: { type: 'string', pattern: '^[A-Za-z0-9_-]{16,64}$' } }, required: ['callback'] } as const;
const TOKEN = { type: 'object', properties: { token: { type: 'string', pattern: '^[A-Za-z0-9_-]{16,64}$' } }, required: ['token'] } as const;

export async function registerPushRoutes(app: FastifyInstance, ctx: PushHttpContext): Promise<void> {
  await app.register(async (scope) => {
    // Deliveries are feeds of any content type, checked byte for byte against their signature: read raw, as large as a feed may be.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: ctx.config.feedMaxBytes }, (_request, body, done) => done(null, body));
    // A hub may serve many feeds from one address: a budget of its own, larger than a reader's.
    const limit = { rateLimit: { max: 6000, timeWindow: 60_000 } };

    scope.get<{ Params: { callback: string }; Querystring: Record<string, string | undefined> }>(
      '/websub/:callback',
      { schema: { params: CALLBACK }, config: limit },
      async (request, reply) => {
        const answer = await (await push()).answerHubCallback(ctx, request.params.callback, request.query);
        return reply.code(answer.status).header('cache-control', 'no-store').type('text/plain; charset=utf-8').send(answer.body);
      },
    );

    scope.post<{ Params: { callback: string } }>('/websub/:callback', { schema: { params: CALLBACK }, config: limit }, async (request, reply) => {
      const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      const signature = request.headers['x-hub-signature'];
      const answer = await (
        await push()
      ).acceptDelivery(ctx, request.params.callback, Array.isArray(signature) ? signature[0] : signature, body, request.headers['content-type'] ?? null);
      return reply.code(answer.status).header('cache-control', 'no-store').type('text/plain; charset=utf-8').send(answer.body);
    });

    scope.post<{ Params: { token: string } }>('/hooks/feeds/:token', { schema: { params: TOKEN }, config: limit }, async (request, reply) => {
      const answer = await (await push()).callHook(ctx, request.params.token);
      reply.header('cache-control', 'no-store');
      if (answer.status === 'not-found') return reply.code(404).send({ error: { code: 'not_found', message: 'No feed has this hook.' } });
      if (answer.status === 'rate-limited') {
        return reply
          .code(429)
          .header('retry-after', String(answer.retryAfterSeconds))
          .send({ error: { code: 'rate_limited', message: `This feed was polled moments ago; try again in ${answer.retryAfterSeconds} s.` } });
      }
      return reply.code(202).send({ status: 'accepted', message: 'The feed is polled now.' });
    });
  });
}
