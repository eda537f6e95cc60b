import { sql, SqliteAdapter, type Kysely } from 'kysely';

// Frozen in time. PostgreSQL only (issue 21, "ingest keeps up"): the digest's rollups whose rows every stored reply
// and vote updates (digest_post_days, digest_post_totals, digest_person_days) carried their counters in their
// indexes (012's and 015's INCLUDE columns, and the counters as key columns of digest_post_days_guild_idx), so the
// digest read them from the index alone. But an update that changes an indexed column cannot be a HOT update: each
// counter increment was a new row version with a new entry in every index of its table, and the upserts' unique
// checks then step over the dead entries of the same key until a vacuum. Storing 10,000 events after 50,000 (100-event
// batches over 100 posts): 1 update per event in digest_post_days and in digest_post_totals and 0.7 in
// digest_person_days, none of them HOT; 68 shared buffers per event in all. Without the counters in the indexes:
// all of them HOT, 54 buffers per event (digest_post_days 12.8 → 4.0, digest_post_totals 9.8 → 4.0, digest_person_days
// 6.4 → 4.6), and 1,974 bytes of WAL per event instead of 2,481–2,926.
//
// The reads pay with a visit to the heap: the digest's range of a server's week in digest_post_days_guild_idx (a
// busy week: ~70,000 rows) becomes a bitmap heap scan of that week's pages (rows of a day are written on that day, so
// they sit together), a person's days likewise. On the seeded busy week with 20 earlier weeks beside it: the digest's
// statements 10,438 → 11,738 buffers, 107–110 → 111–112 ms of the server's time (EXPLAIN ANALYZE, medians of 5, pairs).
// The rows' fill factor stays 100: the updated rows are the newest ones (today's days, active posts), on the pages
// being filled, and pruning keeps room there (every update HOT in the same counts).
//
// SQLite keeps its rollups in their keys' b-trees (WITHOUT ROWID); nothing changes there.

const isSqlite = (db: Kysely<any>): boolean => db.getExecutor().adapter instanceof SqliteAdapter;

const KEYS = [
  { table: 'digest_post_days', key: 'post_id, day', include: 'replies, ratings, star_sum' },
  { table: 'digest_post_totals', key: 'guild_id, post_id', include: 'replies, ratings, star_sum' },
  { table: 'digest_person_days', key: 'guild_id, day, user_id', include: 'n' },
] as const;

export async function up(db: Kysely<any>): Promise<void> {
  if (isSqlite(db)) return;
  for (const { table, key } of KEYS)
    await sql.raw(`alter table ${table} drop constraint ${table}_pkey, add constraint ${table}_pkey primary key (${key})`).execute(db);
  await sql.raw(`drop index digest_post_days_guild_idx`).execute(db);
  await sql.raw(`create index digest_post_days_guild_idx on digest_post_days (guild_id, day, post_id)`).execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  if (isSqlite(db)) return;
  for (const { table, key, include } of KEYS)
    await sql.raw(`alter table ${table} drop constraint ${table}_pkey, add constraint ${table}_pkey primary key (${key}) include (${include})`).execute(db);
  await sql.raw(`drop index digest_post_days_guild_idx`).execute(db);
  await sql.raw(`create index digest_post_days_guild_idx on digest_post_days (guild_id, day, post_id, replies, ratings, star_sum)`).execute(db);
}
