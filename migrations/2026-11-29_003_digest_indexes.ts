import { sql, type Kysely } from 'kysely';

// Frozen in time. Covering indexes for the weekly digest, which walks a server's posts and, per post, counts
// the comments and ratings of one week (and sums all its ratings) without touching the table rows.
// Portable: plain and partial (WHERE deleted_at IS NULL) b-tree indexes exist on SQLite and PostgreSQL.

export async function up(db: Kysely<any>): Promise<void> {
  // Live comments of a post in a time range, with their authors (new comments, people taking part). deleted_at
  // is repeated as a column so SQLite can answer from the index alone (it reads the columns a query names).
  await db.schema
    .createIndex('comments_live_post_created_idx')
    .on('comments')
    .columns(['post_id', 'created_at', 'author_id', 'deleted_at'])
    .where(sql.ref('deleted_at'), 'is', null)
    .execute();
  // Ratings of a post in a time range with their raters, and the sum/count of all of a post's stars.
  await db.schema.createIndex('ratings_post_updated_idx').on('ratings').columns(['post_id', 'updated_at', 'user_id', 'stars']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('ratings_post_updated_idx').ifExists().execute();
  await db.schema.dropIndex('comments_live_post_created_idx').ifExists().execute();
}
