// The discussion's routes (issue 17, what readers and search engines see):
//
//   GET /api/posts/:id/comments?cursor=&limit=&order=   a page of top-level replies with their replies (JSON)
//   GET /embed/posts/:id, GET /embed/posts?url=          the discussion as a server-rendered HTML fragment with JSON-LD
//       [&guild=&order=oldest|newest&lang=&theme=auto|light|dark&level=2-6&style=none&rating=1]
//   GET /embed/posts/:id/comments?cursor=&order=&limit=&lang=   the next page as HTML (<li> items; what "Show more" loads)
//   GET /api/counts?url=…&url=…[&guild=&lang=]           reply and rating counts of up to 50 posts
//   GET /counts.js, GET /widget.css, GET /widget/i18n/:lang.json
//
// Only public feeds (`/web enable`): any other post answers 404 post_not_found exactly as the JSON API does.
import { readdirSync, readFileSync } from 'node:fs';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Db } from '../db/index.ts';
import { API_CACHE, AnswerCache, SCRIPT_CACHE, sendCacheable } from './caching.ts';
import { commentsHtml, discussionFragment, fill, moreHtml, type Strings } from '../render/discussion-html.ts';
import { formatAverage } from '../render/rating.ts';
import {
  BadCursorError,
  COUNTS_MAX,
  countsByUrl,
  getWebDiscussion,
  PAGE_DEFAULT,
  PAGE_MAX,
  type DiscussionOrder,
  type PageRequest,
  type PostRef,
  postRefKey,
  webAnswerStamp,
} from '../services/discussion.ts';

export interface DiscussionRouteDeps {
  db: Db;
  /** PUBLIC_URL: the base of the links in the answers (media, next pages); null: as the request reached the API. */
  publicUrl?: string | null;
  /** The process's reuse of built answers (HTTP_ANSWER_CACHE_MS), shared with the post routes; default: none. */
  answers?: AnswerCache;
}

/** Thrown inside an answer's build when there is no such public post: answered as the JSON API's 404, never cached. */
const NOT_FOUND = Symbol('post not found');

const STATIC_CACHE = SCRIPT_CACHE;
const I18N_DIR = new URL('./widget/i18n/', import.meta.url);

/** The UI strings by language: English plus every src/http/widget/i18n/*.json (missing keys fall back to English). */
export function loadStrings(): Map<string, Strings> {
  const en = JSON.parse(readFileSync(new URL('en.json', I18N_DIR), 'utf8')) as Strings;
  const all = new Map<string, Strings>();
  for (const file of readdirSync(I18N_DIR).filter((f) => /^[a-z]{2,3}(-[a-z0-9]{2,8})?\.json$/i.test(f))) {
    all.set(file.slice(0, -5).toLowerCase(), { ...en, ...(JSON.parse(readFileSync(new URL(file, I18N_DIR), 'utf8')) as Partial<Strings>) });
  }
  return all;
}

/** "de-AT" → "de" strings, an unknown language → English. */
export function pickLang(strings: ReadonlyMap<string, Strings>, asked: unknown): { lang: string; strings: Strings } {
  const tag = typeof asked === 'string' ? asked.toLowerCase().slice(0, 35) : '';
  for (const key of [tag, tag.split('-')[0] ?? '']) if (key && strings.has(key)) return { lang: key, strings: strings.get(key)! };
  return { lang: 'en', strings: strings.get('en')! };
}

/**
 * Where this API is reachable: PUBLIC_URL when set (the same links from every process behind a proxy), else as the
 * request reached it (behind a trusted proxy: as the proxy says).
 */
export const apiBaseOf = (request: FastifyRequest, publicUrl?: string | null): string => publicUrl ?? `${request.protocol}://${request.host}`;

function badRequest(message: string): Error {
  return Object.assign(new Error(message), { statusCode: 400 });
}

/** A page request from the query: order oldest|newest (default oldest), limit 1–100 (default 50), an opaque cursor. */
export function pageRequest(query: { order?: unknown; limit?: unknown; cursor?: unknown }): PageRequest {
  const order = query.order ?? 'oldest';
  if (order !== 'oldest' && order !== 'newest') throw badRequest('order must be oldest or newest');
  const limit = query.limit === undefined || query.limit === '' ? PAGE_DEFAULT : Number(query.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > PAGE_MAX) throw badRequest(`limit must be a whole number from 1 to ${PAGE_MAX}`);
  if (query.cursor !== undefined && (typeof query.cursor !== 'string' || !/^[A-Za-z0-9_-]{1,400}$/.test(query.cursor)))
    throw badRequest('cursor is not valid: use the page.next of a previous answer');
  return { order: order as DiscussionOrder, limit, cursor: (query.cursor as string | undefined) || undefined };
}

function httpUrl(raw: string): string {
  try {
    const url = new URL(raw);
    if (url.protocol === 'http:' || url.protocol === 'https:') return raw;
  } catch {
    /* below */
  }
  throw badRequest('url must be an absolute http(s) URL of a blog post');
}

/** Every answer through the API's one caching helper (strong ETag, Cache-Control with stale-while-revalidate, 304). */
function sendCached(
  request: FastifyRequest,
  reply: FastifyReply,
  body: string,
  type: string,
  cache: { maxAge: number; swr: number } = API_CACHE,
): FastifyReply {
  return sendCacheable(request, reply, { body, contentType: type, ...cache });
}

/** The JSON API's own 404 (the same code and message as GET /api/posts), whatever the route. */
function notFound(reply: FastifyReply, ref: PostRef): FastifyReply {
  const message = 'url' in ref ? 'No post with this URL is discussed here (yet).' : 'No post with this id is served here.';
  return reply
    .code(404)
    .header('cache-control', 'no-store')
    .type('application/json; charset=utf-8')
    .send(JSON.stringify({ error: { code: 'post_not_found', message } }));
}

async function discussion(db: Db, ref: PostRef, req: PageRequest, apiBase: string) {
  try {
    return await getWebDiscussion(db, ref, req, apiBase);
  } catch (err) {
    if (err instanceof BadCursorError) throw badRequest(err.message);
    throw err;
  }
}

const GUILD = { type: 'string', pattern: '^[0-9]{17,20}$' } as const;
const ID = { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' } as const;
const TEXT = { type: 'string', maxLength: 400 } as const;
const PAGE_QUERY = { order: TEXT, limit: TEXT, cursor: TEXT, guild: GUILD, lang: { type: 'string', maxLength: 35 } } as const;
const EMBED_QUERY = {
  ...PAGE_QUERY,
  url: { type: 'string', minLength: 1, maxLength: 2048 },
  theme: { type: 'string', enum: ['auto', 'light', 'dark'] },
  level: { type: 'integer', minimum: 2, maximum: 6 },
  style: { type: 'string', enum: ['none', 'default'] },
  rating: { type: 'string', enum: ['0', '1'] },
} as const;

type EmbedQuery = {
  url?: string;
  guild?: string;
  order?: string;
  limit?: string;
  cursor?: string;
  lang?: string;
  theme?: 'auto' | 'light' | 'dark';
  level?: number;
  style?: 'none' | 'default';
  rating?: '0' | '1';
};

const COUNTS_SCRIPT = readFileSync(new URL('./widget/counts.js', import.meta.url), 'utf8');
const WIDGET_CSS = readFileSync(new URL('./widget/widget.css', import.meta.url), 'utf8');

export function registerDiscussionRoutes(app: FastifyInstance, deps: DiscussionRouteDeps): void {
  const { db } = deps;
  const answers = deps.answers ?? new AnswerCache(0);
  const strings = loadStrings();
  /**
   * An answer about one post, kept with the stamp of its data and served while the stamp is unchanged (one indexed
   * lookup a request); null: no such public post (a 404, nothing stored). A post that went off the web between the
   * stamp and the build is a 404 too.
   */
  const cached = async (key: string, ref: PostRef, build: () => Promise<string>) => {
    try {
      return await answers.validated(key, () => webAnswerStamp(db, ref), build, postRefKey(ref));
    } catch (error) {
      if (error === NOT_FOUND) return null;
      throw error;
    }
  };

  app.get<{ Params: { id: string }; Querystring: EmbedQuery }>(
    '/api/posts/:id/comments',
    { schema: { params: { type: 'object', properties: { id: ID }, required: ['id'] }, querystring: { type: 'object', properties: PAGE_QUERY } } },
    async (request, reply) => {
      const ref = { id: request.params.id, guildId: request.query.guild };
      const page = pageRequest(request.query);
      const apiBase = apiBaseOf(request, deps.publicUrl);
      const answer = await cached(`${apiBase} ${request.url}`, ref, async () => {
        const view = await discussion(db, ref, page, apiBase);
        if (!view) throw NOT_FOUND;
        return JSON.stringify({ id: view.id, comments: view.comments, page: view.page, topLevel: view.topLevel, replies: view.replies });
      });
      if (!answer) return notFound(reply, ref);
      return sendCacheable(request, reply, { ...answer, contentType: 'application/json; charset=utf-8', ...API_CACHE });
    },
  );

  const embed = async (request: FastifyRequest<{ Querystring: EmbedQuery }>, reply: FastifyReply, ref: PostRef) => {
    const q = request.query;
    const apiBase = apiBaseOf(request, deps.publicUrl);
    const page = pageRequest(q);
    // The fragment's links start with the API's base: it is part of the key.
    const answer = await cached(`${apiBase} ${request.url}`, ref, async () => {
      const view = await discussion(db, ref, page, apiBase);
      if (!view) throw NOT_FOUND;
      const { lang, strings: t } = pickLang(strings, q.lang);
      return discussionFragment(view, {
        strings: t,
        lang,
        apiBase,
        theme: q.theme ?? 'auto',
        headingLevel: q.level ?? 2,
        aggregateRating: q.rating === '1',
        stylesheet: q.style !== 'none',
      });
    });
    if (!answer) return notFound(reply, ref);
    reply.header('cross-origin-resource-policy', 'cross-origin');
    return sendCacheable(request, reply, { ...answer, contentType: 'text/html; charset=utf-8', ...API_CACHE });
  };

  app.get<{ Querystring: EmbedQuery }>('/embed/posts', { schema: { querystring: { type: 'object', properties: EMBED_QUERY } } }, async (request, reply) => {
    if (request.query.url === undefined) throw badRequest('url is required (or ask for /embed/posts/:id)');
    return embed(request, reply, { url: httpUrl(request.query.url), guildId: request.query.guild });
  });

  app.get<{ Params: { id: string }; Querystring: EmbedQuery }>(
    '/embed/posts/:id',
    { schema: { params: { type: 'object', properties: { id: ID }, required: ['id'] }, querystring: { type: 'object', properties: EMBED_QUERY } } },
    async (request, reply) => embed(request, reply, { id: request.params.id, guildId: request.query.guild }),
  );

  app.get<{ Params: { id: string }; Querystring: EmbedQuery }>(
    '/embed/posts/:id/comments',
    { schema: { params: { type: 'object', properties: { id: ID }, required: ['id'] }, querystring: { type: 'object', properties: PAGE_QUERY } } },
    async (request, reply) => {
      const apiBase = apiBaseOf(request, deps.publicUrl);
      const ref = { id: request.params.id, guildId: request.query.guild };
      const page = pageRequest(request.query);
      const answer = await cached(`${apiBase} ${request.url}`, ref, async () => {
        const view = await discussion(db, ref, page, apiBase);
        if (!view) throw NOT_FOUND;
        const { lang, strings: t } = pickLang(strings, request.query.lang);
        return `<ol class="blogcord-list blogcord-page" lang="${lang}">${commentsHtml(view.comments, t)}</ol>` + moreHtml(view, { apiBase, strings: t, lang });
      });
      if (!answer) return notFound(reply, ref);
      reply.header('cross-origin-resource-policy', 'cross-origin');
      return sendCacheable(request, reply, { ...answer, contentType: 'text/html; charset=utf-8', ...API_CACHE });
    },
  );

  app.get<{ Querystring: { url?: string[]; guild?: string; lang?: string } }>(
    '/api/counts',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: {
            url: { type: 'array', items: { type: 'string', minLength: 1, maxLength: 2048 } },
            guild: GUILD,
            lang: { type: 'string', maxLength: 35 },
          },
        },
      },
    },
    async (request, reply) => {
      const urls = request.query.url ?? [];
      if (urls.length === 0) throw badRequest('give at least one url (…?url=<post url>&url=<post url>)');
      if (urls.length > COUNTS_MAX) throw badRequest(`at most ${COUNTS_MAX} urls per request (got ${urls.length})`);
      for (const u of urls) httpUrl(u);
      const { strings: t } = pickLang(strings, request.query.lang);
      const counts = await countsByUrl(db, urls, { guildId: request.query.guild });
      const body = {
        counts: urls.map((url) => {
          const c = counts.get(url) ?? null;
          if (!c) return { url, found: false };
          const label = fill(c.replies === 1 ? t.reply : t.replies, { n: c.replies }) + (c.rating.count > 0 ? ` · ★ ${formatAverage(c.rating.average)}` : '');
          return { url, found: true, id: c.id, replies: c.replies, rating: c.rating, label };
        }),
      };
      return sendCached(request, reply, JSON.stringify(body), 'application/json; charset=utf-8');
    },
  );

  app.get('/counts.js', (request, reply) => {
    reply.header('cross-origin-resource-policy', 'cross-origin');
    return sendCached(request, reply, COUNTS_SCRIPT, 'text/javascript; charset=utf-8', STATIC_CACHE);
  });

  app.get('/widget.css', (request, reply) => {
    reply.header('cross-origin-resource-policy', 'cross-origin');
    return sendCached(request, reply, WIDGET_CSS, 'text/css; charset=utf-8', STATIC_CACHE);
  });

  app.get<{ Params: { lang: string } }>(
    '/widget/i18n/:lang',
    {
      schema: {
        params: { type: 'object', properties: { lang: { type: 'string', pattern: '^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})?\\.json$' } }, required: ['lang'] },
      },
    },
    (request, reply) => {
      const { lang, strings: t } = pickLang(strings, request.params.lang.slice(0, -5));
      reply.header('cross-origin-resource-policy', 'cross-origin');
      return sendCached(request, reply, JSON.stringify({ lang, strings: t }), 'application/json; charset=utf-8', STATIC_CACHE);
    },
  );
}
