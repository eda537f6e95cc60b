import { sql, SqliteAdapter, type Kysely } from 'kysely';

// Frozen in time. Rollups of comments and ratings for the weekly digest (issue 20, "Speed"): the digest of a week
// with a million replies and a million ratings reads a few thousand rollup rows instead of two million index entries.
//
// - digest_buckets (guild_id, bucket): a server's live comments and its ratings (by stars) per quarter hour of UTC
//   (bucket = 'YYYY-MM-DDTHH:MM', the minutes 00/15/30/45). Every time zone's offset is a multiple of 15 minutes,
//   so a day of any zone (23, 24 or 25 hours, UTC+13, UTC+5:45 …) is a whole number of buckets: the chart's days,
//   the week's totals and the trend's previous week are exact sums of buckets (what is left at a window's ends
//   when it does not fall on a quarter hour, such as "the week so far", is read from the rows).
// - digest_post_days (post_id, day): a post's live comments, ratings and the sum of their stars per UTC day
//   (most discussed, top rated: the window's per-post figures and each post's figures of all time).
// - digest_first_activity (guild_id, user_id): the time of a person's first live comment or rating in a server
//   (new voices: "first time this week" is a range of an index).
//
// A comment counts where it was created (created_at) while it is live (deleted_at is null); a rating where it was
// last set (updated_at). They are kept by triggers, so every write of comments and ratings (the live writer's
// batches, catch-up pages, recount corrections, deletions, privacy erasure) updates them in its own transaction and
// none can be forgotten. PostgreSQL: statement-level triggers over the transition tables, one aggregated statement
// per rollup for a whole batch. SQLite (row triggers only): one upsert per rollup per row, inside the writer's
// statement. Rows that come back to zero are kept (a later write reuses them); readers ignore them.
// Backfilled from the existing rows here.

const isSqlite = (db: Kysely<any>): boolean => db.getExecutor().adapter instanceof SqliteAdapter;

/** The quarter-hour bucket ('YYYY-MM-DDTHH:MM') of an ISO-8601 UTC time column (fixed shape, migration 005). */
const quarter = (col: string) =>
  `substr(${col}, 1, 14) || case when substr(${col}, 15, 2) < '15' then '00' when substr(${col}, 15, 2) < '30' then '15' when substr(${col}, 15, 2) < '45' then '30' else '45' end`;
const day = (col: string) => `substr(${col}, 1, 10)`;
const starCols = (stars: string, sign: string) => [1, 2, 3, 4, 5].map((k) => `${sign}(case when ${stars} = ${k} then 1 else 0 end)`).join(', ');

/** The rollups rebuilt from the rows (the backfill; the repository's rebuildDigestRollups runs the same statements). */
function rebuildStatements(): string[] {
  return [
    `delete from digest_buckets`,
    `delete from digest_post_days`,
    `delete from digest_first_activity`,
    `insert into digest_buckets (guild_id, bucket, replies, ratings, s1, s2, s3, s4, s5)
     select guild_id, bucket, sum(replies), sum(ratings), sum(s1), sum(s2), sum(s3), sum(s4), sum(s5) from (
       select guild_id, ${quarter('created_at')} as bucket, 1 as replies, 0 as ratings, 0 as s1, 0 as s2, 0 as s3, 0 as s4, 0 as s5
       from comments where deleted_at is null and guild_id is not null
       union all
       select guild_id, ${quarter('updated_at')}, 0, 1, ${starCols('stars', '')}
       from ratings where guild_id is not null
     ) x group by guild_id, bucket`,
    `insert into digest_post_days (post_id, day, guild_id, replies, ratings, star_sum)
     select post_id, day, min(guild_id), sum(replies), sum(ratings), sum(star_sum) from (
       select post_id, ${day('created_at')} as day, guild_id, 1 as replies, 0 as ratings, 0 as star_sum
       from comments where deleted_at is null and guild_id is not null
       union all
       select post_id, ${day('updated_at')}, guild_id, 0, 1, stars from ratings where guild_id is not null
     ) x group by post_id, day`,
    `insert into digest_first_activity (guild_id, user_id, first_at)
     select guild_id, person, min(t) from (
       select guild_id, author_id as person, created_at as t from comments where deleted_at is null and guild_id is not null
       union all
       select guild_id, user_id, updated_at from ratings where guild_id is not null
     ) x group by guild_id, person`,
  ];
}

// ---------------------------------------------------------------- SQLite: row triggers

function sqliteTriggers(): string[] {
  const liveC = (r: string) => `${r}.deleted_at is null and ${r}.guild_id is not null`;
  const hasR = (r: string) => `${r}.guild_id is not null`;
  const addComment = (r: string) => [
    `insert into digest_buckets (guild_id, bucket, replies, ratings, s1, s2, s3, s4, s5)
       select ${r}.guild_id, ${quarter(`${r}.created_at`)}, 1, 0, 0, 0, 0, 0, 0 where ${liveC(r)}
       on conflict (guild_id, bucket) do update set replies = replies + 1`,
    `insert into digest_post_days (post_id, day, guild_id, replies, ratings, star_sum)
       select ${r}.post_id, ${day(`${r}.created_at`)}, ${r}.guild_id, 1, 0, 0 where ${liveC(r)}
       on conflict (post_id, day) do update set replies = replies + 1`,
    `insert into digest_first_activity (guild_id, user_id, first_at)
       select ${r}.guild_id, ${r}.author_id, ${r}.created_at where ${liveC(r)}
       on conflict (guild_id, user_id) do update set first_at = min(first_at, excluded.first_at)`,
  ];
  const recompute = (r: string, person: string, t: string) => [
    `update digest_first_activity set first_at = (select min(t) from (
         select min(c.created_at) as t from comments c where c.guild_id = ${r}.guild_id and c.author_id = ${r}.${person} and c.deleted_at is null
         union all
         select min(x.updated_at) from ratings x where x.guild_id = ${r}.guild_id and x.user_id = ${r}.${person}))
       where guild_id = ${r}.guild_id and user_id = ${r}.${person} and first_at >= ${r}.${t}`,
    `delete from digest_first_activity where guild_id = ${r}.guild_id and user_id = ${r}.${person} and first_at is null`,
  ];
  const removeComment = (r: string) => [
    `update digest_buckets set replies = replies - 1 where ${liveC(r)} and guild_id = ${r}.guild_id and bucket = ${quarter(`${r}.created_at`)}`,
    `update digest_post_days set replies = replies - 1 where ${liveC(r)} and post_id = ${r}.post_id and day = ${day(`${r}.created_at`)}`,
    ...recompute(r, 'author_id', 'created_at').map((s) => `${s} and ${liveC(r)}`),
  ];
  const addRating = (r: string) => [
    `insert into digest_buckets (guild_id, bucket, replies, ratings, s1, s2, s3, s4, s5)
       select ${r}.guild_id, ${quarter(`${r}.updated_at`)}, 0, 1, ${starCols(`${r}.stars`, '')} where ${hasR(r)}
       on conflict (guild_id, bucket) do update set ratings = ratings + 1, s1 = s1 + excluded.s1, s2 = s2 + excluded.s2,
         s3 = s3 + excluded.s3, s4 = s4 + excluded.s4, s5 = s5 + excluded.s5`,
    `insert into digest_post_days (post_id, day, guild_id, replies, ratings, star_sum)
       select ${r}.post_id, ${day(`${r}.updated_at`)}, ${r}.guild_id, 0, 1, ${r}.stars where ${hasR(r)}
       on conflict (post_id, day) do update set ratings = ratings + 1, star_sum = star_sum + excluded.star_sum`,
    `insert into digest_first_activity (guild_id, user_id, first_at)
       select ${r}.guild_id, ${r}.user_id, ${r}.updated_at where ${hasR(r)}
       on conflict (guild_id, user_id) do update set first_at = min(first_at, excluded.first_at)`,
  ];
  const removeRating = (r: string) => [
    `update digest_buckets set ratings = ratings - 1, ${[1, 2, 3, 4, 5].map((k) => `s${k} = s${k} - (case when ${r}.stars = ${k} then 1 else 0 end)`).join(', ')}
       where ${hasR(r)} and guild_id = ${r}.guild_id and bucket = ${quarter(`${r}.updated_at`)}`,
    `update digest_post_days set ratings = ratings - 1, star_sum = star_sum - ${r}.stars where ${hasR(r)} and post_id = ${r}.post_id and day = ${day(`${r}.updated_at`)}`,
    ...recompute(r, 'user_id', 'updated_at').map((s) => `${s} and ${hasR(r)}`),
  ];
  const body = (statements: string[]) => statements.map((s) => `${s};`).join('\n');
  // A comment's content edit changes nothing counted: only a change of what is counted fires the update trigger.
  const commentChanged = `old.deleted_at is not new.deleted_at or old.created_at is not new.created_at or old.guild_id is not new.guild_id
    or old.post_id is not new.post_id or old.author_id is not new.author_id`;
  const ratingChanged = `old.stars is not new.stars or old.updated_at is not new.updated_at or old.guild_id is not new.guild_id or old.post_id is not new.post_id or old.user_id is not new.user_id`;
  return [
    `create trigger digest_comments_ai after insert on comments begin ${body(addComment('new'))} end`,
    `create trigger digest_comments_ad after delete on comments begin ${body(removeComment('old'))} end`,
    `create trigger digest_comments_au after update on comments when ${commentChanged} begin ${body([...removeComment('old'), ...addComment('new')])} end`,
    `create trigger digest_ratings_ai after insert on ratings begin ${body(addRating('new'))} end`,
    `create trigger digest_ratings_ad after delete on ratings begin ${body(removeRating('old'))} end`,
    `create trigger digest_ratings_au after update on ratings when ${ratingChanged} begin ${body([...removeRating('old'), ...addRating('new')])} end`,
  ];
}

// ---------------------------------------------------------------- PostgreSQL: statement triggers over transition tables

/**
 * The body of a statement trigger: `delta` is a query of (guild_id, post_id, person, t, d, stars) rows (d = +1 for
 * a row counted after the statement, -1 for one counted before it), `kind` says whether they are comments or ratings.
 */
function pgBody(kind: 'comments' | 'ratings', delta: string): string {
  const isC = kind === 'comments';
  const bucketSet = isC
    ? `replies = digest_buckets.replies + excluded.replies`
    : `ratings = digest_buckets.ratings + excluded.ratings, ${[1, 2, 3, 4, 5].map((k) => `s${k} = digest_buckets.s${k} + excluded.s${k}`).join(', ')}`;
  const daySet = isC
    ? `replies = digest_post_days.replies + excluded.replies`
    : `ratings = digest_post_days.ratings + excluded.ratings, star_sum = digest_post_days.star_sum + excluded.star_sum`;
  const sk = (k: number) => `sum(case when stars = ${k} then d else 0 end)`;
  const w = `with delta (guild_id, post_id, person, t, d, stars) as (${delta})`;
  return `
    ${w} insert into digest_buckets (guild_id, bucket, replies, ratings, s1, s2, s3, s4, s5)
      select guild_id, ${quarter('t')}, ${isC ? 'sum(d), 0, 0, 0, 0, 0, 0' : `0, sum(d), ${[1, 2, 3, 4, 5].map(sk).join(', ')}`}
      from delta group by 1, 2 having sum(d) <> 0 ${isC ? '' : `or ${[1, 2, 3, 4, 5].map((k) => `${sk(k)} <> 0`).join(' or ')}`}
      on conflict (guild_id, bucket) do update set ${bucketSet};
    ${w} insert into digest_post_days (post_id, day, guild_id, replies, ratings, star_sum)
      select post_id, ${day('t')}, min(guild_id), ${isC ? 'sum(d), 0, 0' : '0, sum(d), sum(d * stars)'}
      from delta group by 1, 2 having sum(d) <> 0 ${isC ? '' : 'or sum(d * stars) <> 0'}
      on conflict (post_id, day) do update set ${daySet};
    ${w}, o as (select guild_id, person, min(t) as t from delta where d < 0 group by 1, 2)
      update digest_first_activity f set first_at = (select min(m.t) from (
        select min(c.created_at) as t from comments c where c.guild_id = f.guild_id and c.author_id = f.user_id and c.deleted_at is null
        union all
        select min(r.updated_at) from ratings r where r.guild_id = f.guild_id and r.user_id = f.user_id) m)
      from o where f.guild_id = o.guild_id and f.user_id = o.person and f.first_at >= o.t;
    ${w} delete from digest_first_activity f using (select distinct guild_id, person from delta where d < 0) o
      where f.guild_id = o.guild_id and f.user_id = o.person and f.first_at is null;
    ${w} insert into digest_first_activity (guild_id, user_id, first_at)
      select guild_id, person, min(t) from delta where d > 0 group by 1, 2
      on conflict (guild_id, user_id) do update set first_at = least(digest_first_activity.first_at, excluded.first_at);`;
}

function pgTriggers(): string[] {
  const c = (t: string, d: string) =>
    `select guild_id, post_id, author_id, created_at, ${d}, null::int from ${t} where deleted_at is null and guild_id is not null`;
  const r = (t: string, d: string) => `select guild_id, post_id, user_id, updated_at, ${d}, stars from ${t} where guild_id is not null`;
  const fn = (name: string, kind: 'comments' | 'ratings', delta: string) =>
    `create or replace function ${name}() returns trigger language plpgsql as $fn$ begin ${pgBody(kind, delta)}
     return null; end $fn$`;
  const trig = (name: string, table: string, op: string, refs: string) =>
    `create trigger ${name} after ${op} on ${table} referencing ${refs} for each statement execute function ${name}()`;
  return [
    fn('digest_comments_ai', 'comments', c('n', '1')),
    fn('digest_comments_ad', 'comments', c('o', '-1')),
    fn('digest_comments_au', 'comments', `${c('o', '-1')} union all ${c('n', '1')}`),
    fn('digest_ratings_ai', 'ratings', r('n', '1')),
    fn('digest_ratings_ad', 'ratings', r('o', '-1')),
    fn('digest_ratings_au', 'ratings', `${r('o', '-1')} union all ${r('n', '1')}`),
    trig('digest_comments_ai', 'comments', 'insert', 'new table as n'),
    trig('digest_comments_ad', 'comments', 'delete', 'old table as o'),
    trig('digest_comments_au', 'comments', 'update', 'old table as o new table as n'),
    trig('digest_ratings_ai', 'ratings', 'insert', 'new table as n'),
    trig('digest_ratings_ad', 'ratings', 'delete', 'old table as o'),
    trig('digest_ratings_au', 'ratings', 'update', 'old table as o new table as n'),
  ];
}

export async function up(db: Kysely<any>): Promise<void> {
  const sqlite = isSqlite(db);
  const collate = sqlite ? '' : ' collate "C"';
  // The rollups are read by their keys: SQLite keeps their rows in the key's b-tree (WITHOUT ROWID), and PostgreSQL's
  // key of a post's days carries the figures, so a post's range is read from the index alone.
  const clustered = sqlite ? ' without rowid' : '';
  const pgInclude = sqlite ? '' : ' include (replies, ratings, star_sum)';
  await sql
    .raw(
      `create table digest_buckets (guild_id text not null, bucket text${collate} not null, replies integer not null, ratings integer not null,
         s1 integer not null, s2 integer not null, s3 integer not null, s4 integer not null, s5 integer not null, primary key (guild_id, bucket))${clustered}`,
    )
    .execute(db);
  await sql
    .raw(
      `create table digest_post_days (post_id text not null, day text${collate} not null, guild_id text not null, replies integer not null,
         ratings integer not null, star_sum integer not null, primary key (post_id, day)${pgInclude})${clustered}`,
    )
    .execute(db);
  // A server's days with the posts active on them and their figures: the window's per-post figures, from the index alone.
  await sql.raw(`create index digest_post_days_guild_idx on digest_post_days (guild_id, day, post_id, replies, ratings, star_sum)`).execute(db);
  await sql
    .raw(
      `create table digest_first_activity (guild_id text not null, user_id text not null, first_at text${collate}, primary key (guild_id, user_id))${clustered}`,
    )
    .execute(db);
  await sql.raw(`create index digest_first_activity_time_idx on digest_first_activity (guild_id, first_at, user_id)`).execute(db);
  for (const s of rebuildStatements()) await sql.raw(s).execute(db);
  for (const s of sqlite ? sqliteTriggers() : pgTriggers()) await sql.raw(s).execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const name of ['digest_comments_ai', 'digest_comments_ad', 'digest_comments_au', 'digest_ratings_ai', 'digest_ratings_ad', 'digest_ratings_au']) {
    const table = name.startsWith('digest_comments') ? 'comments' : 'ratings';
    if (isSqlite(db)) await sql.raw(`drop trigger if exists ${name}`).execute(db);
    else {
      await sql.raw(`drop trigger if exists ${name} on ${table}`).execute(db);
      await sql.raw(`drop function if exists ${name}()`).execute(db);
    }
  }
  await db.schema.dropTable('digest_first_activity').ifExists().execute();
  await db.schema.dropTable('digest_post_days').ifExists().execute();
  await db.schema.dropTable('digest_buckets').ifExists().execute();
}
