import { sql, SqliteAdapter, type Kysely } from 'kysely';

// Frozen in time. Fewer index entries for each stored comment (issue 21, "ingest keeps up"): every reply wrote 8
// on PostgreSQL (7 on SQLite), most of those indexes made when the weekly digest read comments directly (001, 003,
// 004, 008). Two pairs served the same reads, one pair member partial (live comments only) and one not; each pair
// becomes one index, not partial, with both's columns (deleted_at is a key column, so "live only" is still read
// from the index):
//
// - comments (post_id, created_at) (001: a post's thread in time order, tombstones included: the web, export) and
//   the live (post_id, created_at, author_id, deleted_at) (003: reply counts, the digest's waits, 019's recompute)
//   → comments_post_time_idx (post_id, created_at, author_id, deleted_at). A post has few tombstones.
// - comments (guild_id, author_id) (008: privacy's erasure and footprint, tombstones included) and the live
//   (guild_id, author_id, created_at, post_id, deleted_at) (004: the digest's people, 012's first-activity recompute,
//   the rollups' rebuilds) → comments_guild_author_time_idx (guild_id, author_id, created_at, post_id, deleted_at).
//   A deleted or erased comment has author_id '' (a tombstone), so a member's range holds their live comments.
//
// And comments_post_reply_idx (020: a post's replies to one comment, the web's thread pages level by level) holds
// the replies to a message only (reply_to_id is not null): its reads name a reply_to_id (c.reply_to_id = t.id),
// which both planners take as implying the predicate; a post's comments without it are read in
// comments_post_time_idx. A comment that replies to no message no longer writes it.
//
// The plans (EXPLAIN QUERY PLAN on SQLite, EXPLAIN on PostgreSQL, a seeded busy week) of every statement the tests
// run on comments, and of the triggers' own reads, seek the merged index where they sought either. The others stay:
// each is the only one serving some read (the time-led ones the sweep, the server-and-time ones the digest's edges;
// SQLite, without statistics, picks an index by its equalities, not its ranges).
//
// The two merges are SQLite's only (where each index entry is also a page the WAL and the checkpoint write: 544 → 322
// WAL pages per batch of 100 events, bench ingest's storing alone). On PostgreSQL the live-only indexes stay: with the
// statistics of a table that grew fast (a first catch-up of a long thread), the newest live reply of a post, asked
// by the digest's triggers, was read from comments_guild_live_created_idx instead (the only index left whose
// predicate is exactly `deleted_at is null`), every live comment of the server, at every page: catch-up at
// 5,500–5,900 messages/s instead of 11,200–12,000 (quiet pairs, 4 Dec). The partial reply index is both's.

const isSqlite = (db: Kysely<any>): boolean => db.getExecutor().adapter instanceof SqliteAdapter;

export async function up(db: Kysely<any>): Promise<void> {
  if (isSqlite(db)) await mergePairs(db);
  await db.schema.dropIndex('comments_post_reply_idx').execute();
  await db.schema
    .createIndex('comments_post_reply_idx')
    .on('comments')
    .columns(['post_id', 'reply_to_id'])
    .where(sql.ref('reply_to_id'), 'is not', null)
    .execute();
}

async function mergePairs(db: Kysely<any>): Promise<void> {
  await db.schema.createIndex('comments_post_time_idx').on('comments').columns(['post_id', 'created_at', 'author_id', 'deleted_at']).execute();
  await db.schema
    .createIndex('comments_guild_author_time_idx')
    .on('comments')
    .columns(['guild_id', 'author_id', 'created_at', 'post_id', 'deleted_at'])
    .execute();
  for (const name of ['comments_post_created_idx', 'comments_live_post_created_idx', 'comments_guild_author_idx', 'comments_guild_live_author_idx'])
    await db.schema.dropIndex(name).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  // As 001, 003, 004, 008 and 020 made them.
  await db.schema.dropIndex('comments_post_reply_idx').execute();
  await db.schema.createIndex('comments_post_reply_idx').on('comments').columns(['post_id', 'reply_to_id']).execute();
  if (!isSqlite(db)) return;
  await db.schema.createIndex('comments_post_created_idx').on('comments').columns(['post_id', 'created_at']).execute();
  await db.schema
    .createIndex('comments_live_post_created_idx')
    .on('comments')
    .columns(['post_id', 'created_at', 'author_id', 'deleted_at'])
    .where(sql.ref('deleted_at'), 'is', null)
    .execute();
  await db.schema
    .createIndex('comments_guild_live_author_idx')
    .on('comments')
    .columns(['guild_id', 'author_id', 'created_at', 'post_id', 'deleted_at'])
    .where(sql.ref('deleted_at'), 'is', null)
    .execute();
  await db.schema.createIndex('comments_guild_author_idx').on('comments').columns(['guild_id', 'author_id']).execute();
  await db.schema.dropIndex('comments_guild_author_time_idx').ifExists().execute();
  await db.schema.dropIndex('comments_post_time_idx').ifExists().execute();
}
