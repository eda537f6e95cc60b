// Fills a database with a busy week for the digest benchmark: posts, comments and ratings, generated in SQL.
import { sql } from 'kysely';
import type { RootDb } from '../src/db/index.ts';
import { rebuildDigestRollups } from '../src/repositories/digest-rollups.ts';

export interface DigestSeed {
  guildId: string;
  windowStart: string;
  windowEnd: string;
}

/**
 * 10,000 posts, 1,000,000 comments and 1,000,000 ratings (100 raters per post) inside one week: comments spread evenly
 * over it, a post's ratings in the minute after it was published.
 */
export async function seedBusyWeek(db: RootDb, { posts = 10_000, comments = 1_000_000, ratersPerPost = 100 } = {}): Promise<DigestSeed> {
  const guildId = '900000000000000001';
  const start = Date.parse('2026-11-16T00:00:00.000Z');
  const week = 7 * 24 * 3600 * 1000;
  const at = new Date(start).toISOString();
  await db.kysely
    .insertInto('feeds')
    .values({
      id: 'benchfeed',
      guild_id: guildId,
      url: 'https://bench.example/feed',
      channel_id: '900000000000000002',
      state: 'active',
      consecutive_failures: 0,
      created_at: at,
      updated_at: at,
    })
    .execute();
  const k = db.kysely;
  // The rows go in in bulk with the rollups' triggers off, and the rollups are built once afterwards, as migration
  // 012's backfill builds them (row by row through the triggers the seed took minutes; the digest reads the same).
  const triggers =
    db.dialect === 'sqlite' ? (await sql<{ name: string; sql: string }>`select name, sql from sqlite_master where type = 'trigger'`.execute(k)).rows : [];
  if (db.dialect === 'sqlite') for (const t of triggers) await sql`drop trigger ${sql.raw(t.name)}`.execute(k);
  else for (const table of ['comments', 'ratings']) await sql`alter table ${sql.table(table)} disable trigger user`.execute(k);
  // Numbers are inlined (sql.lit): bound parameters would be REAL in SQLite and turn 'p' || 1 into 'p1.0'.
  // Timestamps as ISO text, spread over the week; snowflake-like ids as text.
  if (db.dialect === 'sqlite') {
    await sql`
      with recursive n(i) as (select 1 union all select i + 1 from n where i < ${sql.lit(posts)})
      insert into posts (id, feed_id, guild_id, guid, url, title, author, published_at, summary, search_text, image_url, content_hash,
                         channel_id, message_id, thread_id, publish_state, failure_reason, publish_attempts, discovered_at, updated_at)
      select 'p' || i, 'benchfeed', ${guildId}, 'g' || i, 'https://bench.example/p/' || i, 'Post number ' || i, 'Author', 
             strftime('%Y-%m-%dT%H:%M:%fZ', (${sql.lit(start)} + ((i - 1) * ${sql.lit(week)} / ${sql.lit(posts)})) / 1000.0, 'unixepoch'),
             '<p>Summary ' || i || '</p>', 'Post number ' || i, null, 'h' || i,
             '900000000000000002', cast(1000000000000000000 + i as text), cast(1000000000000000000 + i as text), 'published', null, 1,
             strftime('%Y-%m-%dT%H:%M:%fZ', (${sql.lit(start)} + ((i - 1) * ${sql.lit(week)} / ${sql.lit(posts)})) / 1000.0, 'unixepoch'), ${at}
      from n`.execute(k);
    await sql`
      with recursive n(i) as (select 1 union all select i + 1 from n where i < ${sql.lit(comments)})
      insert into comments (id, post_id, guild_id, thread_id, author_id, author_name, content, reply_to_id, attachments, created_at, edited_at, deleted_at)
      select cast(2000000000000000000 + i as text), 'p' || (1 + (i * 7919) % ${sql.lit(posts)}), ${guildId}, cast(1000000000000000000 + 1 + (i * 7919) % ${sql.lit(posts)} as text),
             cast(3000000000000000000 + (i % 5000) as text), 'user ' || (i % 5000), 'comment ' || i, null, '[]',
             strftime('%Y-%m-%dT%H:%M:%fZ', (${sql.lit(start)} + ((i - 1) * ${sql.lit(week)} / ${sql.lit(comments)})) / 1000.0, 'unixepoch'), null, null
      from n`.execute(k);
    await sql`
      with recursive n(i) as (select 0 union all select i + 1 from n where i < ${sql.lit(posts * ratersPerPost - 1)})
      insert into ratings (post_id, guild_id, user_id, stars, updated_at)
      select 'p' || (1 + i / ${sql.lit(ratersPerPost)}), ${guildId}, cast(3000000000000000000 + (i % ${sql.lit(ratersPerPost)}) as text), 1 + (i * 31) % 5,
             strftime('%Y-%m-%dT%H:%M:%fZ', (${sql.lit(start)} + (i * ${sql.lit(week)} / ${sql.lit(posts * ratersPerPost)})) / 1000.0, 'unixepoch')
      from n`.execute(k);
  } else {
    const iso = (expr: string) => sql.raw(`to_char(to_timestamp(${expr} / 1000.0) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`);
    await sql`
      insert into posts (id, feed_id, guild_id, guid, url, title, author, published_at, summary, search_text, image_url, content_hash,
                         channel_id, message_id, thread_id, publish_state, failure_reason, publish_attempts, discovered_at, updated_at)
      select 'p' || i, 'benchfeed', ${guildId}, 'g' || i, 'https://bench.example/p/' || i, 'Post number ' || i, 'Author',
             ${iso(`(${start}::bigint + ((i - 1)::bigint * ${week} / ${posts}))`)}, '<p>Summary ' || i || '</p>', 'Post number ' || i, null, 'h' || i,
             '900000000000000002', (1000000000000000000 + i)::text, (1000000000000000000 + i)::text, 'published', null, 1,
             ${iso(`(${start}::bigint + ((i - 1)::bigint * ${week} / ${posts}))`)}, ${at}
      from generate_series(1, ${sql.lit(posts)}) as i`.execute(k);
    await sql`
      insert into comments (id, post_id, guild_id, thread_id, author_id, author_name, content, reply_to_id, attachments, created_at, edited_at, deleted_at)
      select (2000000000000000000 + i)::text, 'p' || (1 + (i::bigint * 7919) % ${sql.lit(posts)}), ${guildId}, (1000000000000000000 + 1 + (i::bigint * 7919) % ${sql.lit(posts)})::text,
             (3000000000000000000 + (i % 5000))::text, 'user ' || (i % 5000), 'comment ' || i, null, '[]',
             ${iso(`(${start}::bigint + ((i - 1)::bigint * ${week} / ${comments}))`)}, null, null
      from generate_series(1, ${sql.lit(comments)}) as i`.execute(k);
    await sql`
      insert into ratings (post_id, guild_id, user_id, stars, updated_at)
      select 'p' || (1 + i / ${sql.lit(ratersPerPost)}), ${guildId}, (3000000000000000000 + (i % ${sql.lit(ratersPerPost)}))::text, 1 + (i * 31) % 5,
             ${iso(`(${start}::bigint + (i::bigint * ${week} / ${posts * ratersPerPost}))`)}
      from generate_series(0, ${sql.lit(posts * ratersPerPost - 1)}) as i`.execute(k);
    // VACUUM as well as ANALYZE: a freshly bulk-loaded table has no visibility map yet, so an index-only scan
    // would still visit the heap for every row. On a live database autovacuum sets it (and ANALYZE's statistics)
    // as rows come in; here it is done once after loading, like the ANALYZE, and before the timing, so autovacuum
    // does not start on these tables while the benchmark runs. Only this schema's tables (search_path).
    await sql`vacuum (analyze) feeds, posts, comments, ratings`.execute(k);
  }
  if (db.dialect === 'sqlite') for (const t of triggers) await sql.raw(t.sql).execute(k);
  else for (const table of ['comments', 'ratings']) await sql`alter table ${sql.table(table)} enable trigger user`.execute(k);
  await rebuildDigestRollups(db);
  // All the rollups (migrations 012, 015, 019), as autovacuum would have them on a live database.
  if (db.dialect === 'postgres')
    await sql`vacuum (analyze) digest_buckets, digest_post_days, digest_first_activity, digest_person_days, digest_post_totals, digest_post_waits`.execute(k);
  return { guildId, windowStart: new Date(start).toISOString(), windowEnd: new Date(start + week).toISOString() };
}

/**
 * A seeded week's later life: 5 % of the replies edited an hour after they were written, 2 % deleted (erased) two
 * hours after (by id: every reply whose id is 0 modulo 20, every one whose id is 7 modulo 50).
 */
export async function editAndDeleteSome(db: RootDb): Promise<void> {
  const k = db.kysely;
  const plus = (hours: number) =>
    db.dialect === 'sqlite'
      ? sql`strftime('%Y-%m-%dT%H:%M:%fZ', created_at, ${`+${hours} hours`})`
      : sql`to_char((created_at::timestamptz + ${`${hours} hours`}::interval) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
  const n = db.dialect === 'sqlite' ? sql`cast(id as integer)` : sql`id::bigint`;
  await sql`update comments set content = content || ' (edited)', edited_at = ${plus(1)} where ${n} % 20 = 0`.execute(k);
  await sql`update comments set content = '', author_id = '', author_name = '', attachments = '[]', edited_at = null, deleted_at = ${plus(2)} where ${n} % 50 = 7`.execute(
    k,
  );
}
