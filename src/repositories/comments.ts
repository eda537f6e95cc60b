import { sql } from 'kysely';
import { withTransaction, type Db } from '../db/index.ts';
import type { CommentRow } from '../db/schema.ts';
import { advanceCursor, advanceCursorStatement } from './cursors.ts';

export interface Attachment {
  url: string;
  name: string;
  contentType: string | null;
}

export interface Comment {
  id: string;
  postId: string;
  threadId: string;
  authorId: string;
  authorName: string;
  content: string;
  replyToId: string | null;
  attachments: Attachment[];
  createdAt: string;
  editedAt: string | null;
  deletedAt: string | null;
}

export type CommentInput = Omit<Comment, 'deletedAt'>;

function parseAttachments(json: string): Attachment[] {
  try {
    const value: unknown = JSON.parse(json);
    return Array.isArray(value) ? (value as Attachment[]) : [];
  } catch {
    return [];
  }
}

export function toComment(r: CommentRow): Comment {
  return {
    id: r.id,
    postId: r.post_id,
    threadId: r.thread_id,
    authorId: r.author_id,
    authorName: r.author_name,
    content: r.content,
    replyToId: r.reply_to_id,
    attachments: parseAttachments(r.attachments),
    createdAt: r.created_at,
    editedAt: r.edited_at,
    deletedAt: r.deleted_at,
  };
}

// Stay well below SQLite's 32,766 bound parameters per statement (12 parameters a row).
const CHUNK = 500;

/** The server of a post, read in the statement that writes a comment or rating (they carry it for the digest). */
const guildOfPost = (postId: string) => sql<string | null>`(select p.guild_id from posts p where p.id = ${postId})`;

/**
 * Inserts or updates comments by Discord message id. Idempotent: the same message seen twice (event and
 * catch-up) is one row; an update never brings back a deleted comment and never replaces a newer edit.
 */
export async function upsertComments(db: Db, comments: readonly CommentInput[]): Promise<void> {
  // One row per id (an upsert may not touch a row twice); the later copy wins.
  const rows = [...new Map(comments.map((c) => [c.id, c])).values()];
  if (db.dialect === 'postgres') {
    if (rows.length) await upsertStatementPg(rows, { onlyChanged: false }).execute(db.kysely);
    return;
  }
  for (let i = 0; i < rows.length; i += CHUNK) await upsertQuerySqlite(db, rows.slice(i, i + CHUNK), { onlyChanged: false }).execute();
}

/**
 * The upsert rules of a comment row, shared by the live writer and catch-up: a tombstone is never brought
 * back, a newer stored edit (or one whose stamp Discord lost) is never undone; with `onlyChanged`, a row whose
 * content and edit time are unchanged is not written (so catch-up counts only what it changed).
 */
interface UpsertRules {
  onlyChanged: boolean;
}

/**
 * PostgreSQL: every row in one statement, the page as arrays through `unnest` (one round trip and a short
 * plan, where a multi-row VALUES list of 6,000 parameters costs a long one), `returning 1` per written row.
 */
function upsertStatementPg(rows: readonly CommentInput[], rules: UpsertRules) {
  const col = <K extends keyof CommentInput>(k: K) => rows.map((c) => c[k]);
  return sql<{ one: number }>`insert into comments (id, post_id, guild_id, thread_id, author_id, author_name, content, reply_to_id, attachments, created_at, edited_at, deleted_at)
      select v.id, v.post_id, p.guild_id, v.thread_id, v.author_id, v.author_name, v.content, v.reply_to_id, v.attachments, v.created_at, v.edited_at, null
      from unnest(${col('id')}::text[], ${col('postId')}::text[], ${col('threadId')}::text[], ${col('authorId')}::text[], ${col('authorName')}::text[],
                  ${col('content')}::text[], ${col('replyToId')}::text[], ${rows.map((c) => JSON.stringify(c.attachments))}::text[], ${col('createdAt')}::text[], ${col('editedAt')}::text[])
        as v(id, post_id, thread_id, author_id, author_name, content, reply_to_id, attachments, created_at, edited_at)
      left join posts p on p.id = v.post_id
      on conflict (id) do update set content = excluded.content, author_name = excluded.author_name, attachments = excluded.attachments,
        reply_to_id = excluded.reply_to_id, edited_at = excluded.edited_at
      where comments.deleted_at is null
        and (comments.edited_at is null or coalesce(excluded.edited_at, '') >= comments.edited_at)
        ${rules.onlyChanged ? sql`and (comments.content <> excluded.content or comments.edited_at is distinct from excluded.edited_at)` : sql``}
      returning 1 as one`;
}

/** SQLite: a multi-row insert of at most CHUNK rows (prepared once per size and reused), returning the written ids. */
function upsertQuerySqlite(db: Db, rows: readonly CommentInput[], rules: UpsertRules) {
  return db.kysely
    .insertInto('comments')
    .values(
      rows.map((c) => ({
        id: c.id,
        post_id: c.postId,
        guild_id: guildOfPost(c.postId),
        thread_id: c.threadId,
        author_id: c.authorId,
        author_name: c.authorName,
        content: c.content,
        reply_to_id: c.replyToId,
        attachments: JSON.stringify(c.attachments),
        created_at: c.createdAt,
        edited_at: c.editedAt,
        deleted_at: null,
      })),
    )
    .onConflict((oc) =>
      oc
        .column('id')
        .doUpdateSet((eb) => ({
          content: eb.ref('excluded.content'),
          author_name: eb.ref('excluded.author_name'),
          attachments: eb.ref('excluded.attachments'),
          reply_to_id: eb.ref('excluded.reply_to_id'),
          edited_at: eb.ref('excluded.edited_at'),
        }))
        .where((eb) =>
          eb.and([
            eb('comments.deleted_at', 'is', null),
            eb.or([eb('comments.edited_at', 'is', null), eb(sql`coalesce(excluded.edited_at, '')`, '>=', eb.ref('comments.edited_at'))]),
            ...(rules.onlyChanged ? [eb.or([eb('comments.content', '<>', eb.ref('excluded.content')), eb('comments.edited_at', 'is distinct from', eb.ref('excluded.edited_at'))])] : []),
          ]),
        ),
    )
    .returning('id');
}

/** Keeps the rows as tombstones: content stays for the owner's records, `deletedAt` hides it everywhere. */
export async function markCommentsDeleted(db: Db, ids: readonly string[], at: string): Promise<number> {
  let n = 0;
  for (let i = 0; i < ids.length; i += CHUNK) {
    const res = await db.kysely
      .updateTable('comments')
      .set({ deleted_at: at })
      .where('id', 'in', ids.slice(i, i + CHUNK))
      .where('deleted_at', 'is', null)
      .executeTakeFirst();
    n += Number(res.numUpdatedRows);
  }
  return n;
}

export async function markThreadCommentsDeleted(db: Db, threadId: string, at: string): Promise<number> {
  const res = await db.kysely.updateTable('comments').set({ deleted_at: at }).where('thread_id', '=', threadId).where('deleted_at', 'is', null).executeTakeFirst();
  return Number(res.numUpdatedRows);
}

/** A post's comments, oldest first, tombstones included. */
export async function listComments(db: Db, postId: string): Promise<Comment[]> {
  const rows = await db.kysely.selectFrom('comments').selectAll().where('post_id', '=', postId).orderBy('created_at').orderBy('id').execute();
  return rows.map(toComment);
}

/** The ids of a thread's comments that are not deleted (catch-up compares them with Discord). */
export async function listLiveCommentIds(db: Db, threadId: string, opts: { afterCreatedAt?: string } = {}): Promise<string[]> {
  let q = db.kysely.selectFrom('comments').select('id').where('thread_id', '=', threadId).where('deleted_at', 'is', null);
  if (opts.afterCreatedAt) q = q.where('created_at', '>=', opts.afterCreatedAt);
  return (await q.execute()).map((r) => r.id);
}

/** Live (not deleted) reply counts per post, in one query. */
export async function countReplies(db: Db, postIds: readonly string[]): Promise<Map<string, number>> {
  const counts = new Map<string, number>(postIds.map((id) => [id, 0]));
  if (postIds.length === 0) return counts;
  const rows = await db.kysely
    .selectFrom('comments')
    .select(['post_id', (eb) => eb.fn.countAll<number>().as('n')])
    .where('post_id', 'in', postIds)
    .where('deleted_at', 'is', null)
    .groupBy('post_id')
    .execute();
  for (const r of rows) counts.set(r.post_id, Number(r.n));
  return counts;
}

/**
 * Catch-up's write of one page read from Discord, in one transaction: stores the comments that are missing or
 * differ (content or edit time) from the database, and moves the thread's cursor to `cursor` (never back).
 * The same rules as `upsertComments`: a tombstone is never brought back, a newer stored edit (or one whose
 * stamp Discord lost) is never undone. Returns how many comments were inserted or updated.
 *
 * PostgreSQL gets all of it in one statement (the page as arrays through `unnest`, the cursor in a `with`):
 * one round trip and one short plan per page instead of a transaction of several statements, one of
 * 1,200 parameters. SQLite runs in process, so a transaction of two prepared statements costs little there.
 */
export async function storeCatchUpPage(
  db: Db,
  comments: readonly CommentInput[],
  cursor: { threadId: string; postId: string; messageId: string } | null,
): Promise<number> {
  // One row per id (the upsert may not touch a row twice); the later copy wins.
  const rows = [...new Map(comments.map((c) => [c.id, c])).values()];
  if (db.dialect === 'postgres') {
    const page = rows.length ? upsertStatementPg(rows, { onlyChanged: true }) : sql`select 1 as one where false`;
    const moved = cursor ? sql`, moved as (${advanceCursorStatement(db, cursor.threadId, cursor.postId, cursor.messageId)})` : sql``;
    const { rows: out } = await sql<{ n: number }>`with page as (${page})${moved} select count(*) as n from page`.execute(db.kysely);
    return Number(out[0]?.n ?? 0);
  }
  return withTransaction(db, async (tx) => {
    let n = 0;
    for (let i = 0; i < rows.length; i += CHUNK) n += (await upsertQuerySqlite(tx, rows.slice(i, i + CHUNK), { onlyChanged: true }).execute()).length;
    if (cursor) await advanceCursor(tx, cursor.threadId, cursor.postId, cursor.messageId);
    return n;
  });
}

