import { sql, SqliteAdapter, type Kysely } from 'kysely';

// Frozen in time. Mostly PostgreSQL (issue 21, "ingest keeps up"): the digest's rollups (migrations 012, 015, 019, with
// 018's lock) were kept by fifteen statement triggers on comments and ratings, three per write and table: each took
// the servers' advisory lock again, each read the transition tables again, and an upsert (how every reply and vote
// is written) also fired the three UPDATE triggers, whose eleven statements ran on empty tables. Under a steady
// 5,000 events/s their statements were a third of the server's time per stored reply. Here one trigger per write and
// table keeps all the rollups, computing exactly what the fifteen did:
//
// - it returns at once when its transition table is empty (the UPDATE triggers of an upsert that only inserted);
// - the servers' lock of migration 018 once, first, in server order (pg_advisory_xact_lock(20, hashtext(guild_id)));
// - one statement then upserts every rollup (digest_buckets, digest_post_days, digest_person_days, digest_post_totals,
//   digest_first_activity and, for comments, digest_post_waits) from the statement's delta, each in key order: the
//   rollups are different tables, so the parts of one statement never touch the same row, and it reads with a
//   snapshot taken after the lock (a concurrent writer of the same server has committed by then);
// - an update counts only what changed in what is counted: the delta is the old rows minus the new ones (-1) and the
//   new minus the old (+1) as multisets (EXCEPT ALL), so a content edit, or a vote written again unchanged, is no
//   delta at all instead of a -1 and a +1 per row; whose first activity may have moved later (a -1) is recomputed
//   from the rows as before, before the statement that upserts the rest;
// - a person's first activity is written only when it moves earlier (`where`), not rewritten unchanged (each
//   rewrite was a new row version and two index entries);
// - digest_post_waits: its rows are recomputed from the comments in the same statement (019 locked them first and
//   recomputed them in a second statement; the servers' lock, taken before, already orders the writers of a post:
//   a post and its comments belong to one server, and every comment row carries it).
//
// The old triggers are dropped; their functions (018's and 019's versions) stay, so `down` puts the triggers back.
// What the rollups hold is unchanged: test/db/digest-rollups.test.ts checks them against a recount after any
// sequence of writes, and digest-rollups-concurrency.test.ts two writers in opposite orders. SQLite: below.

const isSqlite = (db: Kysely<any>): boolean => db.getExecutor().adapter instanceof SqliteAdapter;

const quarter = (col: string) =>
  `substr(${col}, 1, 14) || case when substr(${col}, 15, 2) < '15' then '00' when substr(${col}, 15, 2) < '30' then '15' when substr(${col}, 15, 2) < '45' then '30' else '45' end`;

type Kind = 'comments' | 'ratings';
type Op = 'ai' | 'ad' | 'au';

/** The counted columns of a table's rows in `t`: (guild_id, post_id, person, t, stars); live rows only. */
const counted = (kind: Kind, t: string) =>
  kind === 'comments'
    ? `select guild_id, post_id, author_id, created_at, null::int from ${t} where deleted_at is null and guild_id is not null`
    : `select guild_id, post_id, user_id, updated_at, stars from ${t} where guild_id is not null`;

/** The statement's delta as (guild_id, post_id, person, t, stars, d) rows: d = +1 counted after it, -1 before. */
function delta(kind: Kind, op: Op): string {
  if (op === 'ai') return `select *, 1 from (${counted(kind, 'n')}) x`;
  if (op === 'ad') return `select *, -1 from (${counted(kind, 'o')}) x`;
  return `select *, -1 from (${counted(kind, 'o')} except all ${counted(kind, 'n')}) x
    union all select *, 1 from (${counted(kind, 'n')} except all ${counted(kind, 'o')}) y`;
}

/** The posts whose digest_post_waits row a comments statement may change (019's rule: only what it counts changed). */
function touchedPosts(op: Op): string {
  if (op === 'ai') return `select post_id from n where deleted_at is null`;
  if (op === 'ad') return `select post_id from o where deleted_at is null`;
  const changed = `o.post_id is distinct from n.post_id or o.author_id is distinct from n.author_id or o.created_at is distinct from n.created_at
    or o.reply_to_id is distinct from n.reply_to_id or o.deleted_at is distinct from n.deleted_at`;
  return `select o.post_id from o join n on n.id = o.id where (${changed}) and (o.deleted_at is null or n.deleted_at is null)
    union select n.post_id from o join n on n.id = o.id where (${changed}) and (o.deleted_at is null or n.deleted_at is null)`;
}

/** Migration 019's recount of the posts of `a` (a from-item with a post_id column, aliased a), as the rollup's columns. */
const waitsRecount = (a: string) => `
  select a.post_id,
    (select max(c.created_at) from comments c where c.post_id = a.post_id and c.deleted_at is null) as newest_at,
    t.created_at as last_at, t.author_id as last_author,
    coalesce(exists (select 1 from comments c where c.post_id = a.post_id and c.deleted_at is null
      and c.created_at > t.created_at and c.author_id <> t.author_id), false) as answered
  from ${a}
  left join lateral (select c.created_at, c.author_id from comments c
    where c.post_id = a.post_id and c.deleted_at is null and c.reply_to_id is null
    order by c.created_at desc, c.author_id desc limit 1) t on true`;

/**
 * digest_post_waits recomputed for the posts of `posts` (sorted: their rows are locked in key order). `enable_sort`
 * off pins the plan of the newest top-level reply to comments_live_top_idx (read backwards, one row): with statistics
 * that lag a fast-growing table, PostgreSQL took comments_post_reply_idx (migration 020) instead and sorted every
 * top-level reply of each post (351 rows a post, 110 of a 100-reply batch's 133 ms, seen with auto_explain). PL/pgSQL,
 * not SQL: its statement's plan is kept for the session instead of made again at every call.
 */
const POST_WAITS_FN = `create or replace function digest_021_post_waits(posts text[]) returns void language plpgsql set enable_sort = off as $fn$ begin
  insert into digest_post_waits (post_id, newest_at, last_at, last_author, answered)
    select * from (${waitsRecount('unnest(posts) a (post_id)')}) r
    on conflict (post_id) do update set newest_at = excluded.newest_at, last_at = excluded.last_at, last_author = excluded.last_author,
      answered = excluded.answered;
end $fn$`;

function body(kind: Kind, op: Op): string {
  const isC = kind === 'comments';
  const sk = (k: number) => `sum(case when stars = ${k} then d else 0 end)`;
  const stars = [1, 2, 3, 4, 5];
  // The relations the servers' lock is taken for: every row of the statement, old and new.
  const rows = op === 'ai' ? 'n' : op === 'ad' ? 'o' : '(select guild_id from o union all select guild_id from n) r';
  const empty = op === 'ai' ? 'n' : 'o';
  const parts = [
    `b as (insert into digest_buckets (guild_id, bucket, replies, ratings, s1, s2, s3, s4, s5)
      select guild_id, ${quarter('t')}, ${isC ? 'sum(d), 0, 0, 0, 0, 0, 0' : `0, sum(d), ${stars.map(sk).join(', ')}`}
      from delta group by 1, 2 having sum(d) <> 0 ${isC ? '' : `or ${stars.map((k) => `${sk(k)} <> 0`).join(' or ')}`} order by 1, 2
      on conflict (guild_id, bucket) do update set ${
        isC
          ? 'replies = digest_buckets.replies + excluded.replies'
          : `ratings = digest_buckets.ratings + excluded.ratings, ${stars.map((k) => `s${k} = digest_buckets.s${k} + excluded.s${k}`).join(', ')}`
      })`,
    `pd as (insert into digest_post_days (post_id, day, guild_id, replies, ratings, star_sum)
      select post_id, substr(t, 1, 10), min(guild_id), ${isC ? 'sum(d), 0, 0' : '0, sum(d), sum(d * stars)'}
      from delta group by 1, 2 having sum(d) <> 0 ${isC ? '' : 'or sum(d * stars) <> 0'} order by 1, 2
      on conflict (post_id, day) do update set ${
        isC
          ? 'replies = digest_post_days.replies + excluded.replies'
          : 'ratings = digest_post_days.ratings + excluded.ratings, star_sum = digest_post_days.star_sum + excluded.star_sum'
      })`,
    `pe as (insert into digest_person_days (guild_id, day, user_id, n)
      select guild_id, substr(t, 1, 10), person, sum(d) from delta group by 1, 2, 3 having sum(d) <> 0 order by 1, 2, 3
      on conflict (guild_id, day, user_id) do update set n = digest_person_days.n + excluded.n)`,
    `pt as (insert into digest_post_totals (guild_id, post_id, replies, ratings, star_sum)
      select guild_id, post_id, ${isC ? 'sum(d), 0, 0' : '0, sum(d), sum(d * stars)'}
      from delta group by 1, 2 having ${isC ? 'sum(d) <> 0' : 'sum(d) <> 0 or sum(d * stars) <> 0'} order by 1, 2
      on conflict (guild_id, post_id) do update set ${
        isC
          ? 'replies = digest_post_totals.replies + excluded.replies'
          : 'ratings = digest_post_totals.ratings + excluded.ratings, star_sum = digest_post_totals.star_sum + excluded.star_sum'
      })`,
  ];
  // The people whose first activity a -1 may move later: recomputed from the rows (then removed if none is left),
  // before the statement below adds the +1s.
  const firstActivityRecount =
    op === 'ai'
      ? ''
      : `with delta (guild_id, post_id, person, t, stars, d) as (${delta(kind, op)}),
         o1 as (select guild_id, person, min(t) as t from delta where d < 0 group by 1, 2)
       update digest_first_activity f set first_at = (select min(m.t) from (
           select min(c.created_at) as t from comments c where c.guild_id = f.guild_id and c.author_id = f.user_id and c.deleted_at is null
           union all
           select min(x.updated_at) from ratings x where x.guild_id = f.guild_id and x.user_id = f.user_id) m)
         from (select f2.guild_id, f2.user_id from digest_first_activity f2 join o1 on f2.guild_id = o1.guild_id and f2.user_id = o1.person and f2.first_at >= o1.t
           order by f2.guild_id, f2.user_id for update of f2) l
         where f.guild_id = l.guild_id and f.user_id = l.user_id;
       delete from digest_first_activity f where f.first_at is null and (f.guild_id, f.user_id) in (
         select guild_id, person from (${delta(kind, op)}) d (guild_id, post_id, person, t, stars, d) where d < 0);`;
  return `
    if not exists (select 1 from ${empty}) then return null; end if;
    perform pg_advisory_xact_lock(20, hashtext(g)) from (select distinct guild_id as g from ${rows} where guild_id is not null order by 1) x;
    ${isC ? `perform digest_021_post_waits(array(select distinct post_id from (${touchedPosts(op)}) p where post_id is not null order by 1));` : ''}
    ${firstActivityRecount}
    with delta (guild_id, post_id, person, t, stars, d) as materialized (${delta(kind, op)}),
      ${parts.join(',\n      ')}
    insert into digest_first_activity (guild_id, user_id, first_at)
      select guild_id, person, min(t) from delta where d > 0 group by 1, 2 order by 1, 2
      on conflict (guild_id, user_id) do update set first_at = excluded.first_at
        where digest_first_activity.first_at is null or excluded.first_at < digest_first_activity.first_at;`;
}

const NEW: Array<{ kind: Kind; op: Op }> = (['comments', 'ratings'] as const).flatMap((kind) => (['ai', 'ad', 'au'] as const).map((op) => ({ kind, op })));
const name = (kind: Kind, op: Op) => `digest_021_${kind}_${op}`;
const EVENT = { ai: 'insert', ad: 'delete', au: 'update' } as const;
const REFS = { ai: 'new table as n', ad: 'old table as o', au: 'old table as o new table as n' } as const;

/** The triggers this migration replaces (their functions stay): migration 012's, 015's and 019's. */
const OLD: Array<{ name: string; kind: Kind; op: Op }> = [
  ...NEW.map(({ kind, op }) => ({ name: `digest_${kind}_${op}`, kind, op })),
  ...NEW.map(({ kind, op }) => ({ name: `digest_015_${kind}_${op}`, kind, op })),
  ...(['ai', 'ad', 'au'] as const).map((op) => ({ name: `digest_019_comments_${op}`, kind: 'comments' as const, op })),
];

const createTrigger = (trigger: string, kind: Kind, op: Op) =>
  `create trigger ${trigger} after ${EVENT[op]} on ${kind} referencing ${REFS[op]} for each statement execute function ${trigger}()`;

// SQLite (row triggers): only the first-activity upsert changes, in migration 012's four triggers that add a row
// (`where`: a person's row is rewritten only when their first activity moves earlier; before, every stored reply and
// vote rewrote it unchanged, a row and an index entry on pages of their own). The triggers are made again from their
// own text in the database, with that one clause added (and removed again by `down`).
const SQLITE_TRIGGERS = ['digest_comments_ai', 'digest_comments_au', 'digest_ratings_ai', 'digest_ratings_au'];
const SQLITE_BEFORE = 'do update set first_at = min(first_at, excluded.first_at)';
const SQLITE_AFTER = `${SQLITE_BEFORE} where first_at is null or excluded.first_at < first_at`;

async function rewriteSqliteTriggers(db: Kysely<any>, from: string, to: string): Promise<void> {
  for (const name of SQLITE_TRIGGERS) {
    const { rows } = await sql<{ sql: string }>`select sql from sqlite_master where type = 'trigger' and name = ${name}`.execute(db);
    const text = rows[0]?.sql;
    if (!text?.includes(from)) throw new Error(`migration 021: trigger ${name} is not the one expected`);
    await sql.raw(`drop trigger ${name}`).execute(db);
    await sql.raw(text.split(from).join(to)).execute(db);
  }
}

export async function up(db: Kysely<any>): Promise<void> {
  if (isSqlite(db)) return rewriteSqliteTriggers(db, SQLITE_BEFORE, SQLITE_AFTER);
  for (const t of OLD) await sql.raw(`drop trigger if exists ${t.name} on ${t.kind}`).execute(db);
  await sql.raw(POST_WAITS_FN).execute(db);
  for (const { kind, op } of NEW) {
    await sql
      .raw(`create or replace function ${name(kind, op)}() returns trigger language plpgsql as $fn$ begin ${body(kind, op)} return null; end $fn$`)
      .execute(db);
    await sql.raw(createTrigger(name(kind, op), kind, op)).execute(db);
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  if (isSqlite(db)) return rewriteSqliteTriggers(db, SQLITE_AFTER, SQLITE_BEFORE);
  for (const { kind, op } of NEW) {
    await sql.raw(`drop trigger if exists ${name(kind, op)} on ${kind}`).execute(db);
    await sql.raw(`drop function if exists ${name(kind, op)}()`).execute(db);
  }
  await sql.raw(`drop function if exists digest_021_post_waits(text[])`).execute(db);
  for (const t of OLD) await sql.raw(createTrigger(t.name, t.kind, t.op)).execute(db);
}
