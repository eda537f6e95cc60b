import { sql, type Kysely } from 'kysely';

// Frozen in time: this file describes the schema as it was on its date; later changes get new files.
// Portable across SQLite and PostgreSQL: text snowflakes and ISO timestamps, integer booleans.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('guild_settings')
    .addColumn('guild_id', 'text', (c) => c.primaryKey())
    .addColumn('publish_channel_id', 'text')
    .addColumn('digest_channel_id', 'text')
    .addColumn('digest_day', 'integer', (c) =>
      c
        .notNull()
        .defaultTo(1)
        .check(sql`digest_day between 1 and 7`),
    )
    .addColumn('digest_hour', 'integer', (c) =>
      c
        .notNull()
        .defaultTo(9)
        .check(sql`digest_hour between 0 and 23`),
    )
    .addColumn('digest_timezone', 'text', (c) => c.notNull().defaultTo('UTC'))
    .addColumn('digest_enabled', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('digest_empty', 'text', (c) => c.notNull().defaultTo('skip'))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('feeds')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('guild_id', 'text', (c) => c.notNull())
    .addColumn('url', 'text', (c) => c.notNull())
    .addColumn('channel_id', 'text', (c) => c.notNull())
    .addColumn('title', 'text')
    .addColumn('etag', 'text')
    .addColumn('last_modified', 'text')
    .addColumn('state', 'text', (c) => c.notNull().defaultTo('active'))
    .addColumn('consecutive_failures', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_error', 'text')
    .addColumn('last_polled_at', 'text')
    .addColumn('last_success_at', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addUniqueConstraint('feeds_guild_url_unique', ['guild_id', 'url'])
    .execute();
  await db.schema.createIndex('feeds_state_polled_idx').on('feeds').columns(['state', 'last_polled_at']).execute();

  await db.schema
    .createTable('posts')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('feed_id', 'text', (c) => c.notNull().references('feeds.id').onDelete('cascade'))
    .addColumn('guild_id', 'text', (c) => c.notNull())
    .addColumn('guid', 'text', (c) => c.notNull())
    .addColumn('url', 'text')
    .addColumn('title', 'text', (c) => c.notNull())
    .addColumn('author', 'text')
    .addColumn('published_at', 'text')
    .addColumn('summary', 'text')
    .addColumn('search_text', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('image_url', 'text')
    .addColumn('content_hash', 'text', (c) => c.notNull())
    .addColumn('channel_id', 'text')
    .addColumn('message_id', 'text')
    .addColumn('thread_id', 'text')
    .addColumn('publish_state', 'text', (c) => c.notNull().defaultTo('pending'))
    .addColumn('failure_reason', 'text')
    .addColumn('publish_attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('discovered_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addUniqueConstraint('posts_feed_guid_unique', ['feed_id', 'guid'])
    .execute();
  await db.schema.createIndex('posts_guild_published_idx').on('posts').columns(['guild_id', 'published_at']).execute();
  await db.schema.createIndex('posts_message_idx').on('posts').column('message_id').execute();
  await db.schema.createIndex('posts_thread_idx').on('posts').column('thread_id').execute();
  await db.schema.createIndex('posts_url_idx').on('posts').column('url').execute();
  await db.schema.createIndex('posts_state_idx').on('posts').columns(['publish_state', 'discovered_at']).execute();

  await db.schema
    .createTable('comments')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('post_id', 'text', (c) => c.notNull().references('posts.id').onDelete('cascade'))
    .addColumn('thread_id', 'text', (c) => c.notNull())
    .addColumn('author_id', 'text', (c) => c.notNull())
    .addColumn('author_name', 'text', (c) => c.notNull())
    .addColumn('content', 'text', (c) => c.notNull())
    .addColumn('reply_to_id', 'text')
    .addColumn('attachments', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('edited_at', 'text')
    .addColumn('deleted_at', 'text')
    .execute();
  await db.schema.createIndex('comments_post_created_idx').on('comments').columns(['post_id', 'created_at']).execute();
  await db.schema.createIndex('comments_created_post_idx').on('comments').columns(['created_at', 'post_id']).execute();

  await db.schema
    .createTable('ratings')
    .addColumn('post_id', 'text', (c) => c.notNull().references('posts.id').onDelete('cascade'))
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('stars', 'integer', (c) => c.notNull().check(sql`stars between 1 and 5`))
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('ratings_pk', ['post_id', 'user_id'])
    .execute();
  await db.schema.createIndex('ratings_updated_post_idx').on('ratings').columns(['updated_at', 'post_id']).execute();

  await db.schema
    .createTable('digests')
    .addColumn('guild_id', 'text', (c) => c.notNull())
    .addColumn('period_key', 'text', (c) => c.notNull())
    .addColumn('period_start', 'text', (c) => c.notNull())
    .addColumn('period_end', 'text', (c) => c.notNull())
    .addColumn('channel_id', 'text')
    .addColumn('message_id', 'text')
    .addColumn('nonce', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('error', 'text')
    .addColumn('posted_at', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('digests_pk', ['guild_id', 'period_key'])
    .execute();

  await db.schema
    .createTable('sync_cursors')
    .addColumn('thread_id', 'text', (c) => c.primaryKey())
    .addColumn('post_id', 'text', (c) => c.notNull().references('posts.id').onDelete('cascade'))
    .addColumn('last_message_id', 'text')
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ['sync_cursors', 'digests', 'ratings', 'comments', 'posts', 'feeds', 'guild_settings']) {
    await db.schema.dropTable(table).ifExists().execute();
  }
}
