// The digest's rollups (migrations 012, 015 and 019: digest_buckets, digest_post_days, digest_first_activity,
// digest_person_days, digest_post_totals, and on PostgreSQL digest_post_waits), which triggers keep in step with
// comments and ratings: a full recount from the rows to check them, and a rebuild if they ever drift.
import { sql } from 'kysely';
import { withTransaction, type Db } from '../db/index.ts';

/** The quarter-hour bucket ('YYYY-MM-DDTHH:MM') of an ISO time column, as migration 012 computes it. */
const quarter = (col: string) =>
  `substr(${col}, 1, 14) || case when substr(${col}, 15, 2) < '15' then '00' when substr(${col}, 15, 2) < '30' then '15' when substr(${col}, 15, 2) < '45' then '30' else '45' end`;

/** The three rollups as they should be: recounted from the rows (optionally one server's). */
function recounts(guildId: string | null) {
  const only = guildId === null ? sql`` : sql` and guild_id = ${guildId}`;
  return {
    buckets: sql`select guild_id, bucket, sum(replies) as replies, sum(ratings) as ratings, sum(s1) as s1, sum(s2) as s2, sum(s3) as s3, sum(s4) as s4, sum(s5) as s5 from (
        select guild_id, ${sql.raw(quarter('created_at'))} as bucket, 1 as replies, 0 as ratings, 0 as s1, 0 as s2, 0 as s3, 0 as s4, 0 as s5
        from comments where deleted_at is null and guild_id is not null${only}
        union all
        select guild_id, ${sql.raw(quarter('updated_at'))}, 0, 1, ${sql.join([1, 2, 3, 4, 5].map((k) => sql`case when stars = ${sql.lit(k)} then 1 else 0 end`))}
        from ratings where guild_id is not null${only}
      ) x group by guild_id, bucket`,
    days: sql`select post_id, day, min(guild_id) as guild_id, sum(replies) as replies, sum(ratings) as ratings, sum(star_sum) as star_sum from (
        select post_id, substr(created_at, 1, 10) as day, guild_id, 1 as replies, 0 as ratings, 0 as star_sum
        from comments where deleted_at is null and guild_id is not null${only}
        union all
        select post_id, substr(updated_at, 1, 10), guild_id, 0, 1, stars from ratings where guild_id is not null${only}
      ) x group by post_id, day`,
    people: sql`select guild_id, day, person as user_id, count(*) as n from (
        select guild_id, substr(created_at, 1, 10) as day, author_id as person from comments where deleted_at is null and guild_id is not null${only}
        union all
        select guild_id, substr(updated_at, 1, 10), user_id from ratings where guild_id is not null${only}
      ) x group by guild_id, day, person`,
    totals: sql`select guild_id, post_id, sum(replies) as replies, sum(ratings) as ratings, sum(star_sum) as star_sum from (
        select guild_id, post_id, 1 as replies, 0 as ratings, 0 as star_sum from comments where deleted_at is null and guild_id is not null${only}
        union all
        select guild_id, post_id, 0, 1, stars from ratings where guild_id is not null${only}
      ) x group by guild_id, post_id`,
    first: sql`select guild_id, person as user_id, min(t) as first_at from (
        select guild_id, author_id as person, created_at as t from comments where deleted_at is null and guild_id is not null${only}
        union all
        select guild_id, user_id, updated_at from ratings where guild_id is not null${only}
      ) x group by guild_id, person`,
    waits: waitsRecount(guildId),
  };
}

/**
 * digest_post_waits (PostgreSQL, migration 019) recounted: per post with comments (optionally the server's posts),
 * its newest live comment, its newest live top-level reply (ties: the greater author id) and whether a live comment
 * by someone else came after that reply. Its columns are the rollup's.
 */
function waitsRecount(guildId: string | null) {
  const posts = guildId === null ? sql`(select distinct post_id from comments)` : sql`(select id as post_id from posts where guild_id = ${guildId})`;
  return sql`select a.post_id,
      (select max(c.created_at) from comments c where c.post_id = a.post_id and c.deleted_at is null) as newest_at,
      t.created_at as last_at, t.author_id as last_author,
      coalesce(exists (select 1 from comments c where c.post_id = a.post_id and c.deleted_at is null
        and c.created_at > t.created_at and c.author_id <> t.author_id), false) as answered
    from ${posts} a
    left join lateral (select c.created_at, c.author_id from comments c
      where c.post_id = a.post_id and c.deleted_at is null and c.reply_to_id is null
      order by c.created_at desc, c.author_id desc limit 1) t on true`;
}

/** The rows of digest_post_waits (optionally of the server's posts). */
const storedWaits = (guildId: string | null) =>
  sql`select post_id, newest_at, last_at, last_author, answered from digest_post_waits${
    guildId === null ? sql`` : sql` where post_id in (select id from posts where guild_id = ${guildId})`
  }`;

export interface RollupDrift {
  table: 'digest_buckets' | 'digest_post_days' | 'digest_first_activity' | 'digest_person_days' | 'digest_post_totals' | 'digest_post_waits';
  key: string;
  stored: string | null;
  recounted: string | null;
}

/**
 * Compares the rollups with a full recount from the rows (rows of zeros count as absent). Returns every
 * difference (none when they agree), at most `limit`.
 */
export async function checkDigestRollups(db: Db, opts: { guildId?: string; limit?: number } = {}): Promise<RollupDrift[]> {
  const guildId = opts.guildId ?? null;
  const only = guildId === null ? sql`` : sql` where guild_id = ${guildId}`;
  const r = recounts(guildId);
  return withTransaction(db, async (tx) => {
    const k = tx.kysely;
    const [bs, br, ds, dr, fs, fr, ps, pr, ts, tr] = await Promise.all([
      sql<Record<string, unknown>>`select guild_id, bucket, replies, ratings, s1, s2, s3, s4, s5 from digest_buckets${only}`.execute(k),
      r.buckets.execute(k),
      sql<Record<string, unknown>>`select post_id, day, guild_id, replies, ratings, star_sum from digest_post_days${only}`.execute(k),
      r.days.execute(k),
      sql<Record<string, unknown>>`select guild_id, user_id, first_at from digest_first_activity${only}`.execute(k),
      r.first.execute(k),
      sql<Record<string, unknown>>`select guild_id, day, user_id, n from digest_person_days${only}`.execute(k),
      r.people.execute(k),
      sql<Record<string, unknown>>`select guild_id, post_id, replies, ratings, star_sum from digest_post_totals${only}`.execute(k),
      r.totals.execute(k),
    ]);
    const [ws, wr] = tx.dialect === 'postgres' ? await Promise.all([storedWaits(guildId).execute(k), r.waits.execute(k)]) : [{ rows: [] }, { rows: [] }];
    const drift: RollupDrift[] = [];
    const compare = (table: RollupDrift['table'], keyCols: string[], valueCols: string[], stored: unknown[], recounted: unknown[]) => {
      const asMap = (rows: unknown[]) => {
        const m = new Map<string, string>();
        for (const row of rows as Array<Record<string, unknown>>) {
          const values = valueCols.map((c) => (row[c] === null || row[c] === undefined ? '' : String(typeof row[c] === 'string' ? row[c] : Number(row[c]))));
          if (values.every((v) => v === '0' || v === '')) continue;
          m.set(keyCols.map((c) => String(row[c])).join('|'), values.join(','));
        }
        return m;
      };
      const a = asMap(stored);
      const b = asMap(recounted);
      for (const key of new Set([...a.keys(), ...b.keys()])) {
        if (a.get(key) !== b.get(key)) drift.push({ table, key, stored: a.get(key) ?? null, recounted: b.get(key) ?? null });
      }
    };
    compare('digest_buckets', ['guild_id', 'bucket'], ['replies', 'ratings', 's1', 's2', 's3', 's4', 's5'], bs.rows, br.rows);
    compare('digest_post_days', ['post_id', 'day', 'guild_id'], ['replies', 'ratings', 'star_sum'], ds.rows, dr.rows);
    compare('digest_first_activity', ['guild_id', 'user_id'], ['first_at'], fs.rows, fr.rows);
    compare('digest_person_days', ['guild_id', 'day', 'user_id'], ['n'], ps.rows, pr.rows);
    compare('digest_post_totals', ['guild_id', 'post_id'], ['replies', 'ratings', 'star_sum'], ts.rows, tr.rows);
    compare('digest_post_waits', ['post_id'], ['newest_at', 'last_at', 'last_author', 'answered'], ws.rows, wr.rows);
    drift.sort((x, y) => (x.table + x.key < y.table + y.key ? -1 : 1));
    return drift.slice(0, opts.limit ?? drift.length);
  });
}

/**
 * Replaces the rollups (all of them, or one server's) with a recount from the rows, in one transaction: the repair
 * for rollups that drifted (`blogcord digest rebuild-rollups`). Returns how many rows each rollup holds afterwards
 * (postWaits: PostgreSQL only, the rows of the server's posts with a live comment).
 */
export async function rebuildDigestRollups(
  db: Db,
  opts: { guildId?: string } = {},
): Promise<{ buckets: number; days: number; people: number; personDays: number; postTotals: number; postWaits?: number }> {
  const guildId = opts.guildId ?? null;
  const only = guildId === null ? sql`` : sql` where guild_id = ${guildId}`;
  const r = recounts(guildId);
  return withTransaction(db, async (tx) => {
    const k = tx.kysely;
    await sql`delete from digest_buckets${only}`.execute(k);
    await sql`delete from digest_post_days${only}`.execute(k);
    await sql`delete from digest_first_activity${only}`.execute(k);
    await sql`delete from digest_person_days${only}`.execute(k);
    await sql`delete from digest_post_totals${only}`.execute(k);
    // `where true`: SQLite reads an `on`-less insert … select as it should only with it (see comments.ts).
    await sql`insert into digest_buckets (guild_id, bucket, replies, ratings, s1, s2, s3, s4, s5) select * from (${r.buckets}) b where true`.execute(k);
    await sql`insert into digest_post_days (post_id, day, guild_id, replies, ratings, star_sum) select post_id, day, guild_id, replies, ratings, star_sum from (${r.days}) d where true`.execute(
      k,
    );
    await sql`insert into digest_first_activity (guild_id, user_id, first_at) select * from (${r.first}) f where true`.execute(k);
    await sql`insert into digest_person_days (guild_id, day, user_id, n) select guild_id, day, user_id, n from (${r.people}) d where true`.execute(k);
    await sql`insert into digest_post_totals (guild_id, post_id, replies, ratings, star_sum) select guild_id, post_id, replies, ratings, star_sum from (${r.totals}) t where true`.execute(
      k,
    );
    const ofGuild = guildId === null ? sql`` : sql` where post_id in (select id from posts where guild_id = ${guildId})`;
    if (tx.dialect === 'postgres') {
      await sql`delete from digest_post_waits${ofGuild}`.execute(k);
      await sql`insert into digest_post_waits (post_id, newest_at, last_at, last_author, answered) select * from (${r.waits}) w where newest_at is not null`.execute(
        k,
      );
    }
    const count = async (table: string) => Number((await sql<{ n: number }>`select count(*) as n from ${sql.table(table)}${only}`.execute(k)).rows[0]?.n ?? 0);
    const counts = {
      buckets: await count('digest_buckets'),
      days: await count('digest_post_days'),
      people: await count('digest_first_activity'),
      personDays: await count('digest_person_days'),
      postTotals: await count('digest_post_totals'),
    };
    if (tx.dialect !== 'postgres') return counts;
    const waits = await sql<{
      n: number;
    }>`select count(*) as n from digest_post_waits${ofGuild}${guildId === null ? sql` where` : sql` and`} newest_at is not null`.execute(k);
    return { ...counts, postWaits: Number(waits.rows[0]?.n ?? 0) };
  });
}
