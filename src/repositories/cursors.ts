import { sql, type RawBuilder } from 'kysely';
import type { Db } from '../db/index.ts';
import { now } from './ids.ts';

/** The newest message id of a thread that is known to be stored. */
export async function getCursor(db: Db, threadId: string): Promise<string | null> {
  const row = await db.kysely.selectFrom('sync_cursors').select('last_message_id').where('thread_id', '=', threadId).executeTakeFirst();
  return row?.last_message_id ?? null;
}

/** Snowflakes compared as numbers (as text '99' > '100'): both fit a signed 64-bit integer. */
const asNumber = (db: Db, ref: string) => (db.dialect === 'postgres' ? sql`cast(${sql.ref(ref)} as bigint)` : sql`cast(${sql.ref(ref)} as integer)`);

/**
 * The statement that moves a thread's cursor forward (never back): one upsert, so it can also stand in a
 * PostgreSQL `with` next to the page of comments it belongs to (see `storeCatchUpPage`).
 */
export function advanceCursorStatement(db: Db, threadId: string, postId: string, messageId: string): RawBuilder<unknown> {
  const at = now();
  return sql`insert into sync_cursors (thread_id, post_id, last_message_id, updated_at) values (${threadId}, ${postId}, ${messageId}, ${at})
    on conflict (thread_id) do update set last_message_id = excluded.last_message_id, updated_at = excluded.updated_at
    where sync_cursors.last_message_id is null or ${asNumber(db, 'sync_cursors.last_message_id')} < ${asNumber(db, 'excluded.last_message_id')}`;
}

/** Moves a thread's cursor forward (never back). */
export async function advanceCursor(db: Db, threadId: string, postId: string, messageId: string): Promise<void> {
  await advanceCursorStatement(db, threadId, postId, messageId).execute(db.kysely);
}
