import { sql, type Kysely } from 'kysely';

// Frozen in time. The digest leaves out the activity of a server's posts that were never announced ('known',
// 'skipped', 'pending', 'failed'): it first asks which of them hold comments or ratings, five times per digest (the
// chart, the trend, the people taking part this week and last, the new voices). Without an index for that question
// both engines read every post of the server: on PostgreSQL a scan of the posts' heap, 416 buffers and 7.5 ms for
// 10,000 posts, ~37 ms of server time in a digest that must take under 300 ms.
//
// This index holds only the unannounced posts (usually a few: a backfill's older items, a failed announcement), so
// announcing a post removes its entry and a server with none has none. Its predicate is written with literals, and
// the read (repositories/digest-window.ts) repeats it word for word: SQLite uses a partial index only when the query's
// WHERE contains the index's terms as they are, with literals. The post id is in the key, so the read is the index
// alone. The same on both databases.

const UNANNOUNCED_POSTS_PREDICATE = sql.raw<boolean>(`publish_state not in ('announced', 'threaded', 'published')`);

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.createIndex('posts_unannounced_guild_idx').on('posts').columns(['guild_id', 'id']).where(UNANNOUNCED_POSTS_PREDICATE).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('posts_unannounced_guild_idx').ifExists().execute();
}
