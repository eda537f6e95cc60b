import { sql, type Kysely } from 'kysely';

// Frozen in time. The server (guild_id) of a comment or rating, copied from its post, so the weekly digest
// range-scans one server's week in an index instead of joining a week of comments and ratings to posts.
// The repositories fill it on every write from the post in the same statement; posts never change server.
// Nullable (added to existing tables); backfilled here. Portable: plain and partial b-tree indexes.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('comments').addColumn('guild_id', 'text').execute();
  await db.schema.alterTable('ratings').addColumn('guild_id', 'text').execute();
  await sql`update comments set guild_id = (select p.guild_id from posts p where p.id = comments.post_id) where guild_id is null`.execute(db);
  await sql`update ratings set guild_id = (select p.guild_id from posts p where p.id = ratings.post_id) where guild_id is null`.execute(db);
  // A server's live comments in a time range, per post (the digest's new comments and active posts on
  // PostgreSQL), answered from the index alone. deleted_at is repeated as a column for SQLite (see 003).
  await db.schema
    .createIndex('comments_guild_live_created_idx')
    .on('comments')
    .columns(['guild_id', 'created_at', 'post_id', 'deleted_at'])
    .where(sql.ref('deleted_at'), 'is', null)
    .execute();
  // A server's comment authors, each with the times of their live comments: the people taking part in a
  // window are found by skipping from author to author (one seek per person), not by reading the window.
  await db.schema
    .createIndex('comments_guild_live_author_idx')
    .on('comments')
    .columns(['guild_id', 'author_id', 'created_at', 'post_id', 'deleted_at'])
    .where(sql.ref('deleted_at'), 'is', null)
    .execute();
  // A server's ratings in a time range with their posts and stars (new ratings, the prior mean).
  await db.schema.createIndex('ratings_guild_updated_idx').on('ratings').columns(['guild_id', 'updated_at', 'post_id', 'stars']).execute();
  // A server's raters, each with the times of their ratings (people taking part, as for comments).
  await db.schema.createIndex('ratings_guild_user_idx').on('ratings').columns(['guild_id', 'user_id', 'updated_at', 'post_id']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('ratings_guild_user_idx').ifExists().execute();
  await db.schema.dropIndex('ratings_guild_updated_idx').ifExists().execute();
  await db.schema.dropIndex('comments_guild_live_author_idx').ifExists().execute();
  await db.schema.dropIndex('comments_guild_live_created_idx').ifExists().execute();
  await db.schema.alterTable('ratings').dropColumn('guild_id').execute();
  await db.schema.alterTable('comments').dropColumn('guild_id').execute();
}
