// What the weekly digest asks of the database for one server and a window [start, end).
// Everything is aggregated in SQL (grouped counts and sums); the service only ranks a handful of rows.
import { sql } from 'kysely';
import type { Db } from '../db/index.ts';

export interface DigestWindow {
  guildId: string;
  /** Inclusive, ISO-8601 UTC. */
  start: string;
  /** Exclusive, ISO-8601 UTC. */
  end: string;
}

/** What an entry of the digest shows about a post (rating over all its ratings, live replies over all time). */
export interface DigestPost {
  id: string;
  title: string;
  url: string | null;
  channelId: string | null;
  messageId: string | null;
  threadId: string | null;
  /** published_at, else discovered_at. */
  publishedAt: string;
  ratingSum: number;
  ratingCount: number;
  replies: number;
}

export interface DigestTotals {
  newPosts: number;
  /** Comments written in the window and not deleted. */
  newComments: number;
  /** Ratings given (or changed) in the window. */
  newRatings: number;
  /** Distinct people who commented or rated in the window. */
  participants: number;
}

/** Posts that were announced in the server (the digest links to their announcement or thread). */
const ANNOUNCED = ['announced', 'threaded', 'published'];

/** Posts published in the window (published_at, falling back to discovered_at), newest first, with the total count. */
export async function listNewPosts(db: Db, w: DigestWindow, limit = 25): Promise<{ posts: DigestPost[]; total: number }> {
  const k = db.kysely;
  const inWindow = k
    .selectFrom('posts')
    .where('guild_id', '=', w.guildId)
    .where('publish_state', 'in', ANNOUNCED)
    .where((eb) =>
      eb.or([
        eb.and([eb('published_at', '>=', w.start), eb('published_at', '<', w.end)]),
        eb.and([eb('published_at', 'is', null), eb('discovered_at', '>=', w.start), eb('discovered_at', '<', w.end)]),
      ]),
    );
  const [rows, count] = await Promise.all([
    inWindow
      .select(['id', 'title', 'url', 'channel_id', 'message_id', 'thread_id', (eb) => eb.fn.coalesce('published_at', 'discovered_at').as('published')])
      .orderBy((eb) => eb.fn.coalesce('published_at', 'discovered_at'), 'desc')
      .orderBy('id')
      .limit(limit)
      .execute(),
    inWindow.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
  ]);
  const stats = await postStats(
    db,
    rows.map((r) => r.id),
  );
  return {
    posts: rows.map((r) => ({
      id: r.id,
      title: r.title,
      url: r.url,
      channelId: r.channel_id,
      messageId: r.message_id,
      threadId: r.thread_id,
      publishedAt: r.published as string,
      ...(stats.get(r.id) ?? { ratingSum: 0, ratingCount: 0, replies: 0 }),
    })),
    total: Number(count.n),
  };
}

/**
 * The candidates for "top rated": posts of the server rated (or re-rated) in the window, with the sum and
 * count of all their ratings. Ranked by the service (Bayesian average needs the server's prior).
 */
export async function listRatedInWindow(db: Db, w: DigestWindow): Promise<Array<{ id: string; ratingSum: number; ratingCount: number }>> {
  const k = db.kysely;
  const active = k
    .selectFrom('ratings')
    .innerJoin('posts', 'posts.id', 'ratings.post_id')
    .select('ratings.post_id')
    .distinct()
    .where('ratings.updated_at', '>=', w.start)
    .where('ratings.updated_at', '<', w.end)
    .where('posts.guild_id', '=', w.guildId)
    .where('posts.publish_state', 'in', ANNOUNCED);
  const rows = await k
    .selectFrom('ratings as r')
    .select(['r.post_id', (eb) => eb.fn.sum<number>('r.stars').as('sum'), (eb) => eb.fn.countAll<number>().as('n')])
    .where('r.post_id', 'in', active)
    .groupBy('r.post_id')
    .execute();
  return rows.map((r) => ({ id: r.post_id, ratingSum: Number(r.sum), ratingCount: Number(r.n) }));
}

/** Posts with the most comments written in the window (not deleted), most first, ties by post id. */
export async function listMostDiscussed(db: Db, w: DigestWindow, limit = 5): Promise<Array<{ id: string; newComments: number }>> {
  const rows = await db.kysely
    .selectFrom('comments as c')
    .innerJoin('posts as p', 'p.id', 'c.post_id')
    .select(['c.post_id', (eb) => eb.fn.countAll<number>().as('n')])
    .where('c.created_at', '>=', w.start)
    .where('c.created_at', '<', w.end)
    .where('c.deleted_at', 'is', null)
    .where('p.guild_id', '=', w.guildId)
    .where('p.publish_state', 'in', ANNOUNCED)
    .groupBy('c.post_id')
    .orderBy(sql`count(*)`, 'desc')
    .orderBy('c.post_id')
    .limit(limit)
    .execute();
  return rows.map((r) => ({ id: r.post_id, newComments: Number(r.n) }));
}

/** Title, links, rating sum/count and live reply count of these posts (entries of the digest). */
export async function getDigestPosts(db: Db, ids: readonly string[]): Promise<Map<string, DigestPost>> {
  const out = new Map<string, DigestPost>();
  if (ids.length === 0) return out;
  const rows = await db.kysely
    .selectFrom('posts')
    .select(['id', 'title', 'url', 'channel_id', 'message_id', 'thread_id', (eb) => eb.fn.coalesce('published_at', 'discovered_at').as('published')])
    .where('id', 'in', ids)
    .execute();
  const stats = await postStats(db, ids);
  for (const r of rows) {
    out.set(r.id, {
      id: r.id,
      title: r.title,
      url: r.url,
      channelId: r.channel_id,
      messageId: r.message_id,
      threadId: r.thread_id,
      publishedAt: r.published as string,
      ...(stats.get(r.id) ?? { ratingSum: 0, ratingCount: 0, replies: 0 }),
    });
  }
  return out;
}

/** Rating sum/count and live reply count per post: two grouped queries. */
export async function postStats(db: Db, ids: readonly string[]): Promise<Map<string, { ratingSum: number; ratingCount: number; replies: number }>> {
  const out = new Map(ids.map((id) => [id, { ratingSum: 0, ratingCount: 0, replies: 0 }]));
  if (ids.length === 0) return out;
  const [ratings, replies] = await Promise.all([
    db.kysely
      .selectFrom('ratings')
      .select(['post_id', (eb) => eb.fn.sum<number>('stars').as('sum'), (eb) => eb.fn.countAll<number>().as('n')])
      .where('post_id', 'in', ids)
      .groupBy('post_id')
      .execute(),
    db.kysely
      .selectFrom('comments')
      .select(['post_id', (eb) => eb.fn.countAll<number>().as('n')])
      .where('post_id', 'in', ids)
      .where('deleted_at', 'is', null)
      .groupBy('post_id')
      .execute(),
  ]);
  for (const r of ratings) Object.assign(out.get(r.post_id)!, { ratingSum: Number(r.sum), ratingCount: Number(r.n) });
  for (const r of replies) out.get(r.post_id)!.replies = Number(r.n);
  return out;
}

/** New comments, new ratings and distinct participants (comment authors ∪ raters) of the window. */
export async function digestTotals(db: Db, w: DigestWindow): Promise<Omit<DigestTotals, 'newPosts'>> {
  const k = db.kysely;
  const comments = k
    .selectFrom('comments as c')
    .innerJoin('posts as p', 'p.id', 'c.post_id')
    .where('c.created_at', '>=', w.start)
    .where('c.created_at', '<', w.end)
    .where('c.deleted_at', 'is', null)
    .where('p.guild_id', '=', w.guildId)
    .where('p.publish_state', 'in', ANNOUNCED);
  const ratings = k
    .selectFrom('ratings as r')
    .innerJoin('posts as p', 'p.id', 'r.post_id')
    .where('r.updated_at', '>=', w.start)
    .where('r.updated_at', '<', w.end)
    .where('p.guild_id', '=', w.guildId)
    .where('p.publish_state', 'in', ANNOUNCED);
  const [c, r, people] = await Promise.all([
    comments.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
    ratings.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
    k
      .selectFrom(comments.select('c.author_id as person').union(ratings.select('r.user_id as person')).as('u'))
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow(),
  ]);
  return { newComments: Number(c.n), newRatings: Number(r.n), participants: Number(people.n) };
}
