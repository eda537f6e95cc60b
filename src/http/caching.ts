// Caching a CDN (and a browser) understands, in one call for every GET route of the HTTP API:
//
//   return sendCacheable(request, reply, { body, contentType, maxAge: 60, swr: 300 });
//
// - `Cache-Control: public, max-age=…, stale-while-revalidate=…`: a CDN may serve a stale copy while it asks again.
// - A STRONG ETag derived from the exact bytes of the answer (sha-256): any change a reader could see (a comment
//   added, edited or deleted, a rating, a member's privacy choice, the server's web consent) changes the bytes and
//   so the ETag, in every process alike (no per-process state, no clock). A route that knows a cheaper version of its
//   data may pass its own `etag` (it must then change whenever the bytes do).
// - `If-None-Match` (any of a list, or `*`) → 304 without a body, with the same ETag and Cache-Control.
import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';

export interface Cacheable {
  /** The answer's bytes (already serialized). */
  body: string | Buffer;
  /** Default application/json; charset=utf-8. */
  contentType?: string;
  /** Seconds a cache may serve the answer without asking. */
  maxAge: number;
  /** Seconds after that a cache may still serve it while it revalidates in the background. */
  swr: number;
  /** A strong ETag (quoted); default: from the bytes. */
  etag?: string;
}

/** The API's JSON answers: a minute fresh, five more minutes served stale while revalidating. */
export const API_CACHE = { maxAge: 60, swr: 300 } as const;
/** The widget script: an hour fresh, a day stale while revalidating. */
export const SCRIPT_CACHE = { maxAge: 3600, swr: 86_400 } as const;

/** `public, max-age=…, stale-while-revalidate=…` (whole seconds, never negative). */
export function cacheControl(maxAge: number, swr: number): string {
  const s = (n: number) => Math.max(0, Math.floor(n));
  return `public, max-age=${s(maxAge)}, stale-while-revalidate=${s(swr)}`;
}

/** A strong validator from the bytes of an answer: the same bytes give the same ETag in every process. */
export function strongEtag(body: string | Buffer): string {
  return `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
}

/** If-None-Match uses the weak comparison (RFC 9110 13.1.2): W/ prefixes are ignored; `*` matches anything. */
export function etagMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  const bare = etag.replace(/^W\//, '');
  return header.split(',').some((tag) => {
    const t = tag.trim();
    return t === '*' || t.replace(/^W\//, '') === bare;
  });
}

/** Sends a cacheable answer (ETag, Cache-Control, Vary: Origin), or a 304 without a body when the client has it. */
export function sendCacheable(request: FastifyRequest, reply: FastifyReply, answer: Cacheable): FastifyReply {
  const etag = answer.etag ?? strongEtag(answer.body);
  reply.header('etag', etag).header('cache-control', cacheControl(answer.maxAge, answer.swr)).header('vary', 'Origin');
  if (etagMatches(request.headers['if-none-match'], etag)) return reply.code(304).send();
  return reply.type(answer.contentType ?? 'application/json; charset=utf-8').send(answer.body);
}

/** A serialized answer with its strong ETag (hashed once). */
export interface CachedAnswer {
  body: string;
  etag: string;
}

/**
 * A tiny in-process cache of serialized answers, for a short time (`ttlMs`, e.g. one second): under load a route
 * builds each answer at most once per key and period (concurrent misses share one build), and every other request
 * is the stored bytes and ETag. An answer is at most `ttlMs` older than the database, on top of the `max-age` a
 * client or CDN already allows. Errors (a 404) are never stored. `ttlMs` 0 = off (every request builds).
 */
export class AnswerCache {
  readonly #entries = new Map<string, { at: number; answer: CachedAnswer }>();
  readonly #building = new Map<string, Promise<CachedAnswer>>();

  constructor(
    readonly ttlMs: number,
    readonly maxEntries = 1000,
    readonly now: () => number = Date.now,
  ) {}

  async get(key: string, build: () => Promise<string>): Promise<CachedAnswer> {
    const make = async (): Promise<CachedAnswer> => {
      const body = await build();
      return { body, etag: strongEtag(body) };
    };
    if (this.ttlMs <= 0) return make();
    const hit = this.#entries.get(key);
    if (hit && this.now() - hit.at < this.ttlMs) return hit.answer;
    let pending = this.#building.get(key);
    if (!pending) {
      const started = this.now();
      pending = make()
        .then((answer) => {
          this.#entries.delete(key);
          this.#entries.set(key, { at: started, answer });
          // The oldest insertions go first once over the cap (a Map iterates in insertion order).
          for (const k of this.#entries.keys()) {
            if (this.#entries.size <= this.maxEntries) break;
            this.#entries.delete(k);
          }
          return answer;
        })
        .finally(() => this.#building.delete(key));
      this.#building.set(key, pending);
    }
    return pending;
  }
}
