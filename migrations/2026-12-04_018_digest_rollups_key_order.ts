import { sql, SqliteAdapter, type Kysely } from 'kysely';

// Frozen in time. PostgreSQL only: migration 012's statement triggers (digest_buckets, digest_post_days,
// digest_first_activity) upserted a batch's aggregated rows in whatever order the plan produced them, so two
// concurrent batches touching the same keys in different orders could each hold a row the other wanted next: a
// deadlock, one batch rolled back (issue 20). These versions of the same six functions lock in key order: every
// upsert's rows are sorted by the rollup's key (`... order by key ... on conflict ...`), and the first-activity rows
// a deletion recomputes are locked in key order (`for update`, sorted) before they are updated.
//
// Key order within each trigger is not enough for an upsert (INSERT ... ON CONFLICT DO UPDATE, how ratings and
// replies are written): it fires the UPDATE statement triggers (over the rows it updated) and then the INSERT ones
// (over the rows it inserted), each locking its own sorted keys, so a batch that updated X and inserted Y and one
// that updated Y and inserted X still deadlocked (seen in test/db/digest-rollups-concurrency.test.ts). So every
// digest trigger (012's, 015's here, 019's) first takes a transaction-level advisory lock per server it touches, in
// server order (pg_advisory_xact_lock(20, hashtext(guild_id)); every rollup key belongs to one server): a second
// writer of the same server waits at its first trigger, before it holds any rollup row. It costs writers nothing
// they did not already wait for: live writes of one server meet on the same quarter-hour bucket row anyway. What the
// triggers compute is unchanged. SQLite writes one transaction at a time: no change there.

const isSqlite = (db: Kysely<any>): boolean => db.getExecutor().adapter instanceof SqliteAdapter;

const quarter = (col: string) =>
  `substr(${col}, 1, 14) || case when substr(${col}, 15, 2) < '15' then '00' when substr(${col}, 15, 2) < '30' then '15' when substr(${col}, 15, 2) < '45' then '30' else '45' end`;
const day = (col: string) => `substr(${col}, 1, 10)`;

/**
 * The statement that locks the servers of a transition table's rows (`from`: a relation with guild_id), in order.
 * hashtext: the advisory lock's key is two int4, the first (20, issue 20) telling these locks from any other's.
 */
const lockGuilds = (from: string) =>
  `perform pg_advisory_xact_lock(20, hashtext(g)) from (select distinct guild_id as g from ${from} where guild_id is not null order by 1) x;`;

/** Migration 012's trigger body; `ordered` adds the key order (this migration), without it is 012's (down). */
function pgBody(kind: 'comments' | 'ratings', delta: string, ordered: boolean): string {
  const isC = kind === 'comments';
  const by = (keys: string) => (ordered ? ` order by ${keys}` : '');
  const bucketSet = isC
    ? `replies = digest_buckets.replies + excluded.replies`
    : `ratings = digest_buckets.ratings + excluded.ratings, ${[1, 2, 3, 4, 5].map((k) => `s${k} = digest_buckets.s${k} + excluded.s${k}`).join(', ')}`;
  const daySet = isC
    ? `replies = digest_post_days.replies + excluded.replies`
    : `ratings = digest_post_days.ratings + excluded.ratings, star_sum = digest_post_days.star_sum + excluded.star_sum`;
  const sk = (k: number) => `sum(case when stars = ${k} then d else 0 end)`;
  const w = `with delta (guild_id, post_id, person, t, d, stars) as (${delta})`;
  // The people whose first activity a deletion may move: their rows, locked in key order (ordered), then updated.
  const recomputed = ordered
    ? `(select f2.guild_id, f2.user_id from digest_first_activity f2 join o on f2.guild_id = o.guild_id and f2.user_id = o.person and f2.first_at >= o.t
         order by f2.guild_id, f2.user_id for update of f2) l where f.guild_id = l.guild_id and f.user_id = l.user_id`
    : `o where f.guild_id = o.guild_id and f.user_id = o.person and f.first_at >= o.t`;
  return `
    ${ordered ? lockGuilds(`(${delta}) l`) : ''}
    ${w} insert into digest_buckets (guild_id, bucket, replies, ratings, s1, s2, s3, s4, s5)
      select guild_id, ${quarter('t')}, ${isC ? 'sum(d), 0, 0, 0, 0, 0, 0' : `0, sum(d), ${[1, 2, 3, 4, 5].map(sk).join(', ')}`}
      from delta group by 1, 2 having sum(d) <> 0 ${isC ? '' : `or ${[1, 2, 3, 4, 5].map((k) => `${sk(k)} <> 0`).join(' or ')}`}${by('1, 2')}
      on conflict (guild_id, bucket) do update set ${bucketSet};
    ${w} insert into digest_post_days (post_id, day, guild_id, replies, ratings, star_sum)
      select post_id, ${day('t')}, min(guild_id), ${isC ? 'sum(d), 0, 0' : '0, sum(d), sum(d * stars)'}
      from delta group by 1, 2 having sum(d) <> 0 ${isC ? '' : 'or sum(d * stars) <> 0'}${by('1, 2')}
      on conflict (post_id, day) do update set ${daySet};
    ${w}, o as (select guild_id, person, min(t) as t from delta where d < 0 group by 1, 2)
      update digest_first_activity f set first_at = (select min(m.t) from (
        select min(c.created_at) as t from comments c where c.guild_id = f.guild_id and c.author_id = f.user_id and c.deleted_at is null
        union all
        select min(r.updated_at) from ratings r where r.guild_id = f.guild_id and r.user_id = f.user_id) m)
      from ${recomputed};
    ${w} delete from digest_first_activity f using (select distinct guild_id, person from delta where d < 0) o
      where f.guild_id = o.guild_id and f.user_id = o.person and f.first_at is null;
    ${w} insert into digest_first_activity (guild_id, user_id, first_at)
      select guild_id, person, min(t) from delta where d > 0 group by 1, 2${by('1, 2')}
      on conflict (guild_id, user_id) do update set first_at = least(digest_first_activity.first_at, excluded.first_at);`;
}

function pgFunctions(ordered: boolean): string[] {
  const c = (t: string, d: string) =>
    `select guild_id, post_id, author_id, created_at, ${d}, null::int from ${t} where deleted_at is null and guild_id is not null`;
  const r = (t: string, d: string) => `select guild_id, post_id, user_id, updated_at, ${d}, stars from ${t} where guild_id is not null`;
  const fn = (name: string, kind: 'comments' | 'ratings', delta: string) =>
    `create or replace function ${name}() returns trigger language plpgsql as $fn$ begin ${pgBody(kind, delta, ordered)}
     return null; end $fn$`;
  return [
    fn('digest_comments_ai', 'comments', c('n', '1')),
    fn('digest_comments_ad', 'comments', c('o', '-1')),
    fn('digest_comments_au', 'comments', `${c('o', '-1')} union all ${c('n', '1')}`),
    fn('digest_ratings_ai', 'ratings', r('n', '1')),
    fn('digest_ratings_ad', 'ratings', r('o', '-1')),
    fn('digest_ratings_au', 'ratings', `${r('o', '-1')} union all ${r('n', '1')}`),
  ];
}

/** Migration 015's six functions, with (this migration) or without (down) the servers' lock first. */
function pg015Functions(locked: boolean): string[] {
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
       ${locked ? lockGuilds(`(${delta}) l`) : ''}
       ${w} insert into digest_person_days (guild_id, day, user_id, n)
         select guild_id, day, person, sum(d) from delta group by 1, 2, 3 having sum(d) <> 0 order by 1, 2, 3
         on conflict (guild_id, day, user_id) do update set n = digest_person_days.n + excluded.n;
       ${w} insert into digest_post_totals (guild_id, post_id, replies, ratings, star_sum)
         select guild_id, post_id, ${totals.cols} from delta group by 1, 2 having ${totals.having} order by 1, 2
         on conflict (guild_id, post_id) do update set ${totals.set};
       return null; end $fn$`;
  };
  return [
    fn('digest_015_comments_ai', 'comments', c('n', '1')),
    fn('digest_015_comments_ad', 'comments', c('o', '-1')),
    fn('digest_015_comments_au', 'comments', `${c('o', '-1')} union all ${c('n', '1')}`),
    fn('digest_015_ratings_ai', 'ratings', r('n', '1')),
    fn('digest_015_ratings_ad', 'ratings', r('o', '-1')),
    fn('digest_015_ratings_au', 'ratings', `${r('o', '-1')} union all ${r('n', '1')}`),
  ];
}

export async function up(db: Kysely<any>): Promise<void> {
  if (isSqlite(db)) return;
  for (const s of [...pgFunctions(true), ...pg015Functions(true)]) await sql.raw(s).execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  if (isSqlite(db)) return;
  for (const s of [...pgFunctions(false), ...pg015Functions(false)]) await sql.raw(s).execute(db);
}
