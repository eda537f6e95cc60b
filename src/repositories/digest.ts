// What the weekly digest asks of the database for one server and a window [start, end).
// Everything is aggregated in SQL (grouped counts and sums); the service only ranks a handful of rows.
import { sql } from 'kysely';
import { withTransaction, type Db } from '../db/index.ts';

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

/**
 * Runs a digest query on PostgreSQL with JIT compilation off (SET LOCAL, in a transaction): the planner's cost
 * of these million-row aggregates crosses jit_above_cost, and compiling them took longer (~2.7 s measured)
 * than running them. SQLite runs `fn` as is.
 */
export async function withoutJit<T>(db: Db, fn: (db: Db) => Promise<T>): Promise<T> {
  if (db.dialect !== 'postgres') return fn(db);
  return withTransaction(db, async (tx) => {
    await sql`set local jit = off`.execute(tx.kysely);
    return fn(tx);
  });
}

/** Posts that were announced in the server (the digest links to their announcement or thread). */
const ANNOUNCED = ['announced', 'threaded', 'published'];

/** The columns of a digest entry: title, links, and the publication time (published_at, else discovered_at). */
const DIGEST_POST_COLUMNS = ['id', 'title', 'url', 'channel_id', 'message_id', 'thread_id', sql<string>`coalesce(published_at, discovered_at)`.as('published')] as const;

type DigestPostRow = { id: string; title: string; url: string | null; channel_id: string | null; message_id: string | null; thread_id: string | null; published: string };

function toDigestPost(r: DigestPostRow, stats: Map<string, { ratingSum: number; ratingCount: number; replies: number }>): DigestPost {
  return {
    id: r.id,
    title: r.title,
    url: r.url,
    channelId: r.channel_id,
    messageId: r.message_id,
    threadId: r.thread_id,
    publishedAt: r.published,
    ...(stats.get(r.id) ?? { ratingSum: 0, ratingCount: 0, replies: 0 }),
  };
}

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
      .select(DIGEST_POST_COLUMNS)
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
  return { posts: rows.map((r) => toDigestPost(r, stats)), total: Number(count.n) };
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
 * PostgreSQL: the window's comments and ratings are read once each by server and time (migration 004's
 * indexes, hash-aggregated per post); only the posts found active are then counted over all time.
 * Same rows as the SQLite query.
 */
async function listActivePostsPg(db: Db, w: DigestWindow): Promise<ActivePost[]> {
  const { rows } = await withoutJit(db, (tx) => sql<{ id: string; new_comments: number; new_ratings: number; rating_sum: number; rating_count: number; replies: number }>`
    with cw as (
      select post_id, count(*) as n from comments
      where guild_id = ${w.guildId} and deleted_at is null and created_at >= ${w.start} and created_at < ${w.end}
      group by post_id
    ), rw as (
      select post_id, count(*) as n from ratings
      where guild_id = ${w.guildId} and updated_at >= ${w.start} and updated_at < ${w.end}
      group by post_id
    ), act as (
      select p.id, coalesce(cw.n, 0) as new_comments, coalesce(rw.n, 0) as new_ratings
      from cw full join rw on rw.post_id = cw.post_id
      join posts p on p.id = coalesce(cw.post_id, rw.post_id)
      where p.guild_id = ${w.guildId} and p.publish_state in (${sql.join(ANNOUNCED)})
    ), c as (
      select post_id, count(*) as replies from comments
      where deleted_at is null and post_id in (select id from act)
      group by post_id
    ), r as (
      select post_id, sum(stars) as rating_sum, count(*) as rating_count from ratings
      where post_id in (select id from act)
      group by post_id
    )
    select act.id, act.new_comments, act.new_ratings, coalesce(r.rating_sum, 0) as rating_sum, coalesce(r.rating_count, 0) as rating_count,
           coalesce(c.replies, 0) as replies
    from act left join c on c.post_id = act.id left join r on r.post_id = act.id
    order by act.id`.execute(tx.kysely));
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

/**
 * The server's posts that are not announced ('known', 'pending', 'failed') yet hold comments or ratings: the
 * digest leaves their activity out. Usually none; read through the posts' own indexes.
 */
async function unannouncedPostsWithActivity(db: Db, guildId: string): Promise<string[]> {
  const rows = await db.kysely
    .selectFrom('posts as p')
    .select('p.id')
    .where('p.guild_id', '=', guildId)
    .where('p.publish_state', 'not in', ANNOUNCED)
    .where((eb) =>
      eb.or([
        eb.exists(eb.selectFrom('comments as c').select(sql.lit(1).as('one')).whereRef('c.post_id', '=', 'p.id')),
        eb.exists(eb.selectFrom('ratings as r').select(sql.lit(1).as('one')).whereRef('r.post_id', '=', 'p.id')),
      ]),
    )
    .execute();
  return rows.map((r) => r.id);
}

/**
 * Distinct people who commented (live comments) or rated in the window, on the server's announced posts.
 *
 * Reading the window (a million comments and ratings in a busy week) and de-duplicating it costs seconds;
 * instead it skips through the server's people in the (guild_id, author_id, created_at) and (guild_id,
 * user_id, updated_at) indexes (a recursive "loose index scan": one seek to the next person, one seek to
 * find a comment or rating of theirs in the window), and unites the two small sets. Its cost grows with the
 * number of people the server has ever seen, not with the week's volume. Same query on both engines.
 */
export async function countParticipants(db: Db, w: DigestWindow): Promise<number> {
  const excluded = await unannouncedPostsWithActivity(db, w.guildId);
  const notExcluded = (col: string) => (excluded.length ? sql` and ${sql.ref(col)} not in (${sql.join(excluded)})` : sql``);
  const { rows } = await withoutJit(db, (tx) => sql<{ n: number }>`
    with recursive ca(person) as (
      select (select min(author_id) from comments where guild_id = ${w.guildId} and deleted_at is null)
      union all
      select (select min(c.author_id) from comments c where c.guild_id = ${w.guildId} and c.deleted_at is null and c.author_id > ca.person)
      from ca where ca.person is not null
    ), ra(person) as (
      select (select min(user_id) from ratings where guild_id = ${w.guildId})
      union all
      select (select min(r.user_id) from ratings r where r.guild_id = ${w.guildId} and r.user_id > ra.person)
      from ra where ra.person is not null
    )
    select count(*) as n from (
      select ca.person from ca
      where ca.person is not null and exists (
        select 1 from comments c
        where c.guild_id = ${w.guildId} and c.deleted_at is null and c.author_id = ca.person
          and c.created_at >= ${w.start} and c.created_at < ${w.end}${notExcluded('c.post_id')})
      union
      select ra.person from ra
      where ra.person is not null and exists (
        select 1 from ratings r
        where r.guild_id = ${w.guildId} and r.user_id = ra.person
          and r.updated_at >= ${w.start} and r.updated_at < ${w.end}${notExcluded('r.post_id')})
    ) u`.execute(tx.kysely));
  return Number(rows[0]?.n ?? 0);
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
    .select(DIGEST_POST_COLUMNS)
    .where('id', 'in', ids)
    .execute();
  const stats = await postStats(db, ids);
  for (const r of rows) out.set(r.id, toDigestPost(r, stats));
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
