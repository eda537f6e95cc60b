import { sql, type Kysely } from 'kysely';

// Frozen in time. The sweep's read of what changed (issue 21, periodic reads): every SWEEP_INTERVAL_SECONDS it asks
// which posts had a reply written, edited or deleted in a window of time (repositories/activity.ts). Written is read
// in comments_created_post_idx (001); edited and deleted had no index, so each pass read every comment of the table
// (1,000,000 on a busy server) for the two ranges.
//
// Each index holds only the comments that have the time (partial: `is not null`), so a new reply, which has neither,
// writes no entry in them: the insert path costs what it did. An edit writes one entry, a deletion one (a tombstone
// keeps deleted_at); a range on the column implies `is not null`, which both planners see. Like 001's, the post
// follows the time in the key, so SQLite answers the read from the index alone. The same on both databases.

export async function up(db: Kysely<any>): Promise<void> {
  for (const column of ['edited_at', 'deleted_at'] as const)
    await db.schema.createIndex(indexName(column)).on('comments').columns([column, 'post_id']).where(sql.ref(column), 'is not', null).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const column of ['deleted_at', 'edited_at'] as const) await db.schema.dropIndex(indexName(column)).ifExists().execute();
}

const indexName = (column: 'edited_at' | 'deleted_at'): string => `comments_${column.replace('_at', '')}_post_idx`;
