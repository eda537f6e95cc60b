import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';

// Frozen in time. Member privacy (issue 16):
// - member_privacy: how a member appears on the web in one server ('named' | 'anonymous' | 'hidden'). A row
//   exists only once a member chose; no row = 'named'. Kept when the member leaves the server.
// - forgotten_members: the members of a server who ran `/privacy forget`, as HMAC-SHA256(secret, guild id +
//   user id) in hex, never the id itself, so their reactions stay out of live rating events and recounts.
// - privacy_secrets: the generated secret of those hashes (and of the per-post pseudonyms of anonymous
//   members), created here once; it lives in the database so every process (bot, worker, web) shares it.
// - an index of a server's comments by author (tombstones included) for /privacy status and forget.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('member_privacy')
    .addColumn('guild_id', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('show', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('member_privacy_pk', ['guild_id', 'user_id'])
    .execute();
  await db.schema
    .createTable('forgotten_members')
    .addColumn('guild_id', 'text', (c) => c.notNull())
    .addColumn('user_hash', 'text', (c) => c.notNull())
    .addColumn('forgotten_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('forgotten_members_pk', ['guild_id', 'user_hash'])
    .execute();
  await db.schema
    .createTable('privacy_secrets')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('secret', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db
    .insertInto('privacy_secrets')
    .values({ name: 'member-hash', secret: randomBytes(32).toString('base64url'), created_at: new Date().toISOString() })
    .onConflict((oc) => oc.column('name').doNothing())
    .execute();
  await db.schema.createIndex('comments_guild_author_idx').on('comments').columns(['guild_id', 'author_id']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('comments_guild_author_idx').ifExists().execute();
  await db.schema.dropTable('privacy_secrets').ifExists().execute();
  await db.schema.dropTable('forgotten_members').ifExists().execute();
  await db.schema.dropTable('member_privacy').ifExists().execute();
}
