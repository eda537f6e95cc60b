// The blog-facing HTTP API (fastify 5): posts with their rating and Discord discussion, the widget script,
// and a health check. Read-only; every answer is JSON (errors as { error: { code, message } }).
//
//   GET /api/posts?url=<post url>[&guild=<id>]   one post by its blog URL (what the widget asks)
//   GET /api/posts/:id[?guild=<id>]              one post by its blogcord id
//   GET /api/posts?guild=<id>[&limit=&offset=]   one server's served posts, newest first, with rating and reply counts
// Only posts of feeds the server put on the web (`/web enable`); any other post answers 404 like an unknown one.
//   GET /widget.js                               the embeddable widget (src/http/widget/widget.js)
//   GET /healthz                                 database and Redis → 200 or 503, ok/not ok per component only
import { readFileSync } from 'node:fs';
import { createServer, STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import cors from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { ConfigError } from '../config.ts';
import type { AppContext } from '../context.ts';
import { pageWebPosts } from '../services/blog.ts';
import { getWebDiscussion, postRefKey, webAnswerStamp, type PostRef } from '../services/discussion.ts';
import { checkHealth, type Health } from '../services/status.ts';
import { AnswerCache, API_CACHE, SCRIPT_CACHE, sendCacheable } from './caching.ts';
import { apiBaseOf, pageRequest, registerDiscussionRoutes } from './discussion-routes.ts';
import { errorBody, HttpError } from './errors.ts';
import { registerMediaRoutes, type MediaContext } from './media.ts';
import { registerAvatarRoutes } from './avatars.ts';
import { createAvatarService } from '../services/avatars.ts';

import { registerPushRoutes } from './push-routes.ts';
import type { PushEdgeJobs } from '../services/push.ts';

/** What the HTTP API needs of the process (no gateway; the queues only where push is taken). */
export type HttpContext = Pick<AppContext, 'config' | 'log' | 'db' | 'redisHealth' | 'version'> &
  MediaContext &
  Partial<Pick<AppContext, 'discord'>> & { jobs?: PushEdgeJobs };

export interface HttpServerOptions {
  /** Requests per client (IP address) and window; default HTTP_RATE_LIMIT (120) a minute. */
  rateLimit?: { max: number; timeWindowMs: number };
  /** Time allowed for each health check (database, Redis); default 3000 ms. */
  healthTimeoutMs?: number;
  /** /healthz requests per client and window (its own budget, so a monitor is not starved by the API's); default 30 a minute. */
  healthRateLimit?: { max: number; timeWindowMs: number };
  /** Time a client has to send a request's headers (a trickling client is cut off after it); default 5000 ms. */
  headersTimeoutMs?: number;
  /** Time a client has to send a whole request; default 10000 ms (at least headersTimeoutMs). */
  requestTimeoutMs?: number;
  /** An idle kept-alive connection is closed after this; default 5000 ms. */
  keepAliveTimeoutMs?: number;
  /** Open connections at most; a connection over the cap is closed at once. Default 1000. */
  maxConnections?: number;
  /**
   * How long (ms) a stored answer is served without reading its stamp again (src/http/caching.ts AnswerCache); default
   * 0: every request reads the post's version, so every change shows at once. The processes use HTTP_ANSWER_CACHE_MS.
   */
  answerCacheMs?: number;
}

/** The longest request target (path and query) the API reads; a longer one is a 414. */
export const MAX_URL_LENGTH = 4096;

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

const WIDGET_FILE = new URL('./widget/widget.js', import.meta.url);

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

const GUILD = { type: 'string', pattern: '^[0-9]{17,20}$' } as const;

/**
 * Errors Node's HTTP parser reports before Fastify sees a request (headers too large, a request that is not
 * HTTP, a client too slow to send its headers): answered in the API's error shape on the raw socket, then closed.
 */
function answerClientError(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, code, message] =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'request_timeout', 'The request was not received in time.']
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'headers_too_large', 'The request headers (or its URL) are too large.']
        : err.code === 'HPE_URI_TOO_LONG'
          ? [414, 'uri_too_long', 'The request URL is too long.']
          : [400, 'bad_request', 'The request is not valid HTTP.'];
  const body = errorBody(code, message);
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `X-Content-Type-Options: nosniff\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

/** Builds the fastify app (not listening): tests use `app.inject`. Each step below is one concern of the API. */
export async function createHttpServer(ctx: HttpContext, opts: HttpServerOptions = {}): Promise<FastifyInstance> {
  const log = ctx.log.child({ component: 'http' });
  const origins = corsOrigins(ctx.config.httpCorsOrigins);
  const app = createFastify(ctx, opts);
  installErrorHandling(app, log);
  await registerPlugins(app, origins, ctx.config.httpRateLimit, opts);
  registerHealth(app, ctx, log, opts);
  registerWidget(app);
  const answers = new AnswerCache(opts.answerCacheMs ?? 0);
  registerPostRoutes(app, ctx, answers);
  registerMediaRoutes(app, ctx);
  registerAvatarRoutes(app, createAvatarService({ db: ctx.db, log, cdnUrl: ctx.config.discordCdnUrl }));
  registerDiscussionRoutes(app, { db: ctx.db, publicUrl: ctx.config.publicUrl, answers });
  // Push (WebSub callbacks, publish hooks): only a process with queues can take them (src/http/push-routes.ts).
  if (ctx.jobs) await registerPushRoutes(app, { ...ctx, jobs: ctx.jobs });
  return app;
}

/** The fastify instance on Node's own HTTP server: its timers, connection cap and client-error answers. */
function createFastify(ctx: HttpContext, opts: HttpServerOptions): FastifyInstance {
  const trusted = ctx.config.httpTrustProxy;
  const headersTimeout = opts.headersTimeoutMs ?? 5000;
  const requestTimeout = Math.max(opts.requestTimeoutMs ?? 10_000, headersTimeout);
  const keepAliveTimeout = opts.keepAliveTimeoutMs ?? 5000;
  const maxConnections = opts.maxConnections ?? 1000;
  return Fastify({
    logger: false,
    bodyLimit: 16 * 1024,
    routerOptions: { maxParamLength: 200 },
    return503OnClosing: true,
    // request.ip (the rate limit's key) comes from X-Forwarded-For only when HTTP_TRUST_PROXY says whose to believe.
    trustProxy: typeof trusted === 'boolean' ? trusted : [...trusted],
    // Node's own timers: a client must send its headers within headersTimeout and its request within
    // requestTimeout (checked every quarter of a second, not Node's default 30 s), and at most maxConnections
    // connections are open at once (the one over the cap is closed as it arrives).
    serverFactory: (handler) => {
      const server = createServer(
        { headersTimeout, requestTimeout, keepAliveTimeout, connectionsCheckingInterval: Math.min(250, headersTimeout), maxHeaderSize: 16 * 1024 },
        handler as (req: IncomingMessage, res: ServerResponse) => void,
      );
      server.maxConnections = maxConnections;
      return server;
    },
    clientErrorHandler: answerClientError,
    // Errors of the router itself (a URL that is not validly percent-encoded, a path segment over
    // maxParamLength): the API's error shape, without echoing the URL.
    frameworkErrors: (error, _request, reply) => {
      const tooLong = error.code === 'FST_ERR_MAX_PARAM_LENGTH';
      const [status, code, message] = tooLong
        ? [414, 'uri_too_long', 'The request URL is too long.']
        : error.code === 'FST_ERR_BAD_URL'
          ? [400, 'bad_request', 'The request URL is not validly percent-encoded.']
          : [400, 'bad_request', 'The request could not be routed.'];
      void (reply as unknown as FastifyReply)
        .code(status)
        .header('x-content-type-options', 'nosniff')
        .header('cache-control', 'no-store')
        .type('application/json; charset=utf-8')
        .send(errorBody(code, message));
    },
  });
}

/** The URL length cap, nosniff on every answer, and every error (and unknown route) in the API's one shape, never cached. */
function installErrorHandling(app: FastifyInstance, log: HttpContext['log']): void {
  // Callback hooks, not async ones: they run on every request, and an async hook costs fastify a promise and a
  // microtask turn each.
  app.addHook('onRequest', (request, _reply, done) => {
    if (request.url.length > MAX_URL_LENGTH) done(new HttpError(414, 'uri_too_long', `The request URL is too long (at most ${MAX_URL_LENGTH} characters).`));
    else done();
  });

  app.addHook('onSend', (_request, reply, payload, done) => {
    reply.header('x-content-type-options', 'nosniff');
    done(null, payload);
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
    } else if (status === 413) {
      code = 'payload_too_large';
    } else if (status === 415) {
      code = 'unsupported_media_type';
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
      .send({ error: { code: 'not_found', message: `No route ${request.method} ${request.url.split('?')[0]!.slice(0, 100)}` } }),
  );
}

/** CORS for the blog origins (HTTP_CORS_ORIGINS) and the per-client rate limit. */
async function registerPlugins(app: FastifyInstance, origins: string[] | '*', httpRateLimit: number, opts: HttpServerOptions): Promise<void> {
  if (origins === '*' || origins.length > 0) {
    await app.register(cors, { origin: origins, methods: ['GET', 'HEAD'], maxAge: 600, strictPreflight: false });
  }
  // HTTP_RATE_LIMIT=0: no per-client limit (a CDN or the reverse proxy limits instead); the options win (tests).
  if (!opts.rateLimit && httpRateLimit === 0) return;
  await app.register(rateLimit, {
    global: true,
    max: opts.rateLimit?.max ?? httpRateLimit,
    timeWindow: opts.rateLimit?.timeWindowMs ?? 60_000,
    errorResponseBuilder: (_request, context) => new HttpError(429, 'rate_limited', `Too many requests; try again in ${context.after}.`),
  });
}

/**
 * GET /healthz. The public answer says only which component is ok; what failed, and why, goes to the log. Concurrent
 * checks share one round of pings, and each client has its own small budget of checks.
 */
function registerHealth(app: FastifyInstance, ctx: HttpContext, log: HttpContext['log'], opts: HttpServerOptions): void {
  const healthTimeout = opts.healthTimeoutMs ?? 3000;
  let running: Promise<Health> | null = null;
  const runChecks = async () => {
    const health = await checkHealth(ctx, { timeoutMs: healthTimeout });
    if (!health.database.ok || !health.redis.ok) log.warn(health, 'health check failed');
    return health;
  };
  const healthLimit = opts.healthRateLimit ?? { max: 30, timeWindowMs: 60_000 };
  app.get('/healthz', { config: { rateLimit: { max: healthLimit.max, timeWindow: healthLimit.timeWindowMs } } }, async (_request, reply) => {
    running ??= runChecks().finally(() => (running = null));
    const { database, redis } = await running;
    const ok = database.ok && redis.ok;
    return reply
      .code(ok ? 200 : 503)
      .header('cache-control', 'no-store')
      .send({ status: ok ? 'ok' : 'unavailable', database: { ok: database.ok }, redis: { ok: redis.ok } });
  });
}

/** GET /widget.js: the embeddable script, read once. */
function registerWidget(app: FastifyInstance): void {
  const widget = readFileSync(WIDGET_FILE, 'utf8');
  app.get('/widget.js', (request, reply) => {
    reply.header('cross-origin-resource-policy', 'cross-origin');
    return sendCacheable(request, reply, { body: widget, contentType: 'text/javascript; charset=utf-8', ...SCRIPT_CACHE });
  });
}

/**
 * A build that found no public post although its stamp was read a moment before (the post went off the web in
 * between): a 404 like any other, never stored.
 */
const NOT_SERVED = new HttpError(404, 'post_not_found', 'No post with this URL or id is served here.');

/**
 * GET /api/posts?url=, /api/posts?guild= and /api/posts/:id. A post's answer is kept in memory with the stamp of its
 * data (AnswerCache.validated): each request reads the stamp (one indexed lookup) and rebuilds only when it changed.
 */
function registerPostRoutes(app: FastifyInstance, ctx: HttpContext, answers: AnswerCache): void {
  /** One post's discussion as JSON, validated by its stamp; null: no such public post. */
  const postAnswer = (key: string, ref: PostRef, page: ReturnType<typeof pageRequest>, apiBase: string) =>
    answers.validated(
      key,
      () => webAnswerStamp(ctx.db, ref),
      async () => {
        const view = await getWebDiscussion(ctx.db, ref, page, apiBase);
        if (!view) throw NOT_SERVED;
        return json(view);
      },
      postRefKey(ref),
    );

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
        const postUrl = httpUrlOrThrow(url);
        const order = (request.query as { order?: string }).order;
        // The answer's links start with the API's base: it is part of the cache key.
        const apiBase = apiBaseOf(request, ctx.config.publicUrl);
        const page = pageRequest({ order });
        const answer = await postAnswer(`${apiBase} ${request.url}`, { url: postUrl, guildId: guild }, page, apiBase);
        if (!answer) throw new HttpError(404, 'post_not_found', 'No post with this URL is discussed here (yet).');
        return sendCacheable(request, reply, { ...answer, ...API_CACHE });
      }
      // Listing every server's posts at once would show who uses blogcord: a list is of one server.
      if (guild === undefined) throw new HttpError(400, 'bad_request', 'guild is required to list posts (or ask for one post with url)');
      const answer = await answers.get(request.url, async () => {
        const page = await pageWebPosts(ctx.db, { guildId: guild, limit, offset });
        return json({ posts: page.posts, page: { limit, offset, next: page.hasMore ? offset + limit : null } });
      });
      return sendCacheable(request, reply, { ...answer, ...API_CACHE });
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
      const apiBase = apiBaseOf(request, ctx.config.publicUrl);
      const page = pageRequest(request.query as { order?: string });
      const answer = await postAnswer(`${apiBase} ${request.url}`, { id: request.params.id, guildId: request.query.guild }, page, apiBase);
      if (!answer) throw new HttpError(404, 'post_not_found', 'No post with this id is served here.');
      return sendCacheable(request, reply, { ...answer, ...API_CACHE });
    },
  );
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
    if (code === 'EADDRINUSE')
      throw new ConfigError(`Invalid configuration:\n  HTTP_PORT: port ${port} is already in use; choose a free port, or 0 to disable the HTTP API`);
    if (code === 'EACCES')
      throw new ConfigError(
        `Invalid configuration:\n  HTTP_PORT: not allowed to listen on port ${port}; choose a port above 1023, or 0 to disable the HTTP API`,
      );
    throw err;
  }
  const address = app.server.address();
  const bound = typeof address === 'object' && address ? address.port : port;
  ctx.log.info({ port: bound }, 'http api listening');
  return { port: bound, app, close: () => app.close() };
}
