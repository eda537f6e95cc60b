import net from 'node:net';
import type { Readable } from 'node:stream';
import zlib from 'node:zlib';
import type * as Undici from 'undici';
import { lazyRequire } from '../lazy-require.ts';
import { decodeFeedBytes } from './charset.ts';
import { FeedError } from './errors.ts';
import { guardedLookup, isPublicAddress, privateAddressError } from './guard.ts';
import type { FetchFeedOptions, FetchFeedResult, FetchFeedValidators } from './types.ts';
import { USER_AGENT } from './user-agent.ts';
import { linksFromHeaders } from './websub-discovery.ts';

/** undici 7 (~0.5 MB of code), loaded with the first fetch (discord.js brings its own copy). */
export const undici = lazyRequire<typeof Undici>('undici');

export const DEFAULT_FEED_TIMEOUT_MS = 20_000;
export const DEFAULT_FEED_MAX_BYTES = 5 * 1024 * 1024;
export const MAX_REDIRECTS = 5;

const ACCEPT =
  'application/rss+xml, application/atom+xml, application/feed+json, application/rdf+xml;q=0.9, application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, */*;q=0.5';

function formatBytes(bytes: number): string {
  const mb = bytes / (1024 * 1024);
  if (mb >= 1) return `${Number.isInteger(mb) ? mb : mb.toFixed(1)} MB`;
  const kb = bytes / 1024;
  return `${Number.isInteger(kb) ? kb : kb.toFixed(1)} KB`;
}

/** Parse and check a feed URL: absolute, http(s), with a host; IP literals are checked against the guard at once. */
export function checkFeedUrl(input: string, allowPrivateNetwork: boolean, isAllowed: (address: string) => boolean = isPublicAddress): URL {
  let url: URL;
  try {
    url = new URL(input.trim());
  } catch {
    throw new FeedError('invalid-url', `"${input}" is not a valid URL (it should look like https://example.com/feed/)`, { url: input });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new FeedError('unsupported-protocol', `Only http and https feed URLs are supported, not ${url.protocol.replace(/:$/, '')}: (${input})`, {
      url: input,
    });
  }
  if (!url.hostname) throw new FeedError('invalid-url', `"${input}" has no host name`, { url: input });
  if (url.username || url.password) {
    throw new FeedError('invalid-url', `Feed URLs with a user name or password are not supported (${url.host})`, { url: input });
  }
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (!allowPrivateNetwork && net.isIP(host) && !isAllowed(host)) throw privateAddressError(url.href, host);
  return url;
}

function header(headers: Record<string, string | string[] | undefined>, name: string): string | null {
  const value = headers[name];
  if (Array.isArray(value)) return value[0] ?? null;
  return value ?? null;
}

function decompressor(encoding: string | null): zlib.Gunzip | zlib.Inflate | zlib.BrotliDecompress | null {
  switch ((encoding ?? '').trim().toLowerCase()) {
    case 'gzip':
    case 'x-gzip':
      return zlib.createGunzip();
    case 'deflate':
      return zlib.createInflate();
    case 'br':
      return zlib.createBrotliDecompress();
    default:
      return null;
  }
}

/** Stop reading a body: destroyed streams emit 'error', which must not become an uncaught exception. */
function discard(stream: Readable | zlib.Gunzip | zlib.Inflate | zlib.BrotliDecompress): void {
  stream.on('error', () => {});
  stream.destroy();
}

/** Read a body stream into memory, refusing (and destroying the stream) as soon as more than maxBytes arrive. */
async function readCapped(body: Readable, encoding: string | null, maxBytes: number, url: string): Promise<Buffer> {
  const tooLarge = () => new FeedError('too-large', `The feed is larger than ${formatBytes(maxBytes)} (${url})`, { url });
  const inflate = decompressor(encoding);
  const source: Readable = inflate ? body.pipe(inflate) : body;
  if (inflate) body.on('error', (err) => inflate.destroy(err));
  const chunks: Buffer[] = [];
  let received = 0;
  try {
    for await (const chunk of source) {
      const buf = chunk as Buffer;
      received += buf.byteLength;
      if (received > maxBytes) throw tooLarge();
      chunks.push(buf);
    }
  } catch (err) {
    discard(body);
    if (inflate) discard(inflate);
    if (err instanceof FeedError) throw err;
    if (inflate && (err as NodeJS.ErrnoException).code?.startsWith('Z_')) {
      throw new FeedError('malformed', `The server sent a corrupt ${encoding} body (${url})`, { url, cause: err });
    }
    throw err;
  }
  return Buffer.concat(chunks);
}

function findFeedError(err: unknown): FeedError | null {
  let current: unknown = err;
  for (let depth = 0; current && depth < 5; depth++) {
    if (current instanceof FeedError) return current;
    current = (current as { cause?: unknown }).cause;
  }
  return null;
}

function classifyError(err: unknown, url: string, totalTimedOut: boolean, timeoutMs: number): FeedError {
  const feedError = findFeedError(err);
  if (feedError) return feedError;
  const code = (err as { code?: string }).code ?? (err as { cause?: { code?: string } }).cause?.code ?? '';
  const name = (err as { name?: string }).name ?? '';
  if (totalTimedOut || name === 'AbortError' || name === 'TimeoutError') {
    return new FeedError('timeout', `The feed took longer than ${timeoutMs / 1000} s to download (${url})`, { url, cause: err });
  }
  if (code === 'UND_ERR_CONNECT_TIMEOUT') {
    return new FeedError('timeout', `Could not connect to ${new URL(url).host} in time (${url})`, { url, cause: err });
  }
  if (code === 'ETIMEDOUT') {
    return new FeedError('timeout', `The server at ${new URL(url).host} stopped answering (${url})`, { url, cause: err });
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_NODATA' || code === 'EAI_NONAME') {
    return new FeedError('dns', `The host name ${new URL(url).hostname} could not be found (DNS)`, { url, cause: err });
  }
  const reason = code || (err instanceof Error ? err.message : String(err));
  return new FeedError('network', `Could not download ${url}: ${reason}`, { url, cause: err });
}

/** What fetchFeed's steps share for one download. */
interface Download {
  readonly url: string;
  readonly opts: FetchFeedOptions;
  readonly timeoutMs: number;
  readonly maxBytes: number;
  readonly isAllowed: (address: string) => boolean;
  /** The URL of the current hop (redirects move it). */
  current: URL;
}

/**
 * An undici agent whose every connection goes through the private-address guard (resolved addresses, and the
 * address the socket actually connected to), unless `allowPrivateNetwork`. Also used for WebSub hub requests.
 */
export function guardedAgent(
  opts: Pick<FetchFeedOptions, 'allowPrivateNetwork' | 'addressPolicy'> & { connectTimeoutMs: number },
  currentUrl: () => string,
): Undici.Agent {
  const isAllowed = opts.addressPolicy ?? isPublicAddress;
  const lookup = guardedLookup(currentUrl, isAllowed);
  const { Agent, buildConnector } = undici();
  const connector = buildConnector({ timeout: opts.connectTimeoutMs, ...(opts.allowPrivateNetwork ? {} : { lookup }) });
  return new Agent({
    headersTimeout: 0,
    bodyTimeout: 0,
    connect(options, callback) {
      connector(options, (err, socket) => {
        if (err) return callback(err, null);
        // Belt and braces: check the address the socket actually connected to (covers IP literals, which skip lookup).
        const remote = socket.remoteAddress;
        if (!opts.allowPrivateNetwork && (!remote || !isAllowed(remote))) {
          socket.destroy();
          return callback(privateAddressError(currentUrl(), remote ?? 'an unknown address'), null);
        }
        callback(null, socket);
      });
    },
  });
}

function requestHeaders(opts: FetchFeedOptions, validators: FetchFeedValidators): Record<string, string> {
  const headers: Record<string, string> = {
    'user-agent': opts.userAgent || USER_AGENT,
    accept: ACCEPT,
    'accept-encoding': 'gzip, deflate, br',
  };
  if (validators.etag) headers['if-none-match'] = validators.etag;
  if (validators.lastModified) headers['if-modified-since'] = validators.lastModified;
  return headers;
}

type Response = Awaited<ReturnType<typeof Undici.request>>;

/** A redirect's next URL (checked like the first one), or a FeedError. */
function followRedirect(d: Download, response: Response, hop: number): URL {
  const location = header(response.headers, 'location');
  discard(response.body);
  if (!location) {
    throw new FeedError('http-status', `${d.current.href} answered ${response.statusCode} (a redirect) without saying where to`, {
      url: d.current.href,
      status: response.statusCode,
    });
  }
  if (hop >= MAX_REDIRECTS) throw new FeedError('too-many-redirects', `${d.url} redirects more than ${MAX_REDIRECTS} times`, { url: d.url });
  let next: URL;
  try {
    next = new URL(location, d.current);
  } catch {
    throw new FeedError('invalid-url', `${d.current.href} redirects to an invalid URL: ${location}`, { url: d.current.href });
  }
  return checkFeedUrl(next.href, d.opts.allowPrivateNetwork, d.isAllowed);
}

/** A status that is neither a success, a redirect nor 304 as a FeedError with a hint for the person who asked. */
function statusError(url: string, statusCode: number): FeedError {
  const hint =
    statusCode === 404 || statusCode === 410
      ? ' (the feed is not there; check the URL)'
      : statusCode === 401 || statusCode === 403
        ? ' (the server refuses to give the feed to the bot)'
        : statusCode === 429
          ? ' (the server asks the bot to slow down)'
          : statusCode >= 500
            ? ' (the blog’s server has a problem; it may work later)'
            : '';
  return new FeedError('http-status', `${url} answered HTTP ${statusCode}${hint}`, { url, status: statusCode });
}

/** A 2xx answer read (size-capped, decompressed, decoded) into the result, with its validators and Link headers. */
async function readFeedResponse(d: Download, response: Response): Promise<FetchFeedResult> {
  const contentLength = Number(header(response.headers, 'content-length') ?? NaN);
  const contentEncoding = header(response.headers, 'content-encoding');
  if (Number.isFinite(contentLength) && contentLength > d.maxBytes) {
    discard(response.body);
    throw new FeedError('too-large', `The feed is larger than ${formatBytes(d.maxBytes)} (${d.current.href})`, { url: d.current.href });
  }
  const bytes = await readCapped(response.body, contentEncoding, d.maxBytes, d.current.href);
  const contentType = header(response.headers, 'content-type');
  return {
    status: 'ok',
    httpStatus: response.statusCode,
    body: decodeFeedBytes(bytes, contentType),
    contentType,
    etag: header(response.headers, 'etag'),
    lastModified: header(response.headers, 'last-modified'),
    finalUrl: d.current.href,
    links: linksFromHeaders(response.headers.link, d.current.href),
  };
}

/**
 * Download a feed safely: http(s) only, redirects followed by hand (at most 5) with the private-address guard on
 * every connection, connect and total timeouts, a streaming size cap, conditional GET, gzip/deflate/br, and charset
 * decoding. Throws FeedError. The WebSub links of the final answer's Link headers come with the body.
 *
 * The total timeout is the one limit on waiting for headers and body. undici's own headers and body timeouts are
 * off: they run on its coarse timer (ticks of ~0.5 s, a timer counted from the tick before it was set), so at the
 * same length they fired before the total one now and then, and the same slow feed was reported as "stopped
 * answering" instead of "took longer than N s". The connect timeout (undici's coarse timer too) is at most half
 * of the total, so a host that does not answer is always told apart from a slow download.
 */
export async function fetchFeed(url: string, validators: FetchFeedValidators, opts: FetchFeedOptions): Promise<FetchFeedResult> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_FEED_TIMEOUT_MS;
  const isAllowed = opts.addressPolicy ?? isPublicAddress;
  const d: Download = {
    url,
    opts,
    timeoutMs,
    maxBytes: opts.maxBytes ?? DEFAULT_FEED_MAX_BYTES,
    isAllowed,
    current: checkFeedUrl(url, opts.allowPrivateNetwork, isAllowed),
  };
  const connectTimeoutMs = opts.connectTimeoutMs ?? Math.min(10_000, Math.ceil(timeoutMs / 2));
  const agent = guardedAgent({ ...opts, connectTimeoutMs }, () => d.current.href);

  const controller = new AbortController();
  let totalTimedOut = false;
  const timer = setTimeout(() => {
    totalTimedOut = true;
    controller.abort(new FeedError('timeout', `The feed took longer than ${timeoutMs / 1000} s to download (${url})`, { url }));
  }, timeoutMs);
  const headers = requestHeaders(opts, validators);

  try {
    for (let hop = 0; ; hop++) {
      const response = await undici().request(d.current, { method: 'GET', headers, dispatcher: agent, signal: controller.signal });
      const { statusCode } = response;
      if (statusCode >= 300 && statusCode < 400 && statusCode !== 304) {
        d.current = followRedirect(d, response, hop);
        continue;
      }
      if (statusCode === 304) {
        discard(response.body);
        return { status: 'not-modified' };
      }
      if (statusCode < 200 || statusCode >= 300) {
        discard(response.body);
        throw statusError(d.current.href, statusCode);
      }
      return await readFeedResponse(d, response);
    }
  } catch (err) {
    throw classifyError(err, d.current.href, totalTimedOut, timeoutMs);
  } finally {
    clearTimeout(timer);
    agent.destroy().catch(() => {});
  }
}
