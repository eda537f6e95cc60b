import type { AppContext } from '../context.ts';
import { pingDb } from '../db/index.ts';
import { countFeeds } from '../repositories/feeds.ts';
import { countPosts } from '../repositories/posts.ts';

export interface ServerStatus {
  version: string;
  database: { ok: boolean; dialect: string; error?: string };
  redis: { ok: boolean; error?: string };
  feeds: number | null;
  posts: number | null;
}

const reason = (e: unknown) => (e instanceof Error ? e.message : String(e)).slice(0, 200);

/** Health of the database and Redis, and what this server follows; never throws (a status must show an outage). */
export async function serverStatus(ctx: Pick<AppContext, 'db' | 'version' | 'redisHealth'>, guildId: string): Promise<ServerStatus> {
  const database: ServerStatus['database'] = { ok: true, dialect: ctx.db.dialect };
  let feeds: number | null = null;
  let posts: number | null = null;
  try {
    await pingDb(ctx.db);
    [feeds, posts] = await Promise.all([countFeeds(ctx.db, guildId), countPosts(ctx.db, guildId)]);
  } catch (e) {
    database.ok = false;
    database.error = reason(e);
  }
  const redis: ServerStatus['redis'] = { ok: true };
  try {
    await ctx.redisHealth();
  } catch (e) {
    redis.ok = false;
    redis.error = reason(e);
  }
  return { version: ctx.version, database, redis, feeds, posts };
}
