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
export function sendCacheable(request: FastifyRequest, reply: FastifyReply, answer: Cacheable & { bytes?: Buffer }): FastifyReply {
  const etag = answer.etag ?? strongEtag(answer.body);
  reply.header('etag', etag).header('cache-control', cacheControl(answer.maxAge, answer.swr)).header('vary', 'Origin');
  if (etagMatches(request.headers['if-none-match'], etag)) return reply.code(304).send();
  return reply.type(answer.contentType ?? 'application/json; charset=utf-8').send(answer.bytes ?? answer.body);
}

/** A serialized answer with its strong ETag (hashed once), and its bytes when kept (encoded once, sent many times). */
export interface CachedAnswer {
  body: string;
  etag: string;
  bytes?: Buffer;
}

/**
 * Concurrent reads of one key share a read that STARTED AFTER they arrived: a read in flight serves the requests
 * that came before it; those arriving meanwhile wait for the next one, which starts when it ends. So under load
 * a post's version is read about once per round trip, not once per request, and a reader still never gets a value
 * older than their request (a write that committed before the request is always seen).
 */
export class FreshReads<T> {
  readonly #flights = new Map<string, { current: Promise<T>; next: Promise<T> | null }>();

  read(key: string, fn: () => Promise<T>): Promise<T> {
    const flight = this.#flights.get(key);
    if (!flight) return this.#start(key, fn);
    const settled = flight.current.then(
      () => {},
      () => {},
    );
    flight.next ??= settled.then(() => this.#start(key, fn));
    return flight.next;
  }

  /** Keys with a read in flight (tests). */
  get inFlight(): number {
    return this.#flights.size;
  }

  #start(key: string, fn: () => Promise<T>): Promise<T> {
    const flight = { current: fn(), next: null as Promise<T> | null };
    this.#flights.set(key, flight);
    void flight.current
      .then(
        () => {},
        () => {},
      )
      .then(() => {
        // Nobody queued behind it: gone. Otherwise the queued read has taken its place (or is about to).
        if (this.#flights.get(key) === flight && flight.next === null) this.#flights.delete(key);
      });
    return flight.current;
  }
}

/** A validated answer, the stamp of the data it was built from, and when that stamp was last confirmed. */
interface VersionedEntry {
  stamp: string;
  /** When the stamp was last read and matched (the optional ttl skips reads for that long). */
  checkedAt: number;
  answer: CachedAnswer;
}

/**
 * The process's built answers. Two ways to use it:
 *
 * - `validated(key, stamp, build)` (the post routes): the answer is stored with the stamp of its data (a cheap
 *   version read, src/repositories/web-versions.ts); every request reads the stamp again and gets the stored bytes
 *   while it is the same, a fresh build as soon as it differs. Nothing is ever served stale, and an unchanged post
 *   costs one indexed lookup. With `ttlMs` > 0 (HTTP_ANSWER_CACHE_MS, opt-in) a stamp read is skipped for that long
 *   after the last one: faster still, at the price of answers up to `ttlMs` old.
 * - `get(key, build)` (routes without a version: a server's list): the answer is reused for `ttlMs`, 0 = built
 *   every time.
 *
 * Concurrent misses of one key (and stamp) share one build; errors are never stored; the least recently used
 * answers go first over `maxEntries` or `maxBytes`.
 */
export class AnswerCache {
  readonly #entries = new Map<string, { at: number; answer: CachedAnswer }>();
  readonly #versioned = new Map<string, VersionedEntry>();
  #versionedBytes = 0;
  readonly #building = new Map<string, Promise<CachedAnswer>>();
  readonly #stamps = new FreshReads<string | null>();

  constructor(
    readonly ttlMs: number,
    readonly maxEntries = 1000,
    readonly now: () => number = Date.now,
    readonly maxBytes = 64 * 1024 * 1024,
  ) {}

  /** Answers stored for validation now, and their bytes (for tests and the footprint). */
  get size(): { entries: number; bytes: number } {
    return { entries: this.#versioned.size, bytes: this.#versionedBytes };
  }

  /**
   * The answer for `key` as of the data's current stamp, or null when `stamp()` says there is none (not found:
   * nothing stored). `build` runs only when the stored answer's stamp differs (or there is none).
   */
  async validated(key: string, stamp: () => Promise<string | null>, build: () => Promise<string>, stampKey: string = key): Promise<CachedAnswer | null> {
    const hit = this.#versioned.get(key);
    if (hit && this.ttlMs > 0 && this.now() - hit.checkedAt < this.ttlMs) return hit.answer;
    const checkedAt = this.now();
    const current = await this.#stamps.read(stampKey, stamp);
    if (current === null) {
      if (hit) this.#forget(key, hit);
      return null;
    }
    if (hit && hit.stamp === current) {
      hit.checkedAt = checkedAt;
      // Most recently used goes last (a Map iterates in insertion order): the least recently used are evicted first.
      this.#versioned.delete(key);
      this.#versioned.set(key, hit);
      return hit.answer;
    }
    const buildKey = `${current}\n${key}`;
    let pending = this.#building.get(buildKey);
    if (!pending) {
      pending = build()
        .then((body) => {
          const answer = { body, etag: strongEtag(body), bytes: Buffer.from(body) };
          // Stored under the stamp read BEFORE the build: a change during the build makes the next request rebuild.
          const old = this.#versioned.get(key);
          if (old) this.#forget(key, old);
          this.#versioned.set(key, { stamp: current, checkedAt, answer });
          this.#versionedBytes += body.length;
          for (const [k, e] of this.#versioned) {
            if (this.#versioned.size <= this.maxEntries && this.#versionedBytes <= this.maxBytes) break;
            this.#forget(k, e);
          }
          return answer;
        })
        .finally(() => this.#building.delete(buildKey));
      this.#building.set(buildKey, pending);
    }
    return pending;
  }

  #forget(key: string, entry: VersionedEntry): void {
    if (this.#versioned.get(key) !== entry) return;
    this.#versioned.delete(key);
    this.#versionedBytes -= entry.answer.body.length;
  }

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
