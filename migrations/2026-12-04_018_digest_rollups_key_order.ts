import { sql, SqliteAdapter, type Kysely } from 'kysely';

// Frozen in time. PostgreSQL only: migration 012's statement triggers (digest_buckets, digest_post_days,
// digest_first_activity) upserted a batch's aggregated rows in whatever order the plan produced them, so two
// concurrent batches touching the same keys in different orders could each hold a row the other wanted next: a
// deadlock, one batch rolled back (issue 20). These versions of the same six functions lock in key order: every
// upsert's rows are sorted by the rollup's key (`... order by key ... on conflict ...`), and the first-activity rows
// a deletion recomputes are locked in key order (`for update`, sorted) before they are updated. What they compute
// is unchanged (migration 015's triggers already upsert in key order). SQLite writes one transaction at a time: no
// change there.

const isSqlite = (db: Kysely<any>): boolean => db.getExecutor().adapter instanceof SqliteAdapter;

const quarter = (col: string) =>
  `substr(${col}, 1, 14) || case when substr(${col}, 15, 2) < '15' then '00' when substr(${col}, 15, 2) < '30' then '15' when substr(${col}, 15, 2) < '45' then '30' else '45' end`;
const day = (col: string) => `substr(${col}, 1, 10)`;

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

export async function up(db: Kysely<any>): Promise<void> {
  if (isSqlite(db)) return;
  for (const s of pgFunctions(true)) await sql.raw(s).execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  if (isSqlite(db)) return;
  for (const s of pgFunctions(false)) await sql.raw(s).execute(db);
}
