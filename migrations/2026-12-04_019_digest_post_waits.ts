import { sql, SqliteAdapter, type Kysely } from 'kysely';

// Frozen in time. PostgreSQL only: "waiting for an answer" of the weekly digest (issue 20, "Speed") read, for each
// post of the last 30 days, the newest live top-level reply and then whether anyone else wrote after it: one index
// seek and one probe per post (10,000 posts: the slowest read of a busy week's digest on PostgreSQL).
//
// - digest_post_waits (post_id): of a post's live comments (deleted_at is null, all time): the time of the newest
//   (newest_at; null: none), the newest top-level one (not a reply to another message; latest created_at, then
//   greatest author_id) as last_at and last_author, and whether a live comment by someone else was written after it
//   (answered). The digest reads the rows of the recent posts at once; only a post with a live comment at or after
//   the digest's end (a past week's digest) is read from the rows instead.
//
// Kept by statement triggers over the transition tables, in the writers' own transactions: for the posts a
// statement touched (comments inserted, deleted, or changed in what is counted: post, author, time, reply parent,
// deleted_at), first the servers' advisory lock of migration 018, then their rows are locked in key order (an upsert
// sorted by post_id), then recomputed from the comments (three index seeks a post: comments_live_post_created_idx,
// comments_live_top_idx, then the few comments after the newest top-level one). The recompute is a separate
// statement, so it reads with a snapshot taken after the lock: a concurrent writer of the same post has committed
// (or not started) by then, and replies arriving out of order, edits, deletions and erasure all give the same row as
// a recount. Rows whose post has no live comment left keep nulls (readers treat them as no row). Not on SQLite:
// its digest is within its target reading the rows, and a row trigger there would cost every stored reply three
// seeks. Backfilled here.

const isSqlite = (db: Kysely<any>): boolean => db.getExecutor().adapter instanceof SqliteAdapter;

const NAMES = ['digest_019_comments_ai', 'digest_019_comments_ad', 'digest_019_comments_au'];

/** The recount of the posts in `posts` (a relation with a post_id column), as a select of the rollup's columns. */
const recount = (posts: string) => `
  select a.post_id,
    (select max(c.created_at) from comments c where c.post_id = a.post_id and c.deleted_at is null) as newest_at,
    t.created_at as last_at, t.author_id as last_author,
    coalesce(exists (select 1 from comments c where c.post_id = a.post_id and c.deleted_at is null
      and c.created_at > t.created_at and c.author_id <> t.author_id), false) as answered
  from ${posts} a
  left join lateral (select c.created_at, c.author_id from comments c
    where c.post_id = a.post_id and c.deleted_at is null and c.reply_to_id is null
    order by c.created_at desc, c.author_id desc limit 1) t on true`;

function pgTriggers(): string[] {
  // The touched posts of a statement. An update counts only where something counted changed (not a content edit).
  const changed = `o.post_id is distinct from n.post_id or o.author_id is distinct from n.author_id or o.created_at is distinct from n.created_at
    or o.reply_to_id is distinct from n.reply_to_id or o.deleted_at is distinct from n.deleted_at`;
  const touched = {
    ai: `select post_id from n where deleted_at is null`,
    ad: `select post_id from o where deleted_at is null`,
    au: `select o.post_id from o join n on n.id = o.id where (${changed}) and (o.deleted_at is null or n.deleted_at is null)
         union select n.post_id from o join n on n.id = o.id where (${changed}) and (o.deleted_at is null or n.deleted_at is null)`,
  };
  const fn = (name: string, posts: string, rows: string) => `create or replace function ${name}() returns trigger language plpgsql as $fn$ begin
      -- the servers' lock of migration 018 (taken by the first digest trigger of the statement already, but so this
      -- one never depends on the order the triggers fire in)
      perform pg_advisory_xact_lock(20, hashtext(g)) from (select distinct guild_id as g from ${rows} where guild_id is not null order by 1) x;
      -- lock the touched posts' rows in key order (creating the missing ones)
      insert into digest_post_waits (post_id, newest_at, last_at, last_author, answered)
        select distinct post_id, null::text, null::text, null::text, false from (${posts}) p where post_id is not null order by post_id
        on conflict (post_id) do update set post_id = excluded.post_id;
      -- then recompute them with a snapshot taken after the lock
      update digest_post_waits w set newest_at = r.newest_at, last_at = r.last_at, last_author = r.last_author, answered = r.answered
        from (${recount(`(select distinct post_id from (${posts}) p where post_id is not null)`)}) r
        where w.post_id = r.post_id;
      return null; end $fn$`;
  const trig = (name: string, op: string, refs: string) =>
    `create trigger ${name} after ${op} on comments referencing ${refs} for each statement execute function ${name}()`;
  return [
    fn('digest_019_comments_ai', touched.ai, 'n'),
    fn('digest_019_comments_ad', touched.ad, 'o'),
    fn('digest_019_comments_au', touched.au, '(select guild_id from o union select guild_id from n) l'),
    trig('digest_019_comments_ai', 'insert', 'new table as n'),
    trig('digest_019_comments_ad', 'delete', 'old table as o'),
    trig('digest_019_comments_au', 'update', 'old table as o new table as n'),
  ];
}

export async function up(db: Kysely<any>): Promise<void> {
  if (isSqlite(db)) return;
  await sql
    .raw(
      `create table digest_post_waits (post_id text primary key, newest_at text collate "C", last_at text collate "C", last_author text,
         answered boolean not null)`,
    )
    .execute(db);
  await sql
    .raw(
      `insert into digest_post_waits (post_id, newest_at, last_at, last_author, answered)
       select * from (${recount('(select distinct post_id from comments where deleted_at is null)')}) r`,
    )
    .execute(db);
  for (const s of pgTriggers()) await sql.raw(s).execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  if (isSqlite(db)) return;
  for (const name of NAMES) {
    await sql.raw(`drop trigger if exists ${name} on comments`).execute(db);
    await sql.raw(`drop function if exists ${name}()`).execute(db);
  }
  await sql.raw(`drop table if exists digest_post_waits`).execute(db);
}
