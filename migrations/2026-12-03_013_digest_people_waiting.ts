import { sql, SqliteAdapter, type Kysely } from 'kysely';

// Frozen in time. The two reads of the weekly digest that were left slow on PostgreSQL after migration 012
// (issue 20, "Speed"; a week of 10,000 posts, a million replies and a million ratings):
//
// - digest_person_days (guild_id, day, user_id, n): how many live comments and ratings a person has in a server
//   on a UTC day. "People taking part" in a window (this week's, and last week's for the trend) are the distinct
//   people of the window's whole days (one range of this table: ~7 rows a person who was active every day), and
//   those seen only on the days at its two ends are checked against the rows. Before it, the digest walked through
//   every person the server ever saw, two index seeks each, for each of the two weeks.
// - comments_live_top_idx: live top-level replies (not deleted, not a reply to another message) by post and time,
//   so the newest top-level reply of each recent post ("waiting for an answer") is one seek into the index, with no
//   visit to the table. deleted_at and reply_to_id are repeated as columns (always null here) so that SQLite too
//   answers from the index alone (it reads the columns a query names).
//
// digest_person_days is kept like migration 012's rollups, by triggers beside them, in the writers' own
// transactions: a comment counts on the day it was created while it is live; a rating on the day it was last set.
// PostgreSQL: statement triggers over the transition tables (one aggregated upsert per statement, in key order so
// two batches lock the same rows in the same order); SQLite: row triggers whose WHEN clause skips the rows that
// change nothing counted (a content edit, a rating changed within its day). Rows that come back to zero are kept
// (readers ignore them). Backfilled from the existing rows here.

const isSqlite = (db: Kysely<any>): boolean => db.getExecutor().adapter instanceof SqliteAdapter;

const NAMES = [
  'digest_people_comments_ai',
  'digest_people_comments_ad',
  'digest_people_comments_au',
  'digest_people_ratings_ai',
  'digest_people_ratings_ad',
  'digest_people_ratings_au',
];

const BACKFILL = `insert into digest_person_days (guild_id, day, user_id, n)
  select guild_id, day, person, count(*) from (
    select guild_id, substr(created_at, 1, 10) as day, author_id as person from comments where deleted_at is null and guild_id is not null
    union all
    select guild_id, substr(updated_at, 1, 10), user_id from ratings where guild_id is not null
  ) x group by guild_id, day, person`;

function sqliteTriggers(): string[] {
  const liveC = (r: string) => `${r}.deleted_at is null and ${r}.guild_id is not null`;
  const upsert = (guild: string, day: string, person: string) =>
    `insert into digest_person_days (guild_id, day, user_id, n) values (${guild}, substr(${day}, 1, 10), ${person}, 1)
       on conflict (guild_id, day, user_id) do update set n = n + 1;`;
  const decrement = (guild: string, day: string, person: string, when: string) =>
    `update digest_person_days set n = n - 1 where ${when} and guild_id = ${guild} and day = substr(${day}, 1, 10) and user_id = ${person};`;
  const commentMoved = `old.deleted_at is not new.deleted_at or substr(old.created_at, 1, 10) is not substr(new.created_at, 1, 10)
    or old.guild_id is not new.guild_id or old.author_id is not new.author_id`;
  const ratingMoved = `substr(old.updated_at, 1, 10) is not substr(new.updated_at, 1, 10) or old.guild_id is not new.guild_id or old.user_id is not new.user_id`;
  return [
    `create trigger digest_people_comments_ai after insert on comments when ${liveC('new')} begin ${upsert('new.guild_id', 'new.created_at', 'new.author_id')} end`,
    `create trigger digest_people_comments_ad after delete on comments when ${liveC('old')} begin ${decrement('old.guild_id', 'old.created_at', 'old.author_id', 'true')} end`,
    `create trigger digest_people_comments_au after update on comments when ${commentMoved} begin
       ${decrement('old.guild_id', 'old.created_at', 'old.author_id', liveC('old'))}
       insert into digest_person_days (guild_id, day, user_id, n) select new.guild_id, substr(new.created_at, 1, 10), new.author_id, 1 where ${liveC('new')}
         on conflict (guild_id, day, user_id) do update set n = n + 1;
     end`,
    `create trigger digest_people_ratings_ai after insert on ratings when new.guild_id is not null begin ${upsert('new.guild_id', 'new.updated_at', 'new.user_id')} end`,
    `create trigger digest_people_ratings_ad after delete on ratings when old.guild_id is not null begin ${decrement('old.guild_id', 'old.updated_at', 'old.user_id', 'true')} end`,
    `create trigger digest_people_ratings_au after update on ratings when ${ratingMoved} begin
       ${decrement('old.guild_id', 'old.updated_at', 'old.user_id', 'old.guild_id is not null')}
       insert into digest_person_days (guild_id, day, user_id, n) select new.guild_id, substr(new.updated_at, 1, 10), new.user_id, 1 where new.guild_id is not null
         on conflict (guild_id, day, user_id) do update set n = n + 1;
     end`,
  ];
}

function pgTriggers(): string[] {
  // `delta` rows: (guild_id, day, person, d), d = +1 for a row counted after the statement, -1 for one before it.
  const c = (t: string, d: string) => `select guild_id, substr(created_at, 1, 10), author_id, ${d} from ${t} where deleted_at is null and guild_id is not null`;
  const r = (t: string, d: string) => `select guild_id, substr(updated_at, 1, 10), user_id, ${d} from ${t} where guild_id is not null`;
  const fn = (name: string, delta: string) =>
    `create or replace function ${name}() returns trigger language plpgsql as $fn$ begin
       with delta (guild_id, day, person, d) as (${delta})
       insert into digest_person_days (guild_id, day, user_id, n)
         select guild_id, day, person, sum(d) from delta group by 1, 2, 3 having sum(d) <> 0 order by 1, 2, 3
         on conflict (guild_id, day, user_id) do update set n = digest_person_days.n + excluded.n;
       return null; end $fn$`;
  const trig = (name: string, table: string, op: string, refs: string) =>
    `create trigger ${name} after ${op} on ${table} referencing ${refs} for each statement execute function ${name}()`;
  return [
    fn('digest_people_comments_ai', c('n', '1')),
    fn('digest_people_comments_ad', c('o', '-1')),
    fn('digest_people_comments_au', `${c('o', '-1')} union all ${c('n', '1')}`),
    fn('digest_people_ratings_ai', r('n', '1')),
    fn('digest_people_ratings_ad', r('o', '-1')),
    fn('digest_people_ratings_au', `${r('o', '-1')} union all ${r('n', '1')}`),
    trig('digest_people_comments_ai', 'comments', 'insert', 'new table as n'),
    trig('digest_people_comments_ad', 'comments', 'delete', 'old table as o'),
    trig('digest_people_comments_au', 'comments', 'update', 'old table as o new table as n'),
    trig('digest_people_ratings_ai', 'ratings', 'insert', 'new table as n'),
    trig('digest_people_ratings_ad', 'ratings', 'delete', 'old table as o'),
    trig('digest_people_ratings_au', 'ratings', 'update', 'old table as o new table as n'),
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
      `create index comments_live_top_idx on comments (post_id, created_at, author_id, deleted_at, reply_to_id) where deleted_at is null and reply_to_id is null`,
    )
    .execute(db);
  await sql.raw(BACKFILL).execute(db);
  for (const s of sqlite ? sqliteTriggers() : pgTriggers()) await sql.raw(s).execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const name of NAMES) {
    if (isSqlite(db)) await sql.raw(`drop trigger if exists ${name}`).execute(db);
    else {
      await sql.raw(`drop trigger if exists ${name} on ${name.startsWith('digest_people_comments') ? 'comments' : 'ratings'}`).execute(db);
      await sql.raw(`drop function if exists ${name}()`).execute(db);
    }
  }
  await sql.raw(`drop index if exists comments_live_top_idx`).execute(db);
  await db.schema.dropTable('digest_person_days').ifExists().execute();
}
