import { sql, SqliteAdapter, type Kysely } from 'kysely';

// Frozen in time. The reads of the weekly digest that were left slow on PostgreSQL after migration 012 (issue 20,
// "Speed"; a week of 10,000 posts, a million replies and a million ratings):
//
// - digest_person_days (guild_id, day, user_id, n): how many live comments and ratings a person has in a server
//   on a UTC day. "People taking part" in a window (this week's, and last week's for the trend) are the distinct
//   people of the window's whole days (one range of this table: ~7 rows a person who was active every day), and
//   those seen only on the days at its two ends are checked against the rows. Before it, the digest walked through
//   every person the server ever saw, two index seeks each, for each of the two weeks.
// - digest_post_totals (guild_id, post_id): a post's live comments, ratings and sum of stars of all time. "Top
//   rated" ranks the posts rated in the week by all their ratings: one range of the server's rows instead of one
//   seek into digest_post_days per post.
// - comments_live_top_idx (PostgreSQL only): live top-level replies (not deleted, not a reply to another message) by
//   post and time, so the newest top-level reply of each recent post ("waiting for an answer") is one seek into the
//   index, with no visit to the table. Not on SQLite: there the same index made each stored reply cost ~1.5× the CPU
//   (measured on the live writer's batches), and SQLite's digest was within its target without it.
//
// The two rollups are kept like migration 012's, by triggers beside them, in the writers' own transactions: a
// comment counts (on the day it was created) while it is live; a rating on the day it was last set. PostgreSQL:
// statement triggers over the transition tables (one aggregated upsert per rollup and statement, in key order so
// two batches lock the same rows in the same order); SQLite: one row trigger per write for both rollups, whose WHEN
// clause skips the rows that change nothing counted (a content edit). Rows that come back to zero are kept (readers
// ignore them). Backfilled from the existing rows here.

const isSqlite = (db: Kysely<any>): boolean => db.getExecutor().adapter instanceof SqliteAdapter;

const NAMES = [
  'digest_015_comments_ai',
  'digest_015_comments_ad',
  'digest_015_comments_au',
  'digest_015_ratings_ai',
  'digest_015_ratings_ad',
  'digest_015_ratings_au',
];

const BACKFILL = [
  `insert into digest_person_days (guild_id, day, user_id, n)
   select guild_id, day, person, count(*) from (
     select guild_id, substr(created_at, 1, 10) as day, author_id as person from comments where deleted_at is null and guild_id is not null
     union all
     select guild_id, substr(updated_at, 1, 10), user_id from ratings where guild_id is not null
   ) x group by guild_id, day, person`,
  `insert into digest_post_totals (guild_id, post_id, replies, ratings, star_sum)
   select guild_id, post_id, sum(replies), sum(ratings), sum(star_sum) from (
     select guild_id, post_id, 1 as replies, 0 as ratings, 0 as star_sum from comments where deleted_at is null and guild_id is not null
     union all
     select guild_id, post_id, 0, 1, stars from ratings where guild_id is not null
   ) x group by guild_id, post_id`,
];

function sqliteTriggers(): string[] {
  const liveC = (r: string) => `${r}.deleted_at is null and ${r}.guild_id is not null`;
  const addComment = (r: string, when: string) => [
    `insert into digest_person_days (guild_id, day, user_id, n) select ${r}.guild_id, substr(${r}.created_at, 1, 10), ${r}.author_id, 1 where ${when}
       on conflict (guild_id, day, user_id) do update set n = n + 1`,
    `insert into digest_post_totals (guild_id, post_id, replies, ratings, star_sum) select ${r}.guild_id, ${r}.post_id, 1, 0, 0 where ${when}
       on conflict (guild_id, post_id) do update set replies = replies + 1`,
  ];
  const removeComment = (r: string, when: string) => [
    `update digest_person_days set n = n - 1 where ${when} and guild_id = ${r}.guild_id and day = substr(${r}.created_at, 1, 10) and user_id = ${r}.author_id`,
    `update digest_post_totals set replies = replies - 1 where ${when} and guild_id = ${r}.guild_id and post_id = ${r}.post_id`,
  ];
  const addRating = (r: string, when: string) => [
    `insert into digest_person_days (guild_id, day, user_id, n) select ${r}.guild_id, substr(${r}.updated_at, 1, 10), ${r}.user_id, 1 where ${when}
       on conflict (guild_id, day, user_id) do update set n = n + 1`,
    `insert into digest_post_totals (guild_id, post_id, replies, ratings, star_sum) select ${r}.guild_id, ${r}.post_id, 0, 1, ${r}.stars where ${when}
       on conflict (guild_id, post_id) do update set ratings = ratings + 1, star_sum = star_sum + excluded.star_sum`,
  ];
  const removeRating = (r: string, when: string) => [
    `update digest_person_days set n = n - 1 where ${when} and guild_id = ${r}.guild_id and day = substr(${r}.updated_at, 1, 10) and user_id = ${r}.user_id`,
    `update digest_post_totals set ratings = ratings - 1, star_sum = star_sum - ${r}.stars where ${when} and guild_id = ${r}.guild_id and post_id = ${r}.post_id`,
  ];
  const body = (statements: string[]) => statements.map((x) => `${x};`).join('\n');
  // Only a change of what is counted fires the update triggers (a comment's content edit does not).
  const commentChanged = `old.deleted_at is not new.deleted_at or substr(old.created_at, 1, 10) is not substr(new.created_at, 1, 10)
    or old.guild_id is not new.guild_id or old.post_id is not new.post_id or old.author_id is not new.author_id`;
  const ratingChanged = `old.stars is not new.stars or substr(old.updated_at, 1, 10) is not substr(new.updated_at, 1, 10)
    or old.guild_id is not new.guild_id or old.post_id is not new.post_id or old.user_id is not new.user_id`;
  return [
    `create trigger digest_015_comments_ai after insert on comments when ${liveC('new')} begin ${body(addComment('new', 'true'))} end`,
    `create trigger digest_015_comments_ad after delete on comments when ${liveC('old')} begin ${body(removeComment('old', 'true'))} end`,
    `create trigger digest_015_comments_au after update on comments when ${commentChanged} begin
       ${body([...removeComment('old', liveC('old')), ...addComment('new', liveC('new'))])} end`,
    `create trigger digest_015_ratings_ai after insert on ratings when new.guild_id is not null begin ${body(addRating('new', 'true'))} end`,
    `create trigger digest_015_ratings_ad after delete on ratings when old.guild_id is not null begin ${body(removeRating('old', 'true'))} end`,
    `create trigger digest_015_ratings_au after update on ratings when ${ratingChanged} begin
       ${body([...removeRating('old', 'old.guild_id is not null'), ...addRating('new', 'new.guild_id is not null')])} end`,
  ];
}

function pgTriggers(): string[] {
  // `delta` rows: (guild_id, post_id, day, person, d, stars), d = +1 for a row counted after the statement, -1 for
  // one counted before it.
  const c = (t: string, d: string) =>
    `select guild_id, post_id, substr(created_at, 1, 10), author_id, ${d}, 0 from ${t} where deleted_at is null and guild_id is not null`;
  const r = (t: string, d: string) => `select guild_id, post_id, substr(updated_at, 1, 10), user_id, ${d}, stars from ${t} where guild_id is not null`;
  const fn = (name: string, kind: 'comments' | 'ratings', delta: string) => {
    const w = `with delta (guild_id, post_id, day, person, d, stars) as (${delta})`;
    const totals =
      kind === 'comments'
        ? { cols: 'sum(d), 0, 0', having: 'sum(d) <> 0', set: 'replies = digest_post_totals.replies + excluded.replies' }
        : {
            cols: '0, sum(d), sum(d * stars)',
            having: 'sum(d) <> 0 or sum(d * stars) <> 0',
            set: 'ratings = digest_post_totals.ratings + excluded.ratings, star_sum = digest_post_totals.star_sum + excluded.star_sum',
          };
    return `create or replace function ${name}() returns trigger language plpgsql as $fn$ begin
       ${w} insert into digest_person_days (guild_id, day, user_id, n)
         select guild_id, day, person, sum(d) from delta group by 1, 2, 3 having sum(d) <> 0 order by 1, 2, 3
         on conflict (guild_id, day, user_id) do update set n = digest_person_days.n + excluded.n;
       ${w} insert into digest_post_totals (guild_id, post_id, replies, ratings, star_sum)
         select guild_id, post_id, ${totals.cols} from delta group by 1, 2 having ${totals.having} order by 1, 2
         on conflict (guild_id, post_id) do update set ${totals.set};
       return null; end $fn$`;
  };
  const trig = (name: string, table: string, op: string, refs: string) =>
    `create trigger ${name} after ${op} on ${table} referencing ${refs} for each statement execute function ${name}()`;
  return [
    fn('digest_015_comments_ai', 'comments', c('n', '1')),
    fn('digest_015_comments_ad', 'comments', c('o', '-1')),
    fn('digest_015_comments_au', 'comments', `${c('o', '-1')} union all ${c('n', '1')}`),
    fn('digest_015_ratings_ai', 'ratings', r('n', '1')),
    fn('digest_015_ratings_ad', 'ratings', r('o', '-1')),
    fn('digest_015_ratings_au', 'ratings', `${r('o', '-1')} union all ${r('n', '1')}`),
    trig('digest_015_comments_ai', 'comments', 'insert', 'new table as n'),
    trig('digest_015_comments_ad', 'comments', 'delete', 'old table as o'),
    trig('digest_015_comments_au', 'comments', 'update', 'old table as o new table as n'),
    trig('digest_015_ratings_ai', 'ratings', 'insert', 'new table as n'),
    trig('digest_015_ratings_ad', 'ratings', 'delete', 'old table as o'),
    trig('digest_015_ratings_au', 'ratings', 'update', 'old table as o new table as n'),
  ];
}

export async function up(db: Kysely<any>): Promise<void> {
  const sqlite = isSqlite(db);
  // SQLite keeps the rows in the key's b-tree (WITHOUT ROWID); PostgreSQL's key carries n, so a server's days are
  // read from the index alone.
  await sql
    .raw(
      `create table digest_person_days (guild_id text not null, day text${sqlite ? '' : ' collate "C"'} not null, user_id text not null, n integer not null,
         primary key (guild_id, day, user_id)${sqlite ? '' : ' include (n)'})${sqlite ? ' without rowid' : ''}`,
    )
    .execute(db);
  await sql
    .raw(
      `create table digest_post_totals (guild_id text not null, post_id text not null, replies integer not null, ratings integer not null,
         star_sum integer not null, primary key (guild_id, post_id)${sqlite ? '' : ' include (replies, ratings, star_sum)'})${sqlite ? ' without rowid' : ''}`,
    )
    .execute(db);
  if (!sqlite)
    await sql
      .raw(`create index comments_live_top_idx on comments (post_id, created_at, author_id) where deleted_at is null and reply_to_id is null`)
      .execute(db);
  for (const statement of BACKFILL) await sql.raw(statement).execute(db);
  for (const s of sqlite ? sqliteTriggers() : pgTriggers()) await sql.raw(s).execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const name of NAMES) {
    if (isSqlite(db)) await sql.raw(`drop trigger if exists ${name}`).execute(db);
    else {
      await sql.raw(`drop trigger if exists ${name} on ${name.startsWith('digest_015_comments') ? 'comments' : 'ratings'}`).execute(db);
      await sql.raw(`drop function if exists ${name}()`).execute(db);
    }
  }
  await sql.raw(`drop index if exists comments_live_top_idx`).execute(db);
  await db.schema.dropTable('digest_post_totals').ifExists().execute();
  await db.schema.dropTable('digest_person_days').ifExists().execute();
}
