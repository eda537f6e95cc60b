import type { Db } from '../db/index.ts';
import { compareSnowflakes, now } from './ids.ts';

/** The newest message id of a thread that is known to be stored. */
export async function getCursor(db: Db, threadId: string): Promise<string | null> {
  const row = await db.kysely.selectFrom('sync_cursors').select('last_message_id').where('thread_id', '=', threadId).executeTakeFirst();
  return row?.last_message_id ?? null;
}

/** Moves a thread's cursor forward (never back). */
export async function advanceCursor(db: Db, threadId: string, postId: string, messageId: string): Promise<void> {
  const current = await getCursor(db, threadId);
  if (current && compareSnowflakes(current, messageId) >= 0) return;
  const at = now();
  await db.kysely
    .insertInto('sync_cursors')
    .values({ thread_id: threadId, post_id: postId, last_message_id: messageId, updated_at: at })
    .onConflict((oc) => oc.column('thread_id').doUpdateSet({ last_message_id: messageId, updated_at: at }))
    .execute();
}
