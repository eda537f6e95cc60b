// The blog-facing HTTP API (fastify 5): posts with their rating and Discord discussion, the widget script,
// and a health check. Read-only; every answer is JSON (errors as { error: { code, message } }).
//
//   GET /api/posts?url=<post url>[&guild=<id>]   one post by its blog URL (what the widget asks)
//   GET /api/posts/:id[?guild=<id>]              one post by its blogcord id
//   GET /api/posts?guild=<id>[&limit=&offset=]   one server's served posts, newest first, with rating and reply counts
// Only posts of feeds the server put on the web (`/web enable`); any other post answers 404 like an unknown one.
//   GET /widget.js                               the embeddable widget (src/http/widget/widget.js)
//   GET /healthz                                 database and Redis → 200 or 503
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import cors from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { ConfigError } from '../config.ts';
import type { AppContext } from '../context.ts';
import { pingDb } from '../db/index.ts';
import { getWebPostView, getWebPostViewByUrl, pageWebPosts } from '../services/blog.ts';

/** What the HTTP API needs of the process (no Discord, no queues). */
export type HttpContext = Pick<AppContext, 'config' | 'log' | 'db' | 'redisHealth' | 'version'>;

export interface HttpServerOptions {
  /** Requests per client (IP address) and window; default 120 a minute. */
  rateLimit?: { max: number; timeWindowMs: number };
  /** Time allowed for each health check (database, Redis); default 3000 ms. */
  healthTimeoutMs?: number;
}

export interface StartHttpOptions extends HttpServerOptions {
  /** Default: config.httpPort (0 here means an ephemeral port, for tests). */
  port?: number;
  /** Default 0.0.0.0: blog readers' browsers call it. */
  host?: string;
}

export interface RunningHttpServer {
  readonly port: number;
  readonly app: FastifyInstance;
  close(): Promise<void>;
}

export const API_CACHE_CONTROL = 'public, max-age=60';
export const WIDGET_CACHE_CONTROL = 'public, max-age=3600';
const WIDGET_FILE = new URL('./widget/widget.js', import.meta.url);

class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Blog origins from HTTP_CORS_ORIGINS, normalised to scheme://host[:port]; "*" allows every origin. */
export function corsOrigins(configured: readonly string[]): string[] | '*' {
  if (configured.includes('*')) return '*';
  return configured.map((o) => {
    let url: URL;
    try {
      url = new URL(o);
    } catch {
      throw new ConfigError(`Invalid configuration:\n  HTTP_CORS_ORIGINS: expected comma-separated origins like https://blog.example.com, got "${o}"`);
    }
    if (!/^https?:$/.test(url.protocol)) throw new ConfigError(`Invalid configuration:\n  HTTP_CORS_ORIGINS: expected http(s) origins, got "${o}"`);
    return url.origin;
  });
}

/** A weak validator from the bytes of the answer: the same data gives the same ETag in every process. */
export function weakEtag(body: string | Buffer): string {
  return `W/"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
}

function matchesEtag(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  const bare = etag.replace(/^W\//, '');
  return header.split(',').some((tag) => {
    const t = tag.trim();
    return t === '*' || t.replace(/^W\//, '') === bare;
  });
}

/** Sends a cacheable answer: ETag + Cache-Control, and 304 without a body when the client has it. */
function sendCached(request: FastifyRequest, reply: FastifyReply, body: string, contentType: string, cacheControl: string): FastifyReply {
  const etag = weakEtag(body);
  reply.header('etag', etag).header('cache-control', cacheControl).header('vary', 'Origin');
  if (matchesEtag(request.headers['if-none-match'], etag)) return reply.code(304).send();
  return reply.type(contentType).send(body);
}

const json = (value: unknown): string => JSON.stringify(value);

function httpUrlOrThrow(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new HttpError(400, 'bad_request', 'url must be an absolute http(s) URL of a blog post');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new HttpError(400, 'bad_request', 'url must be an absolute http(s) URL of a blog post');
  return raw;
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

const GUILD = { type: 'string', pattern: '^[0-9]{17,20}$' } as const;

/** Builds the fastify app (not listening): tests use `app.inject`. */
export async function createHttpServer(ctx: HttpContext, opts: HttpServerOptions = {}): Promise<FastifyInstance> {
  const log = ctx.log.child({ component: 'http' });
  const origins = corsOrigins(ctx.config.httpCorsOrigins);
  const widget = readFileSync(WIDGET_FILE, 'utf8');
  const healthTimeout = opts.healthTimeoutMs ?? 3000;
  const trusted = ctx.config.httpTrustProxy;
  const app = Fastify({
    logger: false,
    bodyLimit: 16 * 1024,
    routerOptions: { maxParamLength: 200 },
    return503OnClosing: true,
    // request.ip (the rate limit's key) comes from X-Forwarded-For only when HTTP_TRUST_PROXY says whose to believe.
    trustProxy: typeof trusted === 'boolean' ? trusted : [...trusted],
  });

  app.addHook('onSend', async (_request, reply, payload) => {
    reply.header('x-content-type-options', 'nosniff');
    return payload;
  });

  app.setErrorHandler((error: Error & { statusCode?: number; code?: string; validation?: unknown }, request, reply) => {
    let status = error.statusCode ?? 500;
    let code: string;
    let message = error.message;
    if (error.validation) {
      status = 400;
      code = 'bad_request';
    } else if (error instanceof HttpError) {
      code = error.code;
    } else if (status === 429) {
      code = 'rate_limited';
    } else if (status >= 400 && status < 500) {
      code = 'bad_request';
    } else {
      status = 500;
      code = 'internal';
      message = 'Something went wrong on our side; please try again later.';
      log.error({ err: error, method: request.method, url: request.url }, 'http request failed');
    }
    return reply.code(status).header('cache-control', 'no-store').send({ error: { code, message } });
  });

  app.setNotFoundHandler((request, reply) =>
    reply
      .code(404)
      .header('cache-control', 'no-store')
      .send({ error: { code: 'not_found', message: `No route ${request.method} ${request.url.split('?')[0]}` } }),
  );

  if (origins === '*' || origins.length > 0) {
    await app.register(cors, { origin: origins, methods: ['GET', 'HEAD'], maxAge: 600, strictPreflight: false });
  }

  await app.register(rateLimit, {
    global: true,
    max: opts.rateLimit?.max ?? 120,
    timeWindow: opts.rateLimit?.timeWindowMs ?? 60_000,
    errorResponseBuilder: (_request, context) => new HttpError(429, 'rate_limited', `Too many requests; try again in ${context.after}.`),
  });

  app.get('/healthz', { config: { rateLimit: false } }, async (_request, reply) => {
    const check = async (what: string, fn: () => Promise<unknown>) => {
      try {
        await withTimeout(fn(), healthTimeout, what);
        return { ok: true as const };
      } catch (err) {
        return { ok: false as const, error: err instanceof Error ? err.message : String(err) };
      }
    };
    const [database, redis] = await Promise.all([check('the database', () => pingDb(ctx.db)), check('Redis', () => ctx.redisHealth())]);
    const ok = database.ok && redis.ok;
    if (!ok) log.warn({ database, redis }, 'health check failed');
    return reply
      .code(ok ? 200 : 503)
      .header('cache-control', 'no-store')
      .send({ status: ok ? 'ok' : 'unavailable', version: ctx.version, database, redis });
  });

  app.get('/widget.js', (request, reply) => {
    reply.header('cross-origin-resource-policy', 'cross-origin');
    return sendCached(request, reply, widget, 'text/javascript; charset=utf-8', WIDGET_CACHE_CONTROL);
  });

  app.get<{ Querystring: { url?: string; guild?: string; limit: number; offset: number } }>(
    '/api/posts',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: {
            url: { type: 'string', minLength: 1, maxLength: 2048 },
            guild: GUILD,
            limit: { type: 'integer', minimum: 1, maximum: 100, default: 20 },
            offset: { type: 'integer', minimum: 0, maximum: 100_000, default: 0 },
          },
        },
      },
    },
    async (request, reply) => {
      const { url, guild, limit, offset } = request.query;
      if (url !== undefined) {
        const view = await getWebPostViewByUrl(ctx.db, httpUrlOrThrow(url), { guildId: guild });
        if (!view) throw new HttpError(404, 'post_not_found', 'No post with this URL is discussed here (yet).');
        return sendCached(request, reply, json(view), 'application/json; charset=utf-8', API_CACHE_CONTROL);
      }
      // Listing every server's posts at once would show who uses blogcord: a list is of one server.
      if (guild === undefined) throw new HttpError(400, 'bad_request', 'guild is required to list posts (or ask for one post with url)');
      const page = await pageWebPosts(ctx.db, { guildId: guild, limit, offset });
      const body = { posts: page.posts, page: { limit, offset, next: page.hasMore ? offset + limit : null } };
      return sendCached(request, reply, json(body), 'application/json; charset=utf-8', API_CACHE_CONTROL);
    },
  );

  app.get<{ Params: { id: string }; Querystring: { guild?: string } }>(
    '/api/posts/:id',
    {
      schema: {
        params: { type: 'object', properties: { id: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' } }, required: ['id'] },
        querystring: { type: 'object', properties: { guild: GUILD } },
      },
    },
    async (request, reply) => {
      const view = await getWebPostView(ctx.db, request.params.id, { guildId: request.query.guild });
      if (!view) throw new HttpError(404, 'post_not_found', 'No post with this id is served here.');
      return sendCached(request, reply, json(view), 'application/json; charset=utf-8', API_CACHE_CONTROL);
    },
  );

  return app;
}

/** Builds and starts the API; logs `http api listening` with the bound port. */
export async function startHttpServer(ctx: HttpContext, opts: StartHttpOptions = {}): Promise<RunningHttpServer> {
  const app = await createHttpServer(ctx, opts);
  const port = opts.port ?? ctx.config.httpPort;
  try {
    await app.listen({ port, host: opts.host ?? '0.0.0.0' });
  } catch (err) {
    await app.close().catch(() => {});
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new ConfigError(`Invalid configuration:\n  HTTP_PORT: port ${port} is already in use; choose a free port, or 0 to disable the HTTP API`);
    if (code === 'EACCES') throw new ConfigError(`Invalid configuration:\n  HTTP_PORT: not allowed to listen on port ${port}; choose a port above 1023, or 0 to disable the HTTP API`);
    throw err;
  }
  const address = app.server.address();
  const bound = typeof address === 'object' && address ? address.port : port;
  ctx.log.info({ port: bound }, 'http api listening');
  return { port: bound, app, close: () => app.close() };
}
