import type { Db } from '../db/index.ts';

/**
 * Posts whose announcement shows something that changed in [sinceIso, untilIso): a rating set or changed, a
 * reply written, edited or deleted. `at` is the latest such change of each post (ISO text, which sorts as time).
 */
export async function listPostsChangedBetween(db: Db, sinceIso: string, untilIso: string, limit = 1000): Promise<Array<{ postId: string; at: string }>> {
  const latest = new Map<string, string>();
  const note = (rows: Array<{ post_id: string; at: string | null }>) => {
    for (const r of rows) if (r.at && (latest.get(r.post_id) ?? '') < r.at) latest.set(r.post_id, r.at);
  };
  note(
    await db.kysely
      .selectFrom('ratings')
      .select((eb) => ['post_id', eb.fn.max('updated_at').as('at')])
      .where('updated_at', '>=', sinceIso)
      .where('updated_at', '<', untilIso)
      .groupBy('post_id')
      .limit(limit)
      .execute(),
  );
  for (const column of ['created_at', 'edited_at', 'deleted_at'] as const) {
    note(
      await db.kysely
        .selectFrom('comments')
        .select((eb) => ['post_id', eb.fn.max(column).as('at')])
        .where(column, '>=', sinceIso)
        .where(column, '<', untilIso)
        .groupBy('post_id')
        .limit(limit)
        .execute(),
    );
  }
  return [...latest].slice(0, limit).map(([postId, at]) => ({ postId, at }));
}
