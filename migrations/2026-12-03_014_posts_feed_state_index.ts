import type { Kysely } from 'kysely';

// Frozen in time. A feed's posts by state: /feed status and /feed list count them (grouped by state and known reason)
// and read a feed's failed posts by the feed, not by the server (issue 15 review).
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.createIndex('posts_feed_state_idx').on('posts').columns(['feed_id', 'publish_state', 'known_reason']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('posts_feed_state_idx').ifExists().execute();
}
