import type { AppContext } from '../context.ts';
import { pingDb } from '../db/index.ts';
import { countFeeds } from '../repositories/feeds.ts';
import { countPosts } from '../repositories/posts.ts';

/** One component's answer: it answered, or why not (the error's message, at most 200 characters). */
export type Check = { ok: true } | { ok: false; error: string };

/** Whether the database and Redis answer; what HTTP /healthz and `/status` both report. */
export interface Health {
  database: Check;
  redis: Check;
}

export interface ServerStatus {
  version: string;
  database: Check & { dialect: string };
  redis: Check;
  feeds: number | null;
  posts: number | null;
}

const reason = (e: unknown) => (e instanceof Error ? e.message : String(e)).slice(0, 200);

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function check(what: string, fn: () => Promise<unknown>, timeoutMs: number): Promise<Check> {
  try {
    await withTimeout(fn(), timeoutMs, what);
    return { ok: true };
  } catch (e) {
    return { ok: false, error: reason(e) };
  }
}

/** Asks the database and Redis at once, each given `timeoutMs` (default 3000 ms) to answer; never throws. */
export async function checkHealth(ctx: Pick<AppContext, 'db' | 'redisHealth'>, options: { timeoutMs?: number } = {}): Promise<Health> {
  const timeoutMs = options.timeoutMs ?? 3000;
  const [database, redis] = await Promise.all([check('the database', () => pingDb(ctx.db), timeoutMs), check('Redis', () => ctx.redisHealth(), timeoutMs)]);
  return { database, redis };
}

/** Health of the database and Redis, and what this server follows; never throws (a status must show an outage). */
export async function serverStatus(ctx: Pick<AppContext, 'db' | 'version' | 'redisHealth'>, guildId: string): Promise<ServerStatus> {
  const health = await checkHealth(ctx);
  let database: Check = health.database;
  let feeds: number | null = null;
  let posts: number | null = null;
  if (database.ok) {
    try {
      [feeds, posts] = await Promise.all([countFeeds(ctx.db, guildId), countPosts(ctx.db, guildId)]);
    } catch (e) {
      database = { ok: false, error: reason(e) };
    }
  }
  return { version: ctx.version, database: { ...database, dialect: ctx.db.dialect }, redis: health.redis, feeds, posts };
}
