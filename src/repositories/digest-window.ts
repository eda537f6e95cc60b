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

// ------------------------------------------------------------------ rollup reads (migration 012)
//
// A window [start, end) is read from the rollups where it covers whole units of them (quarter hours of
// digest_buckets, UTC days of digest_post_days) and from the rows themselves in what is left at its two ends (a
// window that starts or ends off those units: "the week so far", a server's Monday 09:00 in a zone that is not UTC
// for the per-post figures). Comments and ratings of the server's unannounced posts (usually none) are taken out by
// reading their rows. Everything is exact; see docs/digest.md.

/** 'YYYY-MM-DDTHH:MM' of the quarter hour an ISO time falls in, and of the first quarter hour at or after it. */
export function quarterOf(iso: string): string {
  const m = Number(iso.slice(14, 16));
  return `${iso.slice(0, 14)}${String(m - (m % 15)).padStart(2, '0')}`;
}
const QUARTER_MS = 15 * 60_000;
const floorQuarterIso = (iso: string): string => new Date(Math.floor(Date.parse(iso) / QUARTER_MS) * QUARTER_MS).toISOString();
const ceilQuarterIso = (iso: string): string => new Date(Math.ceil(Date.parse(iso) / QUARTER_MS) * QUARTER_MS).toISOString();
const DAY_MS = 24 * 3600_000;
const floorDayIso = (iso: string): string => new Date(Math.floor(Date.parse(iso) / DAY_MS) * DAY_MS).toISOString();
const ceilDayIso = (iso: string): string => new Date(Math.ceil(Date.parse(iso) / DAY_MS) * DAY_MS).toISOString();

/**
 * Splits [from, to) into its whole units (`whole`: [a, b) on unit bounds, or null) and the rest at its ends
 * (`edges`: at most two ranges, read from the rows).
 */
function split(from: string, to: string, floor: (iso: string) => string, ceil: (iso: string) => string) {
  const a = ceil(from);
  const b = floor(to);
  if (a >= b) return { whole: null, edges: from < to ? [{ from, to }] : [] };
  const edges = [];
  if (from < a) edges.push({ from, to: a });
  if (b < to) edges.push({ from: b, to });
  return { whole: { from: a, to: b }, edges };
}

interface Figures {
  replies: number;
  ratings: number;
  stars: [number, number, number, number, number];
}
const zero = (): Figures => ({ replies: 0, ratings: 0, stars: [0, 0, 0, 0, 0] });

/**
 * The server's live comments, ratings and ratings by stars in each of these ranges (sorted, not overlapping),
 * announced posts only: quarter-hour buckets for the whole quarter hours, the rows for the rest.
 */
async function rangeFigures(db: Db, guildId: string, ranges: ReadonlyArray<{ from: string; to: string }>): Promise<Figures[]> {
  const out = ranges.map(zero);
  if (ranges.length === 0) return out;
  const excluded = await unannouncedPostsWithActivity(db, guildId);
  const parts = ranges.map((r) => split(r.from, r.to, floorQuarterIso, ceilQuarterIso));
  const wholes = parts.flatMap((p, i) => (p.whole ? [{ i, from: quarterOf(p.whole.from), to: quarterOf(p.whole.to) }] : []));
  const raw = parts.flatMap((p, i) => p.edges.map((e) => ({ i, ...e })));
  const starSums = [1, 2, 3, 4, 5].map((k) => sql`coalesce(sum(case when stars = ${sql.lit(k)} then 1 else 0 end), 0) as ${sql.ref(`s${k}`)}`);
  type RawRow = { i: number; c: number; r: number; s1: number; s2: number; s3: number; s4: number; s5: number };
  const rawQuery = (items: ReadonlyArray<{ i: number; from: string; to: string }>, only: readonly string[] | null, sign: number) =>
    items.length === 0
      ? Promise.resolve([])
      : sql<RawRow>`${sql.join(
          items.map(
            (e) => sql`select ${sql.lit(e.i)} as i,
              (select count(*) from comments where guild_id = ${guildId} and deleted_at is null and created_at >= ${e.from} and created_at < ${e.to}${
                only ? sql` and post_id in (${sql.join(only)})` : notIn('post_id', excluded)
              }) as c, x.* from (select count(*) as r, ${sql.join(starSums)} from ratings
              where guild_id = ${guildId} and updated_at >= ${e.from} and updated_at < ${e.to}${
                only ? sql` and post_id in (${sql.join(only)})` : notIn('post_id', excluded)
              }) x`,
          ),
          sql` union all `,
        )}`
          .execute(db.kysely)
          .then((res) => res.rows.map((row) => ({ row, sign })));
  const add = (i: number, sign: number, c: number, r: number, s: number[]) => {
    const f = out[i]!;
    f.replies += sign * c;
    f.ratings += sign * r;
    f.stars = f.stars.map((v, k) => v + sign * s[k]!) as Figures['stars'];
  };
  const [buckets, edgeRows, excludedRows] = await withoutJit(db, (tx) =>
    Promise.all([
      wholes.length === 0
        ? Promise.resolve([])
        : sql<{ bucket: string; replies: number; ratings: number; s1: number; s2: number; s3: number; s4: number; s5: number }>`
          select bucket, replies, ratings, s1, s2, s3, s4, s5 from digest_buckets
          where guild_id = ${guildId} and bucket >= ${wholes[0]!.from} and bucket < ${wholes[wholes.length - 1]!.to}
            and (replies <> 0 or ratings <> 0) order by bucket`
            .execute(tx.kysely)
            .then((r) => r.rows),
      rawQuery(raw, null, 1),
      // The unannounced posts' share of the whole quarter hours (their edges were left out above).
      excluded.length
        ? rawQuery(
            wholes.map((w) => ({ i: w.i, from: `${w.from}:00.000Z`, to: `${w.to}:00.000Z` })),
            excluded,
            -1,
          )
        : Promise.resolve([]),
    ]),
  );
  let at = 0;
  for (const b of buckets) {
    while (at < wholes.length && b.bucket >= wholes[at]!.to) at++;
    const w = wholes[at];
    if (!w || b.bucket < w.from) continue;
    add(w.i, 1, num(b.replies), num(b.ratings), [num(b.s1), num(b.s2), num(b.s3), num(b.s4), num(b.s5)]);
  }
  for (const { row, sign } of [...edgeRows, ...excludedRows]) add(num(row.i), sign, num(row.c), num(row.r), [row.s1, row.s2, row.s3, row.s4, row.s5].map(num));
  return out;
}

/** A post's live comments and ratings in a window, and (when read with them) its live replies, ratings and stars of all time. */
interface PostFigures {
  comments: number;
  ratings: number;
  totals?: { replies: number; ratingCount: number; ratingSum: number };
}

/** A range of time whose rows are added to (+1) or taken from (-1) what the UTC days of digest_post_days give. */
export interface SignedRange {
  from: string;
  to: string;
  sign: 1 | -1;
}

/**
 * How to read a window's per-post figures: which whole UTC days of digest_post_days (`days`, [from, to) as ISO
 * times on midnights, or null for none) and which ranges of rows to add to them or take from them, so that the
 * fewest hours of rows are read. A window that starts or ends inside a UTC day (a server's Monday 00:00 in New York
 * is 05:00 UTC) may take that whole day and subtract the part outside the window: 5 hours of rows instead of 19;
 * the week so far takes today and subtracts what comes after now (nothing). Exact either way, when the days and the
 * rows are read in one snapshot. Rows stamped after `now` are not there yet: a range after it reads nothing.
 */
export function planPostDays(from: string, to: string, now = Date.now()): { days: { from: string; to: string } | null; ranges: SignedRange[] } {
  if (from >= to) return { days: null, ranges: [] };
  const ms = (iso: string) => Date.parse(iso);
  /** What reading the rows of [a, b) costs: its length, up to now. */
  const cost = (a: string, b: string) => Math.max(0, Math.min(ms(b), now) - ms(a));
  type Plan = { days: { from: string; to: string } | null; ranges: SignedRange[]; cost: number };
  let best: Plan = { days: null, ranges: [{ from, to, sign: 1 }], cost: cost(from, to) };
  // Fewer days first, so that of two plans reading as many hours of rows, the one reading fewer days wins.
  for (const d0 of [ceilDayIso(from), floorDayIso(from)])
    for (const d1 of [floorDayIso(to), ceilDayIso(to)]) {
      if (d0 >= d1) continue;
      const ranges: SignedRange[] = [];
      if (from < d0) ranges.push({ from, to: d0, sign: 1 });
      if (d0 < from) ranges.push({ from: d0, to: from, sign: -1 });
      if (d1 < to) ranges.push({ from: d1, to, sign: 1 });
      if (to < d1) ranges.push({ from: to, to: d1, sign: -1 });
      const c = ranges.reduce((n, r) => n + cost(r.from, r.to), 0);
      if (c < best.cost) best = { days: { from: d0, to: d1 }, ranges, cost: c };
    }
  return { days: best.days, ranges: best.ranges };
}

/**
 * The window's figures per announced post of the server (posts with a live comment or a rating in it): UTC days
 * from digest_post_days, with the rows at the window's ends added or taken away (planPostDays), in one statement so
 * that the rollups and the rows are read in one snapshot (a reply stored between two reads could otherwise be taken
 * away without having been added). `withTotals` (PostgreSQL): each post comes with its digest_post_totals row, read
 * in the same statement.
 */
async function windowPostFigures(db: Db, w: DigestWindow, withTotals = false): Promise<Map<string, PostFigures>> {
  const { days, ranges } = planPostDays(w.start, w.end);
  const out = new Map<string, PostFigures>();
  if (!days && ranges.length === 0) return out;
  const announced = sql`p.guild_id = ${w.guildId} and p.publish_state in (${sql.join(ANNOUNCED)})`;
  // The rows of the ranges, signed: +1 per live comment and per rating (or -1).
  const rows = ranges.flatMap((r) => [
    sql`select post_id, ${sql.lit(r.sign)} as c, 0 as r from comments
        where guild_id = ${w.guildId} and deleted_at is null and created_at >= ${r.from} and created_at < ${r.to}`,
    sql`select post_id, 0, ${sql.lit(r.sign)} from ratings
        where guild_id = ${w.guildId} and updated_at >= ${r.from} and updated_at < ${r.to}`,
  ]);
  const from = days?.from.slice(0, 10);
  const to = days?.to.slice(0, 10);
  if (db.dialect === 'postgres') {
    // The server's days of the window in one range of digest_post_days_guild_idx (a busy week: ~70,000 entries;
    // their figures on that week's heap pages since migration 024 took them out of the index, so that a stored
    // reply's or vote's update of them is HOT), with the rows, summed per post in a hash table: a third of the time
    // of one seek per post. The result is one text ("replies:ratings[:all-time replies:ratings:stars]:post_id"
    // per post, separated by the record separator, U+001E): cheaper to build and to read than 10,000 rows or a JSON
    // array (~25% of the query's time). With the all-time totals joined here, top rated needs no second read.
    const parts = [
      ...(days ? [sql`select post_id, replies as c, ratings as r from digest_post_days where guild_id = ${w.guildId} and day >= ${from} and day < ${to}`] : []),
      ...rows,
    ];
    const totalsCols = withTotals ? sql` || ':' || coalesce(t.replies, 0) || ':' || coalesce(t.ratings, 0) || ':' || coalesce(t.star_sum, 0)` : sql``;
    const { rows: packedRows } = await withoutJit(db, (tx) =>
      sql<{ posts: string | null }>`
        select string_agg(d.c || ':' || d.r${totalsCols} || ':' || d.post_id, chr(30)) as posts from (
          select post_id, sum(c) as c, sum(r) as r from (${sql.join(parts, sql` union all `)}) u
          group by post_id having sum(c) <> 0 or sum(r) <> 0
        ) d join posts p on p.id = d.post_id${withTotals ? sql` left join digest_post_totals t on t.guild_id = ${w.guildId} and t.post_id = d.post_id` : sql``}
        where ${announced}`.execute(tx.kysely),
    );
    const packed = packedRows[0]?.posts;
    if (!packed) return out;
    const fields = withTotals ? 5 : 2;
    for (const entry of packed.split('\x1e')) {
      const n: number[] = [];
      let at = 0;
      for (let i = 0; i < fields; i++) {
        const colon = entry.indexOf(':', at);
        n.push(Number(entry.slice(at, colon)));
        at = colon + 1;
      }
      out.set(entry.slice(at), {
        comments: n[0]!,
        ratings: n[1]!,
        ...(withTotals ? { totals: { replies: n[2]!, ratingCount: n[3]!, ratingSum: n[4]! } } : {}),
      });
    }
    return out;
  }
  // SQLite: one range of (post_id, day) per announced post of the server (a week is ~8 rows a post), summed where
  // it is read; grouping the server's rows would sort them (~70,000 in a busy week). MATERIALIZED: the packed sums
  // ("replies:ratings") are computed once per post, then filtered. The rows' sums per post come after, in
  // the same statement; a post may be in both.
  const fromDays = days
    ? [
        sql`select id, packed from (
          with x as materialized (
            select p.id, (select coalesce(sum(d.replies), 0) || ':' || coalesce(sum(d.ratings), 0)
                          from digest_post_days d where d.post_id = p.id and d.day >= ${from} and d.day < ${to}) as packed
            from posts p where ${announced}
          )
          select id, packed from x where packed <> '0:0')`,
      ]
    : [];
  const fromRows = rows.length
    ? [
        // Summed per post before the join (half the time of a join per row: 60,000 rows for 5 hours of a busy week).
        sql`select x.id, x.packed from (
              select post_id as id, sum(c) || ':' || sum(r) as packed from (${sql.join(rows, sql` union all `)}) u group by post_id
            ) x join posts p on p.id = x.id where ${announced}`,
      ]
    : [];
  const { rows: packedRows } = await sql<{ id: string; packed: string }>`${sql.join([...fromDays, ...fromRows], sql` union all `)}`.execute(db.kysely);
  for (const r of packedRows) {
    const [c, rr] = r.packed.split(':').map(Number);
    const f = out.get(r.id) ?? { comments: 0, ratings: 0 };
    f.comments += c!;
    f.ratings += rr!;
    out.set(r.id, f);
  }
  for (const [id, f] of out) if (f.comments === 0 && f.ratings === 0) out.delete(id);
  return out;
}

/** Above this many posts, postTotals reads the server's whole range of digest_post_totals instead of one seek a post. */
const TOTALS_BY_RANGE = 200;

/**
 * Live comments, ratings and their stars' sum of all time, per post of the server `guildId` (digest_post_totals,
 * migration 015): one range of the server's rows for many posts (a busy week's 10,000 rated posts), a seek per post
 * for a few.
 */
export async function postTotals(
  db: Db,
  guildId: string,
  ids: readonly string[],
): Promise<Map<string, { replies: number; ratingCount: number; ratingSum: number }>> {
  const out = new Map(ids.map((id) => [id, { replies: 0, ratingCount: 0, ratingSum: 0 }]));
  if (ids.length === 0) return out;
  const only = ids.length > TOTALS_BY_RANGE ? sql`` : sql` and post_id in (${sql.join(ids)})`;
  const { rows } = await sql<{ post_id: string; replies: number; ratings: number; star_sum: number }>`
    select post_id, replies, ratings, star_sum from digest_post_totals where guild_id = ${guildId}${only}`.execute(db.kysely);
  for (const r of rows) {
    const t = out.get(r.post_id);
    if (t) Object.assign(t, { replies: num(r.replies), ratingCount: num(r.ratings), ratingSum: num(r.star_sum) });
  }
  return out;
}

/**
 * Ratings given (or changed) in the window, per announced post of the server, with the sum and count of all of each
 * such post's ratings, and optionally the server's rating total since `since` (the prior of "top rated").
 * From the rollups (see above), in one transaction so a rating that moves while it runs is counted once.
 */
export async function windowRatings(db: Db, w: DigestWindow, since?: string): Promise<WindowRatings> {
  return withTransaction(db, async (tx) => {
    const figures = await windowPostFigures(tx, w, true);
    return (await ratingsOf(tx, w, figures, since)).ratings;
  });
}

async function ratingsOf(
  db: Db,
  w: DigestWindow,
  figures: ReadonlyMap<string, PostFigures>,
  since?: string,
): Promise<{ ratings: WindowRatings; replies: Map<string, number> }> {
  const rated = [...figures].filter(([, f]) => f.ratings > 0).map(([id]) => id);
  // The all-time totals that did not come with the figures (SQLite).
  const [totals, prior] = await Promise.all([
    postTotals(
      db,
      w.guildId,
      rated.filter((id) => !figures.get(id)!.totals),
    ),
    since === undefined ? Promise.resolve(null) : priorSince(db, w.guildId, since),
  ]);
  const posts: WindowRatings['posts'] = new Map();
  const replies = new Map<string, number>();
  for (const id of rated) {
    const t = figures.get(id)!.totals ?? totals.get(id)!;
    posts.set(id, { newRatings: figures.get(id)!.ratings, ratingCount: t.ratingCount, ratingSum: t.ratingSum });
    replies.set(id, t.replies);
  }
  return { ratings: { posts, prior }, replies };
}

/** The server's ratings (posts in any state) given or changed since `since`: its quarter-hour buckets. */
async function priorSince(db: Db, guildId: string, since: string): Promise<{ sum: number; count: number }> {
  const from = ceilQuarterIso(since);
  const [b, edge] = await Promise.all([
    sql<{ n: number; s: number }>`select coalesce(sum(ratings), 0) as n, coalesce(sum(s1 + 2 * s2 + 3 * s3 + 4 * s4 + 5 * s5), 0) as s
      from digest_buckets where guild_id = ${guildId} and bucket >= ${quarterOf(from)}`.execute(db.kysely),
    sql<{ n: number; s: number }>`select count(*) as n, coalesce(sum(stars), 0) as s from ratings
      where guild_id = ${guildId} and updated_at >= ${since} and updated_at < ${from}`.execute(db.kysely),
  ]);
  return { count: num(b.rows[0]?.n) + num(edge.rows[0]?.n), sum: num(b.rows[0]?.s) + num(edge.rows[0]?.s) };
}

/** Live comments written in the window, per announced post of the server (posts without any are left out). */
export async function windowComments(db: Db, w: DigestWindow): Promise<Map<string, number>> {
  const figures = await windowPostFigures(db, w);
  return new Map([...figures].filter(([, f]) => f.comments > 0).map(([id, f]) => [id, f.comments]));
}

/**
 * The window's per-post figures read once: its comments per post (most discussed), its ratings per post with
 * their all-time totals and the prior (top rated), and the all-time live replies of the rated posts (top rated's
 * last tie-breaker).
 */
export async function windowPosts(
  db: Db,
  w: DigestWindow,
  since?: string,
): Promise<{ comments: Map<string, number>; ratings: WindowRatings; replies: Map<string, number> }> {
  return withTransaction(db, async (tx) => {
    const figures = await windowPostFigures(tx, w, true);
    const comments = new Map([...figures].filter(([, f]) => f.comments > 0).map(([id, f]) => [id, f.comments]));
    const { ratings, replies } = await ratingsOf(tx, w, figures, since);
    return { comments, ratings, replies };
  });
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
 * The server's posts that are not announced ('known', 'skipped', 'pending', 'failed') yet hold comments or ratings:
 * the digest leaves their activity out. Usually none. Read from posts_unannounced_guild_idx (migration 025), which
 * holds only those posts: its predicate is repeated here as it is written there, with literals (SQLite uses a
 * partial index only then; test/db/digest-window.test.ts holds both engines' plans to it).
 */
async function unannouncedPostsWithActivity(db: Db, guildId: string): Promise<string[]> {
  const { rows } = await unannouncedPostsQuery(guildId).execute(db.kysely);
  return rows.map((r) => r.id);
}

/** The read of unannouncedPostsWithActivity (exported for its plan test). */
export function unannouncedPostsQuery(guildId: string) {
  return sql<{ id: string }>`
    select p.id from posts p
    where p.guild_id = ${guildId} and ${UNANNOUNCED}
      and (exists (select 1 from comments c where c.post_id = p.id) or exists (select 1 from ratings r where r.post_id = p.id))`;
}

/** Migration 025's predicate, word for word: `publish_state not in ('announced', 'threaded', 'published')`. */
const UNANNOUNCED = sql.raw(`p.publish_state not in (${ANNOUNCED.map((s) => `'${s}'`).join(', ')})`);

/**
 * Distinct people who commented (live comments) or rated in the window, on the server's announced posts, less the
 * members who chose `hidden` (they are neither shown nor counted; `anonymous` ones are counted).
 *
 * From digest_person_days (migration 015: a person's live comments and ratings in the server per UTC day): the
 * people of the window's whole UTC days are one range of it (~7 rows a person active every day of a week); a
 * person seen only on the days at the window's ends (a window that does not start or end at 00:00 UTC) is checked
 * against the rows of those few hours, one seek each. When the server has unannounced posts with activity (usually
 * none), every candidate is checked against the window's rows on announced posts instead. Same query on both
 * engines; its cost grows with the people active in the window, not with their comments and ratings.
 */
export async function countParticipants(db: Db, w: DigestWindow): Promise<number> {
  if (w.start >= w.end) return 0;
  const excluded = await unannouncedPostsWithActivity(db, w.guildId);
  const { whole, edges } = split(w.start, w.end, floorDayIso, ceilDayIso);
  const lo = floorDayIso(w.start).slice(0, 10);
  const hi = ceilDayIso(w.end).slice(0, 10);
  // A person active on one of the whole days took part, unless unannounced posts may be all they touched.
  const onWholeDay =
    whole && excluded.length === 0 ? sql`max(case when day >= ${whole.from.slice(0, 10)} and day < ${whole.to.slice(0, 10)} then 1 else 0 end)` : sql`0`;
  const checked = excluded.length ? [{ from: w.start, to: w.end }] : edges;
  const activeIn = (range: { from: string; to: string }) => sql`exists (
      select 1 from comments c where c.guild_id = ${w.guildId} and c.deleted_at is null and c.author_id = cand.person
        and c.created_at >= ${range.from} and c.created_at < ${range.to}${notIn('c.post_id', excluded)})
    or exists (
      select 1 from ratings r where r.guild_id = ${w.guildId} and r.user_id = cand.person
        and r.updated_at >= ${range.from} and r.updated_at < ${range.to}${notIn('r.post_id', excluded)})`;
  const { rows } = await withoutJit(db, (tx) =>
    sql<{ n: number }>`
    with cand as (
      select user_id as person, ${onWholeDay} as whole from digest_person_days
      where guild_id = ${w.guildId} and day >= ${lo} and day < ${hi} and n > 0
      group by user_id
    )
    select count(*) as n from cand
    where (cand.whole = 1${checked.length ? sql` or ${sql.join(checked.map(activeIn), sql` or `)}` : sql``})
      and not exists (select 1 from member_privacy mp where mp.guild_id = ${w.guildId} and mp.user_id = cand.person and mp.show = 'hidden')`.execute(tx.kysely),
  );
  return Number(rows[0]?.n ?? 0);
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
 * bucket ends at w.end) and its ratings by stars: sums of the server's quarter-hour rollups (a day of any time
 * zone is whole quarter hours of UTC), the rows only for what is left at the window's ends.
 */
export async function windowActivity(db: Db, w: DigestWindow, starts: readonly string[]): Promise<WindowActivity> {
  if (starts.length === 0 || starts[0] !== w.start) throw new RangeError('the buckets must start at the window start');
  const figures = await rangeFigures(
    db,
    w.guildId,
    starts.map((from, i) => ({ from, to: starts[i + 1] ?? w.end })),
  );
  const stars: WindowActivity['stars'] = [0, 0, 0, 0, 0];
  for (const f of figures) for (let k = 0; k < 5; k++) stars[k] = stars[k]! + f.stars[k]!;
  return { replies: figures.map((f) => f.replies), ratings: figures.map((f) => f.ratings), stars };
}

/** Live comments and ratings of the window (announced posts): the figures of the trend's previous week. */
export async function windowCounts(db: Db, w: DigestWindow): Promise<{ comments: number; ratings: number }> {
  const [f] = await rangeFigures(db, w.guildId, [{ from: w.start, to: w.end }]);
  return { comments: f!.replies, ratings: f!.ratings };
}

export interface WaitingPost {
  id: string;
  /** The newest top-level reply still without an answer, or null when the thread has no reply at all. */
  unansweredSince: string | null;
}

/**
 * Posts published in [since, end) with a thread that waits for an answer at `end`: no live reply at all, or its
 * newest live top-level reply (not a reply to another message; of two at the same time, the greater author id)
 * was written at or before `quietBefore` (48 h before `end`) and no one else wrote in the thread after it. Oldest
 * wait first (a thread without replies waits since the post was published); the first `limit`, and how many there
 * are.
 *
 * PostgreSQL: the recent posts with their row of digest_post_waits (migration 019: each post's newest live comment,
 * newest live top-level reply and whether someone else wrote after it, kept by triggers), in one read; a post with a
 * live comment at or after `end` (a past week's digest) is read from the rows instead, as SQLite reads every post.
 */
export async function waitingForAnswer(
  db: Db,
  q: { guildId: string; since: string; end: string; quietBefore: string },
  limit = 5,
): Promise<{ posts: WaitingPost[]; total: number }> {
  const recent = sql`p.guild_id = ${q.guildId} and p.publish_state in (${sql.join(ANNOUNCED)}) and p.thread_id is not null
        and coalesce(p.published_at, p.discovered_at) >= ${q.since} and coalesce(p.published_at, p.discovered_at) < ${q.end}`;
  let rows: Array<{ id: string; published: string; last: string | null }>;
  if (db.dialect === 'postgres') {
    const fromRollup = await withoutJit(
      db,
      async (tx) =>
        (
          await sql<{ id: string; published: string; last_at: string | null; later: boolean }>`
      select p.id, coalesce(p.published_at, p.discovered_at) as published, w.last_at, coalesce(w.newest_at >= ${q.end}, false) as later
      from posts p left join digest_post_waits w on w.post_id = p.id
      where ${recent}
        and (w.newest_at is null or w.newest_at >= ${q.end} or (w.last_at <= ${q.quietBefore} and not w.answered))`.execute(tx.kysely)
        ).rows,
    );
    const later = fromRollup.filter((r) => r.later).map((r) => r.id);
    rows = [
      ...fromRollup.filter((r) => !r.later).map((r) => ({ id: r.id, published: r.published, last: r.last_at })),
      ...(later.length ? await waitingFromRows(db, q, sql` and p.id in (${sql.join(later)})`) : []),
    ];
  } else rows = await waitingFromRows(db, q, sql``);
  const waiting = rows
    .map((r) => ({ id: r.id, unansweredSince: r.last ? r.last.slice(0, 24) : null, waitsSince: r.last ? r.last.slice(0, 24) : r.published }))
    .sort((a, b) => (a.waitsSince < b.waitsSince ? -1 : a.waitsSince > b.waitsSince ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { posts: waiting.slice(0, limit).map(({ id, unansweredSince }) => ({ id, unansweredSince })), total: waiting.length };
}

/**
 * waitingForAnswer read from the comments: the posts of the filter `only` (sql`` for all) that wait at `end`, with
 * the time of their newest top-level reply (null: no reply at all).
 */
async function waitingFromRows(
  db: Db,
  q: { guildId: string; since: string; end: string; quietBefore: string },
  only: ReturnType<typeof sql>,
): Promise<Array<{ id: string; published: string; last: string | null }>> {
  // `last` packs the newest top-level reply as "created_at|author_id" (ISO times have a fixed 24 characters).
  // SQLite walks back through the post's replies (comments_post_time_idx, migration 022); PostgreSQL seeks
  // comments_live_top_idx (migration 015). MATERIALIZED: it is computed once per post (PostgreSQL expanded the
  // subquery at each of its four uses below).
  const { rows } = await withoutJit(db, (tx) =>
    sql<{ id: string; published: string; last: string | null }>`
    with x as materialized (
      select p.id, coalesce(p.published_at, p.discovered_at) as published,
             (select c.created_at || '|' || c.author_id from comments c
              where c.post_id = p.id and c.deleted_at is null and c.reply_to_id is null and c.created_at < ${q.end}
              order by c.created_at desc, c.author_id desc limit 1) as last
      from posts p
      where p.guild_id = ${q.guildId} and p.publish_state in (${sql.join(ANNOUNCED)}) and p.thread_id is not null
        and coalesce(p.published_at, p.discovered_at) >= ${q.since} and coalesce(p.published_at, p.discovered_at) < ${q.end}${only}
    )
    select x.id, x.published, x.last from x
    where (x.last is null and not exists (
             select 1 from comments c where c.post_id = x.id and c.deleted_at is null and c.created_at < ${q.end}))
       or (x.last is not null and substr(x.last, 1, 24) <= ${q.quietBefore} and not exists (
             select 1 from comments c where c.post_id = x.id and c.deleted_at is null
               and c.created_at > substr(x.last, 1, 24) and c.created_at < ${q.end} and c.author_id <> substr(x.last, 26)))`.execute(tx.kysely),
  );
  return rows;
}

/** A new voice and how they chose to appear (member_privacy; no row = named). */
export interface NewVoice {
  userId: string;
  show: 'named' | 'anonymous';
}

/**
 * People whose first live comment or rating on the server falls in the window ("new voices"), by id, with their
 * privacy choice; members who chose `hidden` are left out altogether (not even counted). A range of
 * digest_first_activity (the time of each person's first live comment or rating in the server, kept by triggers);
 * when the server has unannounced posts with activity, each must also have written or rated in the window on an
 * announced post. (A rating changed later keeps only its newest time, so a person whose only earlier activity is a
 * rating they changed this week counts as new.)
 */
export async function newVoices(db: Db, w: DigestWindow): Promise<NewVoice[]> {
  const excluded = await unannouncedPostsWithActivity(db, w.guildId);
  const onAnnounced = excluded.length
    ? sql`and (exists (select 1 from comments c where c.guild_id = ${w.guildId} and c.deleted_at is null and c.author_id = f.user_id
                     and c.created_at >= ${w.start} and c.created_at < ${w.end}${notIn('c.post_id', excluded)})
        or exists (select 1 from ratings r where r.guild_id = ${w.guildId} and r.user_id = f.user_id
                     and r.updated_at >= ${w.start} and r.updated_at < ${w.end}${notIn('r.post_id', excluded)}))`
    : sql``;
  const { rows } = await withoutJit(db, (tx) =>
    sql<{ person: string; show: string }>`
    select f.user_id as person, coalesce(mp.show, 'named') as show from digest_first_activity f
    left join member_privacy mp on mp.guild_id = f.guild_id and mp.user_id = f.user_id
    where f.guild_id = ${w.guildId} and f.first_at >= ${w.start} and f.first_at < ${w.end}
      and coalesce(mp.show, 'named') <> 'hidden' ${onAnnounced}
    order by f.user_id`.execute(tx.kysely),
  );
  return rows.map((r) => ({ userId: r.person, show: r.show === 'anonymous' ? 'anonymous' : 'named' }));
}
