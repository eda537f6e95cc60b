import type { Kysely } from 'kysely';

// Frozen in time. Operator controls of a feed (issue 18):
// - feeds.ping_role_id: the role mentioned (and pinged) in each new announcement of the feed; null = no ping.
// - feeds.template: the announcement's content line with {placeholders}; null = the default (no content line).
// - feeds.include_filter / exclude_filter: comma-separated terms (`category:`, `title:`, `author:` or bare); null = none.
// - feeds.forum_tags (0/1, default 0): in a forum, the post's categories become the forum's matching tags.
// - posts.categories: the item's categories as a JSON array of strings (filters, {categories}, forum tags).
// - posts.skip_reason: why a new item was not published (publish_state 'skipped'): the filter rule, e.g.
//   'exclude: title:release'. `/publish url` still publishes it.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('feeds').addColumn('ping_role_id', 'text').execute();
  await db.schema.alterTable('feeds').addColumn('template', 'text').execute();
  await db.schema.alterTable('feeds').addColumn('include_filter', 'text').execute();
  await db.schema.alterTable('feeds').addColumn('exclude_filter', 'text').execute();
  await db.schema
    .alterTable('feeds')
    .addColumn('forum_tags', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema
    .alterTable('posts')
    .addColumn('categories', 'text', (c) => c.notNull().defaultTo('[]'))
    .execute();
  await db.schema.alterTable('posts').addColumn('skip_reason', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('posts').dropColumn('skip_reason').execute();
  await db.schema.alterTable('posts').dropColumn('categories').execute();
  for (const column of ['forum_tags', 'exclude_filter', 'include_filter', 'template', 'ping_role_id'])
    await db.schema.alterTable('feeds').dropColumn(column).execute();
}
