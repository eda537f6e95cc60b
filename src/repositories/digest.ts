// What the weekly digest asks of the database for one server and a window [start, end).
// Everything is aggregated in SQL (counts and sums per post); the service ranks the rated posts.
import { sql } from 'kysely';
import { withoutJit, withTransaction, type Db } from '../db/index.ts';

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

/** The columns of a digest entry: title, links, and the publication time (published_at, else discovered_at). */
const DIGEST_POST_COLUMNS = [
  'id',
  'title',
  'url',
  'channel_id',
  'message_id',
  'thread_id',
  sql<string>`coalesce(published_at, discovered_at)`.as('published'),
] as const;

type DigestPostRow = {
  id: string;
  title: string;
  url: string | null;
  channel_id: string | null;
  message_id: string | null;
  thread_id: string | null;
  published: string;
};

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

/** What the window did to the ratings of a server's announced posts. */
export interface WindowRatings {
  /** Announced posts of the server rated (or re-rated) in the window: that window's ratings, and the sum/count of all their ratings. */
  posts: Map<string, { newRatings: number; ratingSum: number; ratingCount: number }>;
  /**
   * Sum and count of all the server's ratings given (or changed) since `since` (posts in any state), the figures
   * of guildMeanRating(db, guildId, since), read in the same statement as `posts`. Null when no `since` is given.
   */
  prior: { sum: number; count: number } | null;
}

const num = (v: unknown): number => Number(v ?? 0);

/** "count:sum" (SQLite packs two aggregates of one correlated subquery into one value) → numbers. */
function unpack(packed: string | null | undefined): { n: number; s: number } {
  const [n, s] = String(packed ?? '0:0').split(':');
  return { n: num(n), s: num(s) };
}

/**
 * Ratings given (or changed) in the window, per announced post of the server, with the sum and count of all of each
 * such post's ratings, and optionally the server's rating total since `since` (the prior of "top rated").
 *
 * One read of the window, not two: each rating of the window is visited once (one range of each of the server's
 * posts in (post_id, updated_at)), and the all-time figures are that window count plus what lies outside it: the
 * post's ratings before the window (one seek per rated post) and the server's ratings after it (a range that is
 * empty when the digest runs as its period ends). The prior's total is likewise the window's (all the server's
 * posts) plus [since, start) and [end, ∞). Everything is read in one statement (PostgreSQL) or one transaction
 * (SQLite), so a rating that moves in time while it runs (re-rated) is counted once. The ranges by server rely on
 * ratings.guild_id being its post's server (migration 004: every write path sets it).
 */
export async function windowRatings(db: Db, w: DigestWindow, since?: string): Promise<WindowRatings> {
  if (db.dialect === 'postgres') return windowRatingsPg(db, w, since);
  return withTransaction(db, async (tx) => {
    const k = tx.kysely;
    // Every post of the server (any state: the prior counts them all) with its window's "count:sum"; the ones
    // announced and rated also get their ratings before the window. MATERIALIZED: the window subquery runs once per post.
    const { rows } = await sql<{ id: string; announced: number; packed: string; before: string | null }>`
      with x as materialized (
        select p.id, p.publish_state in (${sql.join(ANNOUNCED)}) as announced,
               (select count(*) || ':' || coalesce(sum(r.stars), 0) from ratings r
                where r.post_id = p.id and r.updated_at >= ${w.start} and r.updated_at < ${w.end}) as packed
        from posts p where p.guild_id = ${w.guildId}
      )
      select x.id, x.announced, x.packed,
             case when x.announced then (select count(*) || ':' || coalesce(sum(r.stars), 0) from ratings r
                                         where r.post_id = x.id and r.updated_at < ${w.start}) end as before
      from x where x.packed <> '0:0'`.execute(k);
    const after = await sql<{ post_id: string; n: number; s: number }>`
      select post_id, count(*) as n, coalesce(sum(stars), 0) as s from ratings
      where guild_id = ${w.guildId} and updated_at >= ${w.end} group by post_id`.execute(k);
    const afterByPost = new Map(after.rows.map((r) => [r.post_id, { n: num(r.n), s: num(r.s) }]));
    const posts: WindowRatings['posts'] = new Map();
    const inWindow = { n: 0, s: 0 };
    for (const r of rows) {
      const win = unpack(r.packed);
      inWindow.n += win.n;
      inWindow.s += win.s;
      if (!r.announced) continue;
      const before = unpack(r.before);
      const later = afterByPost.get(r.id) ?? { n: 0, s: 0 };
      posts.set(r.id, { newRatings: win.n, ratingCount: win.n + before.n + later.n, ratingSum: win.s + before.s + later.s });
    }
    let prior: WindowRatings['prior'] = null;
    if (since !== undefined) {
      if (since <= w.start) {
        const { rows: o } = await sql<{ n: number; s: number }>`
          select count(*) as n, coalesce(sum(stars), 0) as s from ratings
          where guild_id = ${w.guildId} and updated_at >= ${since} and updated_at < ${w.start}`.execute(k);
        let laterN = 0;
        let laterS = 0;
        for (const a of afterByPost.values()) {
          laterN += a.n;
          laterS += a.s;
        }
        prior = { count: num(o[0]?.n) + inWindow.n + laterN, sum: num(o[0]?.s) + inWindow.s + laterS };
      } else {
        prior = await priorSince(tx, w.guildId, since);
      }
    }
    return { posts, prior };
  });
}

/** The server's ratings since `since`, read directly (a window that starts before `since`). */
async function priorSince(db: Db, guildId: string, since: string): Promise<{ sum: number; count: number }> {
  const { rows } = await sql<{ n: number; s: number }>`
    select count(*) as n, coalesce(sum(stars), 0) as s from ratings where guild_id = ${guildId} and updated_at >= ${since}`.execute(db.kysely);
  return { count: num(rows[0]?.n), sum: num(rows[0]?.s) };
}

async function windowRatingsPg(db: Db, w: DigestWindow, since?: string): Promise<WindowRatings> {
  // x: every post of the server (any state: the prior counts them all) with its window's count and sum, each read
  // by one range of (post_id, updated_at). The rated announced ones then get their ratings before the window (one
  // seek each) and after it (a: the server's ratings after the window). One row back, the posts as JSON: ten
  // thousand rows cost the client more to take apart than the server to count.
  const prior =
    since === undefined
      ? sql`null::bigint as prior_n, null::bigint as prior_s`
      : since <= w.start
        ? sql`(select coalesce(sum(n), 0) from x) + (select coalesce(sum(n), 0) from a) + o.n as prior_n,
              (select coalesce(sum(s), 0) from x) + (select coalesce(sum(s), 0) from a) + coalesce(o.s, 0) as prior_s
              from (select count(*) as n, sum(stars) as s from ratings
                    where guild_id = ${w.guildId} and updated_at >= ${since} and updated_at < ${w.start}) o`
        : sql`o.n as prior_n, coalesce(o.s, 0) as prior_s
              from (select count(*) as n, sum(stars) as s from ratings where guild_id = ${w.guildId} and updated_at >= ${since}) o`;
  const { rows } = await withoutJit(db, (tx) =>
    sql<{ posts: Array<[string, number, number, number]> | null; prior_n: number | null; prior_s: number | null }>`
    with x as materialized (
      select p.id, p.publish_state in (${sql.join(ANNOUNCED)}) as announced, t.n, t.s
      from posts p
      cross join lateral (select count(*) as n, sum(r.stars) as s from ratings r
                          where r.post_id = p.id and r.updated_at >= ${w.start} and r.updated_at < ${w.end}) t
      where p.guild_id = ${w.guildId}
    ), a as (
      select post_id, count(*) as n, sum(stars) as s from ratings
      where guild_id = ${w.guildId} and updated_at >= ${w.end}
      group by post_id
    ), act as (
      select x.id, x.n, x.n + b.n + coalesce(a.n, 0) as total_n, x.s + coalesce(b.s, 0) + coalesce(a.s, 0) as total_s
      from x
      cross join lateral (select count(*) as n, sum(r.stars) as s from ratings r where r.post_id = x.id and r.updated_at < ${w.start}) b
      left join a on a.post_id = x.id
      where x.announced and x.n > 0
    )
    select (select json_agg(json_build_array(id, n, total_n, total_s)) from act) as posts, ${prior}`.execute(tx.kysely),
  );
  const row = rows[0];
  const posts: WindowRatings['posts'] = new Map();
  for (const [id, n, count, sum] of row?.posts ?? []) posts.set(id, { newRatings: num(n), ratingCount: num(count), ratingSum: num(sum) });
  return { posts, prior: since === undefined ? null : { count: num(row?.prior_n), sum: num(row?.prior_s) } };
}

/**
 * Live comments written in the window, per announced post of the server (posts without any are left out). Each
 * comment of the window is visited once, by one range of each post's (post_id, created_at) index of live comments.
 */
export async function windowComments(db: Db, w: DigestWindow): Promise<Map<string, number>> {
  if (db.dialect === 'postgres') {
    const { rows } = await withoutJit(db, (tx) =>
      sql<{ counts: Record<string, number> | null }>`
      select json_object_agg(p.id, t.n) as counts
      from posts p
      cross join lateral (select count(*) as n from comments c
                          where c.post_id = p.id and c.deleted_at is null and c.created_at >= ${w.start} and c.created_at < ${w.end}) t
      where p.guild_id = ${w.guildId} and p.publish_state in (${sql.join(ANNOUNCED)}) and t.n > 0`.execute(tx.kysely),
    );
    return new Map(Object.entries(rows[0]?.counts ?? {}).map(([id, n]) => [id, num(n)]));
  }
  const { rows } = await sql<{ id: string; n: number }>`
    with x as materialized (
      select p.id, (select count(*) from comments c
                    where c.post_id = p.id and c.deleted_at is null and c.created_at >= ${w.start} and c.created_at < ${w.end}) as n
      from posts p where p.guild_id = ${w.guildId} and p.publish_state in (${sql.join(ANNOUNCED)})
    )
    select id, n from x where n > 0`.execute(db.kysely);
  return new Map(rows.map((r) => [r.id, num(r.n)]));
}

/**
 * Live comments of these posts (of the window's server) written outside the window: before it (one seek per post
 * into (post_id, created_at)) and after it (the server's range after the window, usually empty; comments.guild_id
 * is its post's server). A post's replies of all time are its window count (windowComments) plus this. Comments
 * never move in time (created_at is fixed), so the two reads need not share a snapshot: none is counted twice.
 */
export async function commentsOutsideWindow(db: Db, w: DigestWindow, ids: readonly string[]): Promise<Map<string, number>> {
  const out = new Map(ids.map((id) => [id, 0]));
  if (ids.length === 0) return out;
  const after = sql`(select post_id, count(*) as n from comments
                     where guild_id = ${w.guildId} and deleted_at is null and created_at >= ${w.end} group by post_id) a`;
  if (db.dialect === 'postgres') {
    const { rows } = await withoutJit(db, (tx) =>
      sql<{ counts: Record<string, number> | null }>`
      select json_object_agg(u.id, b.n + coalesce(a.n, 0)) as counts
      from unnest(${[...ids]}::text[]) as u(id)
      cross join lateral (select count(*) as n from comments c
                          where c.post_id = u.id and c.deleted_at is null and c.created_at < ${w.start}) b
      left join ${after} on a.post_id = u.id`.execute(tx.kysely),
    );
    for (const [id, n] of Object.entries(rows[0]?.counts ?? {})) out.set(id, num(n));
    return out;
  }
  const { rows } = await sql<{ id: string; n: number }>`
    select j.value as id,
           (select count(*) from comments c where c.post_id = j.value and c.deleted_at is null and c.created_at < ${w.start})
           + coalesce(a.n, 0) as n
    from json_each(${JSON.stringify(ids)}) j
    left join ${after} on a.post_id = j.value`.execute(db.kysely);
  for (const r of rows) out.set(r.id, num(r.n));
  return out;
}

/** Sum and count of all the ratings of these posts (any number of posts). */
async function allRatings(db: Db, ids: readonly string[]): Promise<Map<string, { ratingSum: number; ratingCount: number }>> {
  const out = new Map(ids.map((id) => [id, { ratingSum: 0, ratingCount: 0 }]));
  if (ids.length === 0) return out;
  const { rows } =
    db.dialect === 'postgres'
      ? await withoutJit(db, (tx) =>
          sql<{ id: string; n: number; s: number }>`
          select u.id, t.n, coalesce(t.s, 0) as s from unnest(${[...ids]}::text[]) as u(id)
          cross join lateral (select count(*) as n, sum(r.stars) as s from ratings r where r.post_id = u.id) t`.execute(tx.kysely),
        )
      : await sql<{ id: string; n: number; s: number }>`
          select j.value as id, (select count(*) from ratings r where r.post_id = j.value) as n,
                 (select coalesce(sum(r.stars), 0) from ratings r where r.post_id = j.value) as s
          from json_each(${JSON.stringify(ids)}) j`.execute(db.kysely);
  for (const r of rows) out.set(r.id, { ratingSum: num(r.s), ratingCount: num(r.n) });
  return out;
}

const byId = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Every announced post of the server commented on or rated in the window, with per-post counts and all-time
 * figures, ordered by id. The digest itself reads the same parts (windowRatings, windowComments) and asks for
 * all-time replies only where "top rated" needs them to break a tie; this is the whole picture.
 */
export async function listActivePosts(db: Db, w: DigestWindow): Promise<ActivePost[]> {
  const [ratings, comments] = await Promise.all([windowRatings(db, w), windowComments(db, w)]);
  const ids = [...new Set([...ratings.posts.keys(), ...comments.keys()])].sort(byId);
  const [outside, unrated] = await Promise.all([
    commentsOutsideWindow(db, w, ids),
    allRatings(
      db,
      ids.filter((id) => !ratings.posts.has(id)),
    ),
  ]);
  return ids.map((id) => {
    const r = ratings.posts.get(id) ?? { newRatings: 0, ...unrated.get(id)! };
    const newComments = comments.get(id) ?? 0;
    return { id, newComments, newRatings: r.newRatings, ratingSum: r.ratingSum, ratingCount: r.ratingCount, replies: newComments + (outside.get(id) ?? 0) };
  });
}

/** The candidates for "top rated": posts rated (or re-rated) in the window, with the sum and count of all their ratings. */
export function ratedInWindow(active: readonly ActivePost[]): Array<{ id: string; ratingSum: number; ratingCount: number; replies: number }> {
  return active.filter((a) => a.newRatings > 0).map((a) => ({ id: a.id, ratingSum: a.ratingSum, ratingCount: a.ratingCount, replies: a.replies }));
}

/** Posts with the most comments written in the window (not deleted), most first, ties by post id. */
export function mostDiscussed(active: ReadonlyArray<{ id: string; newComments: number }>, limit = 5): Array<{ id: string; newComments: number }> {
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
  const { rows } = await withoutJit(db, (tx) =>
    sql<{ n: number }>`
    with recursive ${peopleOf(w.guildId)}
    select count(*) as n from (
      select ca.person from ca
      where ca.person is not null and exists (
        select 1 from comments c
        where c.guild_id = ${w.guildId} and c.deleted_at is null and c.author_id = ca.person
          and c.created_at >= ${w.start} and c.created_at < ${w.end}${notIn('c.post_id', excluded)})
      union
      select ra.person from ra
      where ra.person is not null and exists (
        select 1 from ratings r
        where r.guild_id = ${w.guildId} and r.user_id = ra.person
          and r.updated_at >= ${w.start} and r.updated_at < ${w.end}${notIn('r.post_id', excluded)})
    ) u`.execute(tx.kysely),
  );
  return Number(rows[0]?.n ?? 0);
}

/**
 * New comments, new ratings and distinct participants (comment authors ∪ raters) of the window. `active` (one row
 * per active post) saves reading the window again; without it only the window's counts are read.
 */
export async function digestTotals(
  db: Db,
  w: DigestWindow,
  active?: ReadonlyArray<{ newComments: number; newRatings: number }>,
): Promise<Omit<DigestTotals, 'newPosts'>> {
  const counts = async (): Promise<ReadonlyArray<{ newComments: number; newRatings: number }>> => {
    if (active) return active;
    const [ratings, comments] = await Promise.all([windowRatings(db, w), windowComments(db, w)]);
    return [
      ...[...ratings.posts.values()].map((r) => ({ newComments: 0, newRatings: r.newRatings })),
      ...[...comments.values()].map((n) => ({ newComments: n, newRatings: 0 })),
    ];
  };
  const [rows, participants] = await Promise.all([counts(), countParticipants(db, w)]);
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
  const rows = await db.kysely.selectFrom('posts').select(DIGEST_POST_COLUMNS).where('id', 'in', ids).execute();
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

// ------------------------------------------------------------------ the chart, waiting posts, new voices, trend

/** " and <col> not in (…)" for the server's unannounced posts that hold activity (usually none), else nothing. */
/**
 * Two recursive CTEs, `ca(person)` and `ra(person)`: the server's distinct comment authors and raters, found by
 * skipping from one person to the next through the (guild, author) and (guild, user) indexes (a loose index scan;
 * the last row of each is null). Used after `with recursive`.
 */
function peopleOf(guildId: string) {
  return sql`ca(person) as (
      select (select min(author_id) from comments where guild_id = ${guildId} and deleted_at is null)
      union all
      select (select min(c.author_id) from comments c where c.guild_id = ${guildId} and c.deleted_at is null and c.author_id > ca.person)
      from ca where ca.person is not null
    ), ra(person) as (
      select (select min(user_id) from ratings where guild_id = ${guildId})
      union all
      select (select min(r.user_id) from ratings r where r.guild_id = ${guildId} and r.user_id > ra.person)
      from ra where ra.person is not null
    )`;
}

function notIn(col: string, excluded: readonly string[]) {
  return excluded.length ? sql` and ${sql.ref(col)} not in (${sql.join(excluded)})` : sql``;
}

export interface WindowActivity {
  /** Live comments written in each bucket (announced posts). */
  replies: number[];
  /** Ratings given (or changed) in each bucket. */
  ratings: number[];
  /** The window's ratings by stars: index 0 = 1 star … 4 = 5 stars. */
  stars: [number, number, number, number, number];
}

/**
 * The window's replies and ratings per bucket (`starts`: the sorted bucket starts, the first = w.start; the last
 * bucket ends at w.end) and its ratings by stars: one range of the server's (guild_id, time) index per bucket.
 */
export async function windowActivity(db: Db, w: DigestWindow, starts: readonly string[]): Promise<WindowActivity> {
  if (starts.length === 0 || starts[0] !== w.start) throw new RangeError('the buckets must start at the window start');
  const excluded = await unannouncedPostsWithActivity(db, w.guildId);
  const out: WindowActivity = { replies: starts.map(() => 0), ratings: starts.map(() => 0), stars: [0, 0, 0, 0, 0] };
  // One aggregate per bucket over its own index range (UNION ALL): each range is counted as it streams, with no
  // grouping (a CASE per row and a GROUP BY over a million rows cost several times more).
  const ranges = starts.map((from, i) => ({ from, to: starts[i + 1] ?? w.end }));
  const [comments, ratings] = await withoutJit(db, (tx) =>
    Promise.all([
      sql<{ b: number; n: number }>`${sql.join(
        ranges.map(
          (r, i) => sql`select ${sql.lit(i)} as b, count(*) as n from comments
            where guild_id = ${w.guildId} and deleted_at is null and created_at >= ${r.from} and created_at < ${r.to}${notIn('post_id', excluded)}`,
        ),
        sql` union all `,
      )}`.execute(tx.kysely),
      sql<{ b: number; n: number; s1: number; s2: number; s3: number; s4: number; s5: number }>`${sql.join(
        ranges.map(
          (r, i) => sql`select ${sql.lit(i)} as b, count(*) as n, ${sql.join(
            [1, 2, 3, 4, 5].map((k) => sql`coalesce(sum(case when stars = ${sql.lit(k)} then 1 else 0 end), 0) as ${sql.ref(`s${k}`)}`),
          )} from ratings
            where guild_id = ${w.guildId} and updated_at >= ${r.from} and updated_at < ${r.to}${notIn('post_id', excluded)}`,
        ),
        sql` union all `,
      )}`.execute(tx.kysely),
    ]),
  );
  for (const r of comments.rows) out.replies[num(r.b)] = num(r.n);
  for (const r of ratings.rows) {
    out.ratings[num(r.b)] = num(r.n);
    out.stars = [0, 1, 2, 3, 4].map((k) => out.stars[k]! + num(r[`s${k + 1}` as 's1'])) as WindowActivity['stars'];
  }
  return out;
}

/** Live comments and ratings of the window (announced posts): the figures of the trend's previous week. */
export async function windowCounts(db: Db, w: DigestWindow): Promise<{ comments: number; ratings: number }> {
  const excluded = await unannouncedPostsWithActivity(db, w.guildId);
  const [c, r] = await withoutJit(db, (tx) =>
    Promise.all([
      sql<{ n: number }>`select count(*) as n from comments
        where guild_id = ${w.guildId} and deleted_at is null and created_at >= ${w.start} and created_at < ${w.end}${notIn('post_id', excluded)}`.execute(
        tx.kysely,
      ),
      sql<{ n: number }>`select count(*) as n from ratings
        where guild_id = ${w.guildId} and updated_at >= ${w.start} and updated_at < ${w.end}${notIn('post_id', excluded)}`.execute(tx.kysely),
    ]),
  );
  return { comments: num(c.rows[0]?.n), ratings: num(r.rows[0]?.n) };
}

export interface WaitingPost {
  id: string;
  /** The newest top-level reply still without an answer, or null when the thread has no reply at all. */
  unansweredSince: string | null;
}

/**
 * Posts published in [since, end) with a thread that waits for an answer at `end`: no live reply at all, or its
 * newest live top-level reply (not a reply to another message) was written at or before `quietBefore` (48 h before
 * `end`) and no one else wrote in the thread after it. Oldest wait first (a thread without replies waits since the
 * post was published); the first `limit`, and how many there are.
 */
export async function waitingForAnswer(
  db: Db,
  q: { guildId: string; since: string; end: string; quietBefore: string },
  limit = 5,
): Promise<{ posts: WaitingPost[]; total: number }> {
  // `last` packs the newest top-level reply as "created_at|author_id" (ISO times have a fixed 24 characters).
  const { rows } = await withoutJit(db, (tx) =>
    sql<{ id: string; published: string; last: string | null }>`
    select x.id, x.published, x.last from (
      select p.id, coalesce(p.published_at, p.discovered_at) as published,
             (select c.created_at || '|' || c.author_id from comments c
              where c.post_id = p.id and c.deleted_at is null and c.reply_to_id is null and c.created_at < ${q.end}
              order by c.created_at desc limit 1) as last
      from posts p
      where p.guild_id = ${q.guildId} and p.publish_state in (${sql.join(ANNOUNCED)}) and p.thread_id is not null
        and coalesce(p.published_at, p.discovered_at) >= ${q.since} and coalesce(p.published_at, p.discovered_at) < ${q.end}
    ) x
    where (x.last is null and not exists (
             select 1 from comments c where c.post_id = x.id and c.deleted_at is null and c.created_at < ${q.end}))
       or (x.last is not null and substr(x.last, 1, 24) <= ${q.quietBefore} and not exists (
             select 1 from comments c where c.post_id = x.id and c.deleted_at is null
               and c.created_at > substr(x.last, 1, 24) and c.created_at < ${q.end} and c.author_id <> substr(x.last, 26)))`.execute(tx.kysely),
  );
  const waiting = rows
    .map((r) => ({ id: r.id, unansweredSince: r.last ? r.last.slice(0, 24) : null, waitsSince: r.last ? r.last.slice(0, 24) : r.published }))
    .sort((a, b) => (a.waitsSince < b.waitsSince ? -1 : a.waitsSince > b.waitsSince ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { posts: waiting.slice(0, limit).map(({ id, unansweredSince }) => ({ id, unansweredSince })), total: waiting.length };
}

/** A new voice and how they chose to appear (member_privacy; no row = named). */
export interface NewVoice {
  userId: string;
  show: 'named' | 'anonymous';
}

/**
 * People whose first live comment or rating on the server falls in the window ("new voices"), by id, with their
 * privacy choice; members who chose `hidden` are left out altogether (not even counted). Found like
 * countParticipants: skipping from person to person through the server's author and rater indexes, then one seek
 * each for activity in the window and one before it. (A rating changed later keeps only its newest time, so a
 * person whose only earlier activity is a rating they changed this week counts as new.)
 */
export async function newVoices(db: Db, w: DigestWindow): Promise<NewVoice[]> {
  const excluded = await unannouncedPostsWithActivity(db, w.guildId);
  const { rows } = await withoutJit(db, (tx) =>
    sql<{ person: string; show: string }>`
    with recursive ${peopleOf(w.guildId)}, people(person) as (
      select person from ca where person is not null
      union
      select person from ra where person is not null
    )
    select p.person, coalesce(mp.show, 'named') as show from people p
    left join member_privacy mp on mp.guild_id = ${w.guildId} and mp.user_id = p.person
    where coalesce(mp.show, 'named') <> 'hidden'
      and (exists (select 1 from comments c where c.guild_id = ${w.guildId} and c.deleted_at is null and c.author_id = p.person
                     and c.created_at >= ${w.start} and c.created_at < ${w.end}${notIn('c.post_id', excluded)})
        or exists (select 1 from ratings r where r.guild_id = ${w.guildId} and r.user_id = p.person
                     and r.updated_at >= ${w.start} and r.updated_at < ${w.end}${notIn('r.post_id', excluded)}))
      and not exists (select 1 from comments c where c.guild_id = ${w.guildId} and c.deleted_at is null and c.author_id = p.person and c.created_at < ${w.start})
      and not exists (select 1 from ratings r where r.guild_id = ${w.guildId} and r.user_id = p.person and r.updated_at < ${w.start})
    order by p.person`.execute(tx.kysely),
  );
  return rows.map((r) => ({ userId: r.person, show: r.show === 'anonymous' ? 'anonymous' : 'named' }));
}
