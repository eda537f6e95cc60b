import { config as loadDotenv } from 'dotenv';
import ipaddr from 'ipaddr.js';

/** The typed, frozen configuration of one blogcord process (the environment contract: README.md#configuration). */
export interface Config {
  readonly discordToken: string | null;
  readonly discordApplicationId: string | null;
  readonly discordApiUrl: string;
  /**
   * Discord's CDN (DISCORD_CDN_URL), where the avatar route fetches avatars; default https://cdn.discordapp.com, or
   * the origin of DISCORD_API_URL when that is not Discord's (a local emulator serves both).
   */
  readonly discordCdnUrl: string;
  /** Discord's global rate limit of this bot (requests a second; 50 unless Discord raised it). */
  readonly discordGlobalRateLimit: number;
  readonly databaseUrl: string;
  readonly redisUrl: string;
  /** True when REDIS_URL was not set, so `start` may run a private redis-server. */
  readonly redisUrlIsDefault: boolean;
  /** Prefix of every BullMQ key, so several installations (or test runs) can share one Redis. */
  readonly queuePrefix: string;
  readonly feedAllowPrivateNetwork: boolean;
  readonly feedPollIntervalSeconds: number;
  readonly feedTimeoutSeconds: number;
  readonly feedMaxBytes: number;
  /**
   * The public base URL of the HTTP API (PUBLIC_URL), without a trailing slash: WebSub callbacks and publish hooks
   * live under it. Null: push is off and every feed is polled.
   */
  readonly publicUrl: string | null;
  /** The safety-net poll interval of a feed whose WebSub subscription is verified and active. */
  readonly feedPushPollIntervalSeconds: number;
  readonly digestChannelId: string | null;
  /** Tests: a cron pattern (5 or 6 fields, seconds first) that replaces every server's digest schedule. */
  readonly digestCronOverride: string | null;
  readonly httpPort: number;
  readonly httpCorsOrigins: readonly string[];
  /**
   * Which peers may tell the HTTP API the client's address in X-Forwarded-For (Fastify's `trustProxy`): false =
   * none (the socket's address is the client), true = every hop, or these addresses, CIDRs and proxy-addr names
   * (`loopback`, `linklocal`, `uniquelocal`).
   */
  readonly httpTrustProxy: boolean | readonly string[];
  /** Requests a minute each client (IP address) may make to the HTTP API (HTTP_RATE_LIMIT; 0 = no limit, e.g. behind a CDN that limits). */
  readonly httpRateLimit: number;
  /** How long (ms) the HTTP API reuses a built JSON answer for the same URL (HTTP_ANSWER_CACHE_MS; 0 = never). */
  readonly httpAnswerCacheMs: number;
  readonly syncWindowDays: number;
  /** How often every active post thread is caught up with Discord (SYNC_INTERVAL_SECONDS). */
  readonly syncIntervalSeconds: number;
  /** How often the ratings of recent announcements are recounted against Discord's reactor lists. */
  readonly recountIntervalSeconds: number;
  /** How often the workers look for stranded work (a post, digest or refresh whose job Redis lost). */
  readonly sweepIntervalSeconds: number;
  /** The least time between two edits of one announcement (rating and reply count updates are debounced). */
  readonly announcementRefreshMs: number;
  /** The shards this process runs (`bot` with SHARD_IDS/SHARD_COUNT); null = all of them. */
  readonly shardIds: readonly number[] | null;
  readonly shardCount: number | null;
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
}

/** A configuration problem: the message names the variable and what it expects. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

// The environment is read by a few small parsers rather than a schema library: zod was ~0.5 MB of every
// process's code (~5 MB of memory) for these 28 variables. Each parser returns the value or the messages of
// every check it failed, in the order they are listed in `FIELDS`.

/** One variable's checks failed: what it expects, one message a check. */
class Invalid {
  constructor(readonly messages: string[]) {}
}

type Parse<T> = (raw: string) => T | Invalid;

/** Runs every check on the value (all of them, so each failure is listed). */
function checked(checks: ReadonlyArray<readonly [(v: string) => boolean, string]>): Parse<string> {
  return (v) => {
    const failed = checks.filter(([ok]) => !ok(v)).map(([, message]) => message);
    return failed.length ? new Invalid(failed) : v;
  };
}

const text: Parse<string> = (v) => v;

const matches = (re: RegExp, message: string) => [(v: string) => re.test(v), message] as const;

const snowflake = checked([matches(/^\d{17,20}$/, 'a Discord id (17–20 digits)')]);

function oneOf<T extends string>(
  values: readonly T[],
  message = `Invalid option: expected one of ${values.map((v) => JSON.stringify(v)).join('|')}`,
): Parse<T> {
  return (v) => ((values as readonly string[]).includes(v) ? (v as T) : new Invalid([message]));
}

const bool: Parse<boolean> = (v) => {
  const parsed = oneOf(['true', 'false', '1', '0', 'yes', 'no'], 'true or false')(v);
  return parsed instanceof Invalid ? parsed : parsed === 'true' || parsed === '1' || parsed === 'yes';
};

const int =
  (min: number, max: number, what: string): Parse<number> =>
  (v) => {
    if (!/^\d+$/.test(v)) return new Invalid([what]);
    const n = Number(v);
    return Number.isSafeInteger(n) && n >= min && n <= max ? n : new Invalid([what]);
  };

/** An http(s) URL (as the WHATWG parser reads it, trimmed), without trailing slashes. */
function httpUrl(message: string, shape: RegExp, shapeMessage: string): Parse<string> {
  return (raw) => {
    const trimmed = raw.trim();
    const failed: string[] = [];
    // The parser drops tabs and line breaks: the value kept is the one it read.
    const v = URL.canParse(trimmed) ? trimmed.replace(/[\t\n\r]/g, '') : (failed.push(message), raw);
    if (!shape.test(v)) failed.push(shapeMessage);
    return failed.length ? new Invalid(failed) : v.replace(/\/+$/, '');
  };
}

/** proxy-addr's names for address ranges (Fastify hands the list to it). */
const PROXY_RANGE_NAMES = ['loopback', 'linklocal', 'uniquelocal'];
const isAddress = (s: string) => ipaddr.IPv4.isValidFourPartDecimal(s) || ipaddr.IPv6.isValid(s);
function isTrustedProxyEntry(entry: string): boolean {
  if (PROXY_RANGE_NAMES.includes(entry)) return true;
  const [address = '', bits, ...rest] = entry.split('/');
  if (rest.length || !isAddress(address)) return false;
  if (bits === undefined) return true;
  const max = ipaddr.IPv4.isValidFourPartDecimal(address) ? 32 : 128;
  return /^\d{1,3}$/.test(bits) && Number(bits) <= max;
}

const trustProxy: Parse<boolean | string[]> = (raw) => {
  const v = raw.trim();
  if (v === 'false' || v === '0') return false;
  if (v === 'true') return true;
  if (/^\d+$/.test(v)) {
    return new Invalid([
      'the address of the reverse proxy (like 10.0.0.5 or 10.0.0.0/8, comma-separated), not a hop count: Fastify no longer trusts by hop count, because a client that reaches the API directly could then forge X-Forwarded-For',
    ]);
  }
  const entries = v.split(',').map((e) => e.trim());
  const bad = entries.filter((e) => !isTrustedProxyEntry(e));
  if (bad.length) {
    return new Invalid([
      `true, false, or comma-separated IP addresses or CIDRs of the reverse proxies (or loopback, linklocal, uniquelocal); not ${bad.map((b) => JSON.stringify(b)).join(', ')}`,
    ]);
  }
  return entries;
};

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Every variable: its parser and its default (none: the variable is optional). */
const FIELDS = {
  DISCORD_TOKEN: { parse: text },
  DISCORD_APPLICATION_ID: { parse: snowflake },
  DISCORD_API_URL: {
    parse: httpUrl('an http(s) URL ending in /api, like https://discord.com/api', /^https?:\/\//, 'an http(s) URL'),
    default: 'https://discord.com/api',
  },
  DISCORD_CDN_URL: { parse: httpUrl('an http(s) URL, like https://cdn.discordapp.com', /^https?:\/\//, 'an http(s) URL') },
  DISCORD_GLOBAL_RATE_LIMIT: { parse: int(1, 100_000, 'a whole number of requests a second ≥ 1 (Discord grants large bots more than 50)'), default: 50 },
  DATABASE_URL: {
    parse: checked([matches(/^(sqlite:.+|postgres(ql)?:\/\/.+)$/, 'sqlite:PATH or postgres://user@host:port/database')]),
    default: 'sqlite:data/blogcord.sqlite',
  },
  REDIS_URL: { parse: checked([matches(/^rediss?:\/\/.+/, 'a redis:// or rediss:// URL')]) },
  QUEUE_PREFIX: { parse: checked([matches(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, _ or - (at most 64)')]), default: 'blogcord' },
  FEED_ALLOW_PRIVATE_NETWORK: { parse: bool, default: false },
  FEED_POLL_INTERVAL_SECONDS: { parse: int(1, 7 * 24 * 3600, 'a whole number of seconds ≥ 1'), default: 600 },
  FEED_TIMEOUT_SECONDS: { parse: int(1, 600, 'a whole number of seconds between 1 and 600'), default: 20 },
  PUBLIC_URL: {
    parse: httpUrl(
      'the public http(s) base URL of the HTTP API, like https://blogcord.example.com',
      /^https?:\/\/[^/?#]+(\/[^?#]*)?$/,
      'an http(s) URL without a query or fragment, like https://blogcord.example.com',
    ),
  },
  FEED_PUSH_POLL_INTERVAL_SECONDS: { parse: int(1, 7 * 24 * 3600, 'a whole number of seconds ≥ 1'), default: 3600 },
  FEED_MAX_BYTES: { parse: int(1024, 100 * 1024 * 1024, 'a byte count between 1024 and 104857600'), default: 5 * 1024 * 1024 },
  DIGEST_CHANNEL_ID: { parse: snowflake },
  DIGEST_CRON_OVERRIDE: { parse: (v: string) => checked([matches(/^\S+(\s+\S+){4,5}$/, 'a cron pattern of 5 or 6 fields, like */3 * * * * *')])(v.trim()) },
  HTTP_PORT: { parse: int(0, 65535, 'a port number 0–65535 (0 disables the HTTP API)'), default: 8787 },
  HTTP_CORS_ORIGINS: { parse: text, default: '' },
  HTTP_TRUST_PROXY: { parse: trustProxy, default: false },
  HTTP_RATE_LIMIT: { parse: int(0, 1_000_000, 'requests a minute per client, 0 = no limit'), default: 120 },
  HTTP_ANSWER_CACHE_MS: { parse: int(0, 60_000, 'milliseconds 0–60000'), default: 0 },
  ANNOUNCEMENT_REFRESH_MS: { parse: int(0, 3_600_000, 'milliseconds between 0 and 3600000'), default: 5000 },
  SYNC_WINDOW_DAYS: { parse: int(1, 3650, 'a whole number of days ≥ 1'), default: 30 },
  SYNC_INTERVAL_SECONDS: { parse: int(1, 7 * 24 * 3600, 'a whole number of seconds ≥ 1'), default: 300 },
  RECOUNT_INTERVAL_SECONDS: { parse: int(1, 7 * 24 * 3600, 'a whole number of seconds ≥ 1'), default: 300 },
  SWEEP_INTERVAL_SECONDS: { parse: int(1, 24 * 3600, 'a whole number of seconds between 1 and 86400'), default: 60 },
  SHARD_IDS: {
    parse: (v: string) =>
      /^\d+(\s*,\s*\d+)*$/.test(v) ? v.split(',').map((x) => Number(x.trim())) : new Invalid(['a comma-separated list of shard numbers, like 0,1']),
  },
  SHARD_COUNT: { parse: int(1, 4096, 'the total number of shards (≥ 1)') },
  LOG_LEVEL: { parse: oneOf(LOG_LEVELS), default: 'info' as const },
} satisfies Record<string, { parse: Parse<unknown>; default?: unknown }>;

type Fields = typeof FIELDS;
type Parsed<F> = F extends { parse: Parse<infer T> } ? T : never;
type Env = { [K in keyof Fields]: Fields[K] extends { default: unknown } ? Parsed<Fields[K]> : Parsed<Fields[K]> | undefined };

/** The variables' values, or the lines of every problem (`NAME: expected …`). */
function parseEnv(present: Record<string, string | undefined>): Env | string[] {
  const values: Record<string, unknown> = {};
  const lines: string[] = [];
  for (const [name, field] of Object.entries(FIELDS) as Array<[string, { parse: Parse<unknown>; default?: unknown }]>) {
    const raw = present[name];
    if (raw === undefined) {
      values[name] = field.default;
      continue;
    }
    const value = field.parse(raw);
    if (value instanceof Invalid) lines.push(...value.messages.map((m) => `${name}: expected ${m}`));
    else values[name] = value;
  }
  return lines.length ? lines : (values as Env);
}

/** Reads `.env` (when present, without overriding the real environment) and the environment. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, { dotenv = env === process.env } = {}): Config {
  if (dotenv) loadDotenv({ quiet: true });
  // An empty variable counts as unset, as in most deployment tools.
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const e = parseEnv(present);
  if (Array.isArray(e)) throw new ConfigError(`Invalid configuration:\n  ${e.join('\n  ')}`);
  if ((e.SHARD_IDS === undefined) !== (e.SHARD_COUNT === undefined)) {
    throw new ConfigError('Invalid configuration:\n  SHARD_IDS and SHARD_COUNT: expected both or neither');
  }
  if (e.SHARD_IDS && e.SHARD_COUNT && e.SHARD_IDS.some((id) => id >= e.SHARD_COUNT!)) {
    throw new ConfigError(`Invalid configuration:\n  SHARD_IDS: expected shard numbers below SHARD_COUNT (${e.SHARD_COUNT})`);
  }
  return Object.freeze({
    discordToken: e.DISCORD_TOKEN ?? null,
    discordApplicationId: e.DISCORD_APPLICATION_ID ?? null,
    discordApiUrl: e.DISCORD_API_URL,
    discordCdnUrl:
      e.DISCORD_CDN_URL ??
      (/^https:\/\/(\w+\.)?discord\.com\//.test(`${e.DISCORD_API_URL}/`) ? 'https://cdn.discordapp.com' : new URL(e.DISCORD_API_URL).origin),
    discordGlobalRateLimit: e.DISCORD_GLOBAL_RATE_LIMIT,
    databaseUrl: e.DATABASE_URL,
    redisUrl: e.REDIS_URL ?? 'redis://127.0.0.1:6379',
    redisUrlIsDefault: e.REDIS_URL === undefined,
    queuePrefix: e.QUEUE_PREFIX,
    feedAllowPrivateNetwork: e.FEED_ALLOW_PRIVATE_NETWORK,
    feedPollIntervalSeconds: e.FEED_POLL_INTERVAL_SECONDS,
    feedTimeoutSeconds: e.FEED_TIMEOUT_SECONDS,
    feedMaxBytes: e.FEED_MAX_BYTES,
    publicUrl: e.PUBLIC_URL ?? null,
    feedPushPollIntervalSeconds: e.FEED_PUSH_POLL_INTERVAL_SECONDS,
    digestChannelId: e.DIGEST_CHANNEL_ID ?? null,
    digestCronOverride: e.DIGEST_CRON_OVERRIDE ?? null,
    httpPort: e.HTTP_PORT,
    httpCorsOrigins: Object.freeze(e.HTTP_CORS_ORIGINS.split(/[\s,]+/).filter(Boolean)),
    httpTrustProxy: typeof e.HTTP_TRUST_PROXY === 'boolean' ? e.HTTP_TRUST_PROXY : Object.freeze(e.HTTP_TRUST_PROXY),
    httpRateLimit: e.HTTP_RATE_LIMIT,
    httpAnswerCacheMs: e.HTTP_ANSWER_CACHE_MS,
    syncWindowDays: e.SYNC_WINDOW_DAYS,
    syncIntervalSeconds: e.SYNC_INTERVAL_SECONDS,
    recountIntervalSeconds: e.RECOUNT_INTERVAL_SECONDS,
    sweepIntervalSeconds: e.SWEEP_INTERVAL_SECONDS,
    announcementRefreshMs: e.ANNOUNCEMENT_REFRESH_MS,
    shardIds: e.SHARD_IDS ? Object.freeze(e.SHARD_IDS) : null,
    shardCount: e.SHARD_COUNT ?? null,
    logLevel: e.LOG_LEVEL,
  });
}
