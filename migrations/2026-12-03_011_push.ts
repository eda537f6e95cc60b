import type { Kysely } from 'kysely';

// Frozen in time. Push instead of polling (issue 19):
// - push_subscriptions: one WebSub subscription per feed: the hub and topic it is for, the unguessable callback id
//   (the last segment of the callback URL under PUBLIC_URL), the HMAC secret the hub signs deliveries with, its state
//   ('pending' | 'active' | 'denied' | 'unsubscribed'), the request awaiting the hub's verification (pending_mode:
//   'subscribe' | 'unsubscribe' | null), the lease, the last error, retries with backoff (attempts, next_attempt_at)
//   and the last delivery.
// - feed_hooks: the publish hook of a feed: its token (shown to the server's admins) and the token's SHA-256 (what a
//   hook call is looked up by), the last accepted call.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('push_subscriptions')
    .addColumn('feed_id', 'text', (c) => c.primaryKey())
    .addColumn('hub_url', 'text', (c) => c.notNull())
    .addColumn('topic_url', 'text', (c) => c.notNull())
    .addColumn('callback_id', 'text', (c) => c.notNull().unique())
    .addColumn('secret', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('pending_mode', 'text')
    .addColumn('lease_seconds', 'integer')
    .addColumn('lease_expires_at', 'text')
    .addColumn('verified_at', 'text')
    .addColumn('last_error', 'text')
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'text')
    .addColumn('last_delivery_at', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('feed_hooks')
    .addColumn('feed_id', 'text', (c) => c.primaryKey())
    .addColumn('token', 'text', (c) => c.notNull())
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('last_called_at', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('feed_hooks').ifExists().execute();
  await db.schema.dropTable('push_subscriptions').ifExists().execute();
}
