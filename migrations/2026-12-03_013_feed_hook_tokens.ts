import { createHash, randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';

// Frozen in time. Every feed has its publish hook token from the moment it is added (issue 15 review: /feed status
// used to create it on first read, so a read wrote). `/feed add` now creates it in the feed's own transaction; this
// gives one to every feed saved before that. The token is 24 random bytes, base64url; feed_hooks.token_hash is its
// SHA-256 in hex (what a hook call is looked up by), as in migration 011.
export async function up(db: Kysely<any>): Promise<void> {
  const feeds = await db
    .selectFrom('feeds')
    .select('feeds.id')
    .where((eb) => eb.not(eb.exists(eb.selectFrom('feed_hooks').select('feed_hooks.feed_id').whereRef('feed_hooks.feed_id', '=', 'feeds.id'))))
    .execute();
  const at = new Date().toISOString();
  for (let i = 0; i < feeds.length; i += 500) {
    const rows = feeds.slice(i, i + 500).map(({ id }) => {
      const token = randomBytes(24).toString('base64url');
      return { feed_id: id, token, token_hash: createHash('sha256').update(token).digest('hex'), created_at: at, last_called_at: null };
    });
    await db.insertInto('feed_hooks').values(rows).execute();
  }
}

// The tokens stay: they are indistinguishable from ones made by `/feed add` or `rotate-hook`, and a blog may call one.
export async function down(): Promise<void> {}
