import { sql, type Kysely } from 'kysely';

// Frozen in time. Consent before the web, and deleted means deleted.
//
// feeds.web_enabled (0/1, default 0): a feed's discussion and ratings are served by the HTTP API and the widget
// only when its server turned this on (`/web enable`). Every feed existing today starts off, as new ones do: no
// server has said yes yet, so nothing stays public by default.
//
// posts.discussion_closed_at: set when the post's announcement or thread was deleted in Discord; the web then
// shows the post as "discussion closed" (the row stays so the blog's link still resolves).
//
// Comments already deleted lose what the mirror used to keep "for the owner's records": text, author (id and
// name), attachments and the edit time. Only the tree's shape stays (id, parent, post, thread, created and
// deleted times). Erased text is '' (the columns stay NOT NULL; the repositories read a tombstone's fields as null).
// `down` removes the columns; erased text cannot come back.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('feeds')
    .addColumn('web_enabled', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema.alterTable('posts').addColumn('discussion_closed_at', 'text').execute();
  await sql`update comments set content = '', author_name = '', author_id = '', attachments = '[]', edited_at = null where deleted_at is not null`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('posts').dropColumn('discussion_closed_at').execute();
  await db.schema.alterTable('feeds').dropColumn('web_enabled').execute();
}
