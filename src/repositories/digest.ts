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

/** One post of the server with activity in the window: its new comments and ratings, and the sum/count of all its ratings. */
export interface ActivePost {
  id: string;
  newComments: number;
  newRatings: number;
  ratingSum: number;
  ratingCount: number;
  /** Live comments of all time (the reply count shown, and the last tie-breaker of "top rated"). */
  replies: number;
}

/**
 * Every post of the server commented on or rated in the window, with per-post counts. It walks the server's
 * posts and counts, per post, inside the covering indexes (post_id, created_at …) — no comment or rating row
 * is read, and nothing is sorted but the result. Totals, "most discussed" and the "top rated" candidates come
 * from these rows (at most one per post).
 */
export async function listActivePosts(db: Db, w: DigestWindow): Promise<ActivePost[]> {
  if (db.dialect === 'postgres') return listActivePostsPg(db, w);
  const k = db.kysely;
  const perPost = k
    .selectFrom('posts as p')
    .select([
      'p.id',
      (eb) =>
        eb
          .selectFrom('comments as c')
          .select(eb.fn.countAll<number>().as('n'))
          .whereRef('c.post_id', '=', 'p.id')
          .where('c.deleted_at', 'is', null)
          .where('c.created_at', '>=', w.start)
          .where('c.created_at', '<', w.end)
          .as('new_comments'),
      (eb) =>
        eb
          .selectFrom('ratings as r')
          .select(eb.fn.countAll<number>().as('n'))
          .whereRef('r.post_id', '=', 'p.id')
          .where('r.updated_at', '>=', w.start)
          .where('r.updated_at', '<', w.end)
          .as('new_ratings'),
    ])
    .where('p.guild_id', '=', w.guildId)
    .where('p.publish_state', 'in', ANNOUNCED);
  const rows = await k
    .selectFrom(perPost.as('a'))
    .select([
      'a.id',
      'a.new_comments',
      'a.new_ratings',
      (eb) => eb.selectFrom('ratings as s').select((e) => e.fn.sum<number>('s.stars').as('sum')).whereRef('s.post_id', '=', 'a.id').as('rating_sum'),
      (eb) => eb.selectFrom('ratings as s').select((e) => e.fn.countAll<number>().as('n')).whereRef('s.post_id', '=', 'a.id').as('rating_count'),
      (eb) =>
        eb
          .selectFrom('comments as t')
          .select((e) => e.fn.countAll<number>().as('n'))
          .whereRef('t.post_id', '=', 'a.id')
          .where('t.deleted_at', 'is', null)
          .as('replies'),
    ])
    .where((eb) => eb.or([eb('a.new_comments', '>', 0), eb('a.new_ratings', '>', 0)]))
    .orderBy('a.id')
    .execute();
  return rows.map((r) => ({
    id: r.id,
    newComments: Number(r.new_comments ?? 0),
    newRatings: Number(r.new_ratings ?? 0),
    ratingSum: Number(r.rating_sum ?? 0),
    ratingCount: Number(r.rating_count ?? 0),
    replies: Number(r.replies ?? 0),
  }));
}

/**
 * PostgreSQL plans per-post correlated counts as one index scan per post (with heap visits until VACUUM has
 * run); one pass per table with hash aggregation is far cheaper there. Same rows as the SQLite query.
 */
async function listActivePostsPg(db: Db, w: DigestWindow): Promise<ActivePost[]> {
  const { rows } = await sql<{ id: string; new_comments: number; new_ratings: number; rating_sum: number; rating_count: number; replies: number }>`
    with gp as (
      select id from posts where guild_id = ${w.guildId} and publish_state in (${sql.join(ANNOUNCED)})
    ), c as (
      select post_id,
             count(*) filter (where created_at >= ${w.start} and created_at < ${w.end}) as new_comments,
             count(*) as replies
      from comments where deleted_at is null and post_id in (select id from gp)
      group by post_id
    ), r as (
      select post_id,
             count(*) filter (where updated_at >= ${w.start} and updated_at < ${w.end}) as new_ratings,
             sum(stars) as rating_sum,
             count(*) as rating_count
      from ratings where post_id in (select id from gp)
      group by post_id
    )
    select gp.id, coalesce(c.new_comments, 0) as new_comments, coalesce(r.new_ratings, 0) as new_ratings,
           coalesce(r.rating_sum, 0) as rating_sum, coalesce(r.rating_count, 0) as rating_count, coalesce(c.replies, 0) as replies
    from gp left join c on c.post_id = gp.id left join r on r.post_id = gp.id
    where coalesce(c.new_comments, 0) > 0 or coalesce(r.new_ratings, 0) > 0
    order by gp.id`.execute(db.kysely);
  return rows.map((r) => ({
    id: r.id,
    newComments: Number(r.new_comments),
    newRatings: Number(r.new_ratings),
    ratingSum: Number(r.rating_sum),
    ratingCount: Number(r.rating_count),
    replies: Number(r.replies),
  }));
}

/** The candidates for "top rated": posts rated (or re-rated) in the window, with the sum and count of all their ratings. */
export function ratedInWindow(active: readonly ActivePost[]): Array<{ id: string; ratingSum: number; ratingCount: number; replies: number }> {
  return active.filter((a) => a.newRatings > 0).map((a) => ({ id: a.id, ratingSum: a.ratingSum, ratingCount: a.ratingCount, replies: a.replies }));
}

/** Posts with the most comments written in the window (not deleted), most first, ties by post id. */
export function mostDiscussed(active: readonly ActivePost[], limit = 5): Array<{ id: string; newComments: number }> {
  return active
    .filter((a) => a.newComments > 0)
    .sort((a, b) => b.newComments - a.newComments || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .slice(0, limit)
    .map((a) => ({ id: a.id, newComments: a.newComments }));
}

/** Distinct people who commented (live comments) or rated in the window, on the server's posts. */
export async function countParticipants(db: Db, w: DigestWindow): Promise<number> {
  const k = db.kysely;
  if (db.dialect === 'postgres') {
    // Semi-joins on the server's post ids and one hashed union (the nested-loop join plan is ~10× slower here).
    const { rows } = await sql<{ n: number }>`
      with gp as (select id from posts where guild_id = ${w.guildId} and publish_state in (${sql.join(ANNOUNCED)}))
      select count(*) as n from (
        select author_id as person from comments
        where deleted_at is null and created_at >= ${w.start} and created_at < ${w.end} and post_id in (select id from gp)
        union
        select user_id from ratings where updated_at >= ${w.start} and updated_at < ${w.end} and post_id in (select id from gp)
      ) u`.execute(k);
    return Number(rows[0]?.n ?? 0);
  }
  const commenters = k
    .selectFrom('posts as p')
    .innerJoin('comments as c', 'c.post_id', 'p.id')
    .select('c.author_id as person')
    .where('p.guild_id', '=', w.guildId)
    .where('p.publish_state', 'in', ANNOUNCED)
    .where('c.deleted_at', 'is', null)
    .where('c.created_at', '>=', w.start)
    .where('c.created_at', '<', w.end);
  const raters = k
    .selectFrom('posts as p')
    .innerJoin('ratings as r', 'r.post_id', 'p.id')
    .select('r.user_id as person')
    .where('p.guild_id', '=', w.guildId)
    .where('p.publish_state', 'in', ANNOUNCED)
    .where('r.updated_at', '>=', w.start)
    .where('r.updated_at', '<', w.end);
  const row = await k
    .selectFrom(commenters.union(raters).as('u'))
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** New comments, new ratings and distinct participants (comment authors ∪ raters) of the window. */
export async function digestTotals(db: Db, w: DigestWindow, active?: readonly ActivePost[]): Promise<Omit<DigestTotals, 'newPosts'>> {
  const [rows, participants]: [readonly ActivePost[], number] = await Promise.all([active ?? listActivePosts(db, w), countParticipants(db, w)]);
  return {
    newComments: rows.reduce((n, a) => n + a.newComments, 0),
    newRatings: rows.reduce((n, a) => n + a.newRatings, 0),
    participants,
  };
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
