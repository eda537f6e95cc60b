import type { Kysely } from 'kysely';

// Frozen in time. A post's replies to one comment (issue 17, paging big threads in SQL): the web reads one page of a
// thread's top-level replies and then their replies, level by level (a recursive query), instead of the whole thread.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.createIndex('comments_post_reply_idx').on('comments').columns(['post_id', 'reply_to_id']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('comments_post_reply_idx').ifExists().execute();
}
