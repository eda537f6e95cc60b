import type { Kysely } from 'kysely';

// Frozen in time. Operator controls, part B (issue 18): /feed status, /feed why and per-feed identity.
//
// feeds, the last poll as it went (written by the same UPDATE that records the poll, so no extra query):
// - last_poll_outcome: 'ok' | 'not-modified' | 'failed'; last_poll_status: the HTTP status (null when none came,
//   e.g. a timeout); last_poll_ms: how long the poll took; last_poll_items: items the feed held (null if not read).
// feeds, per-feed identity: identity (0/1) asks for posting through a channel webhook named after the blog;
// webhook_id is the webhook in use (its token is in `webhooks`); identity_note says why blogcord posts with its own
// identity anyway (Manage Webhooks missing, a forum), null when the webhook is in use or identity is off.
//
// posts, why a post was known without being announced: known_reason 'flood' (held by the flood guard),
// 'added' (already in the feed when it was added), 'removed' (the feed was removed before it went out); known_at
// when that was decided. announced_at: when its announcement was created. webhook_id: the webhook that posted it
// (its edits go through that webhook); webhook_intent_at: set just before executing the webhook, so a retry looks
// for the message it may have created before creating one (webhooks take no nonce).
//
// webhooks: the channel webhooks blogcord created, with their token. The token is a secret: never logged, never shown.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('feeds').addColumn('last_poll_outcome', 'text').execute();
  await db.schema.alterTable('feeds').addColumn('last_poll_status', 'integer').execute();
  await db.schema.alterTable('feeds').addColumn('last_poll_ms', 'integer').execute();
  await db.schema.alterTable('feeds').addColumn('last_poll_items', 'integer').execute();
  await db.schema
    .alterTable('feeds')
    .addColumn('identity', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema.alterTable('feeds').addColumn('webhook_id', 'text').execute();
  await db.schema.alterTable('feeds').addColumn('identity_note', 'text').execute();
  await db.schema.alterTable('posts').addColumn('known_reason', 'text').execute();
  await db.schema.alterTable('posts').addColumn('known_at', 'text').execute();
  await db.schema.alterTable('posts').addColumn('announced_at', 'text').execute();
  await db.schema.alterTable('posts').addColumn('webhook_id', 'text').execute();
  await db.schema.alterTable('posts').addColumn('webhook_intent_at', 'text').execute();
  await db.schema
    .createTable('webhooks')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('guild_id', 'text', (c) => c.notNull())
    .addColumn('channel_id', 'text', (c) => c.notNull())
    .addColumn('token', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('webhooks_channel_idx').on('webhooks').column('channel_id').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('webhooks').ifExists().execute();
  for (const c of ['webhook_intent_at', 'webhook_id', 'announced_at', 'known_at', 'known_reason']) await db.schema.alterTable('posts').dropColumn(c).execute();
  for (const c of ['identity_note', 'webhook_id', 'identity', 'last_poll_items', 'last_poll_ms', 'last_poll_status', 'last_poll_outcome'])
    await db.schema.alterTable('feeds').dropColumn(c).execute();
}
