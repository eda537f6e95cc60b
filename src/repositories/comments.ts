import { sql } from 'kysely';
import { withTransaction, type Db } from '../db/index.ts';
import type { CommentRow } from '../db/schema.ts';
import { advanceCursor, advanceCursorStatement } from './cursors.ts';
import { relation, textList } from './relation.ts';

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
  /** 'g:<hash>' (server avatar) or 'u:<hash>' (user avatar); absent or null: none (default or unknown). Served via /avatars/:commentId. */
  authorAvatar?: string | null;
  content: string;
  replyToId: string | null;
  attachments: Attachment[];
  createdAt: string;
  editedAt: string | null;
  deletedAt: string | null;
}

/** A comment to store; `authorAvatar` null or left out: none known (a stored one stays). */
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
    // Present only when there is one (a comment without an avatar reads as before migration 017).
    ...(r.author_avatar ? { authorAvatar: r.author_avatar } : {}),
    content: r.content,
    replyToId: r.reply_to_id,
    attachments: parseAttachments(r.attachments),
    createdAt: r.created_at,
    editedAt: r.edited_at,
    deletedAt: r.deleted_at,
  };
}

/**
 * Inserts or updates comments by Discord message id. Idempotent: the same message seen twice (event and
 * catch-up) is one row; an update never brings back a deleted comment and never replaces a newer edit.
 */
export async function upsertComments(db: Db, comments: readonly CommentInput[]): Promise<void> {
  // One row per id (an upsert may not touch a row twice); the later copy wins.
  const rows = [...new Map(comments.map((c) => [c.id, c])).values()];
  if (rows.length) await upsertStatement(db, rows, { onlyChanged: false }).execute(db.kysely);
}

/**
 * The upsert rules of a comment row, shared by the live writer and catch-up: a tombstone is never brought
 * back, a newer stored edit (or one whose stamp Discord lost) is never undone; with `onlyChanged`, a row whose
 * content and edit time are unchanged is not written (so catch-up counts only what it changed).
 */
interface UpsertRules {
  onlyChanged: boolean;
}

/** A batch of comments as the relation `v`. */
function commentRows(db: Db, rows: readonly CommentInput[]) {
  const text = (name: string, values: readonly unknown[]) => ({ name, pgType: 'text' as const, values });
  return relation(db, 'v', [
    text(
      'id',
      rows.map((c) => c.id),
    ),
    text(
      'post_id',
      rows.map((c) => c.postId),
    ),
    text(
      'thread_id',
      rows.map((c) => c.threadId),
    ),
    text(
      'author_id',
      rows.map((c) => c.authorId),
    ),
    text(
      'author_name',
      rows.map((c) => c.authorName),
    ),
    text(
      'author_avatar',
      rows.map((c) => c.authorAvatar ?? null),
    ),
    text(
      'content',
      rows.map((c) => c.content),
    ),
    text(
      'reply_to_id',
      rows.map((c) => c.replyToId),
    ),
    text(
      'attachments',
      rows.map((c) => JSON.stringify(c.attachments)),
    ),
    text(
      'created_at',
      rows.map((c) => c.createdAt),
    ),
    text(
      'edited_at',
      rows.map((c) => c.editedAt),
    ),
  ]);
}

/** One statement for the whole batch, returning the id of every row it inserted or updated. */
function upsertStatement(db: Db, rows: readonly CommentInput[], rules: UpsertRules) {
  // `where true`: SQLite needs it to tell the upsert's `on conflict` from the join's `on`.
  return sql<{
    id: string;
  }>`insert into comments (id, post_id, guild_id, thread_id, author_id, author_name, author_avatar, content, reply_to_id, attachments, created_at, edited_at, deleted_at)
      select v.id, v.post_id, p.guild_id, v.thread_id, v.author_id, v.author_name, v.author_avatar, v.content, v.reply_to_id, v.attachments, v.created_at, v.edited_at, null
      from ${commentRows(db, rows)}
      left join posts p on p.id = v.post_id
      where true
      on conflict (id) do update set content = excluded.content, author_name = excluded.author_name, attachments = excluded.attachments,
        -- the avatar: an unknown one (null) keeps the stored one, and a user avatar (all a REST page knows) does not
        -- replace a stored server avatar (a removed avatar's old hash then fails at the CDN: the letter shows)
        author_avatar = case when excluded.author_avatar is null or (excluded.author_avatar like 'u:%' and comments.author_avatar like 'g:%')
          then comments.author_avatar else excluded.author_avatar end,
        reply_to_id = excluded.reply_to_id, edited_at = excluded.edited_at
      where comments.deleted_at is null
        and (comments.edited_at is null or coalesce(excluded.edited_at, '') >= comments.edited_at)
        ${rules.onlyChanged ? sql`and (comments.content <> excluded.content or comments.edited_at is distinct from excluded.edited_at or (comments.author_avatar is null and excluded.author_avatar is not null))` : sql``}
      returning id`;
}

/**
 * What a deleted message leaves: its id, reply parent, post, thread, creation and deletion times. Its text, author
 * (id and name), attachments and edit time are erased in the same write.
 */
const ERASED = { content: '', author_id: '', author_name: '', author_avatar: null, attachments: '[]', edited_at: null } as const;

/** Turns comments into tombstones, erasing what the message said and who said it. Returns how many were live. */
export async function markCommentsDeleted(db: Db, ids: readonly string[], at: string): Promise<number> {
  if (ids.length === 0) return 0;
  const res = await db.kysely
    .updateTable('comments')
    .set({ ...ERASED, deleted_at: at })
    .where('id', 'in', textList(db, ids))
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
  return Number(res.numUpdatedRows);
}

/**
 * A deleted thread: every live comment of it becomes an erased tombstone. `postId` is the thread's post (all its
 * comments are that post's): the post leads the comments' indexes, and no index starts with the thread.
 */
export async function markThreadCommentsDeleted(db: Db, postId: string, threadId: string, at: string): Promise<number> {
  const res = await db.kysely
    .updateTable('comments')
    .set({ ...ERASED, deleted_at: at })
    .where('post_id', '=', postId)
    .where('thread_id', '=', threadId)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
  return Number(res.numUpdatedRows);
}

/** One comment by its Discord message id (tombstones too), or null. */
export async function getComment(db: Db, id: string): Promise<Comment | null> {
  const row = await db.kysely.selectFrom('comments').selectAll().where('id', '=', id).executeTakeFirst();
  return row ? toComment(row) : null;
}

/** A post's comments, oldest first, tombstones included. */
export async function listComments(db: Db, postId: string): Promise<Comment[]> {
  const rows = await db.kysely.selectFrom('comments').selectAll().where('post_id', '=', postId).orderBy('created_at').orderBy('id').execute();
  return rows.map(toComment);
}

/**
 * The ids of a thread's comments that are not deleted (catch-up compares them with Discord). `postId` is the thread's
 * post, as for markThreadCommentsDeleted.
 */
export async function listLiveCommentIds(db: Db, postId: string, threadId: string, opts: { afterCreatedAt?: string } = {}): Promise<string[]> {
  let q = db.kysely.selectFrom('comments').select('id').where('post_id', '=', postId).where('thread_id', '=', threadId).where('deleted_at', 'is', null);
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
    const page = rows.length ? upsertStatement(db, rows, { onlyChanged: true }) : sql`select 1 as id where false`;
    const moved = cursor ? sql`, moved as (${advanceCursorStatement(db, cursor.threadId, cursor.postId, cursor.messageId)})` : sql``;
    const { rows: out } = await sql<{ n: number }>`with page as (${page})${moved} select count(*) as n from page`.execute(db.kysely);
    return Number(out[0]?.n ?? 0);
  }
  return withTransaction(db, async (tx) => {
    let n = 0;
    if (rows.length) n = (await upsertStatement(tx, rows, { onlyChanged: true }).execute(tx.kysely)).rows.length;
    if (cursor) await advanceCursor(tx, cursor.threadId, cursor.postId, cursor.messageId);
    return n;
  });
}

// ------------------------------------------------------------------ one page of a thread (the web, issue 17)
//
// A top-level reply (a "root") is one whose parent is not among the post's comments (no reply_to_id, or a reply to
// the announcement or to a message the mirror never saw), as buildCommentTree decides. Roots are ordered by
// (created_at, length(id), id): snowflakes compare by length, then text.

/**
 * The post's comments `c` that are roots: `q`, the parent among the post's comments, is missing. An anti-join (not
 * `reply_to_id is null or not exists …`, whose OR made PostgreSQL hash every comment of the table): a comment without
 * reply_to_id finds no parent either.
 */
const rootsOf = (postId: string) =>
  sql`comments c left join comments q on q.id = c.reply_to_id and q.post_id = c.post_id where c.post_id = ${postId} and q.id is null`;

/**
 * Whether a reply of the post points at a comment that does not come before it (by length, then text of the ids:
 * Discord's own replies always point back). Only then can the replies form a loop, which buildCommentTree cuts in a
 * way a page read cannot reproduce: the caller reads the whole thread instead.
 */
export async function hasForwardReplies(db: Db, postId: string): Promise<boolean> {
  const { rows } = await sql<{ one: number }>`
    select 1 as one from comments c join comments q on q.id = c.reply_to_id and q.post_id = c.post_id
    where c.post_id = ${postId} and (length(q.id) > length(c.id) or (length(q.id) = length(c.id) and q.id >= c.id))
    limit 1`.execute(db.kysely);
  return rows.length > 0;
}

/** How many roots the post's replies have (tombstones included). */
export async function countRootComments(db: Db, postId: string): Promise<number> {
  const { rows } = await sql<{ n: number | string }>`select count(*) as n from ${rootsOf(postId)}`.execute(db.kysely);
  return Number(rows[0]?.n ?? 0);
}

/**
 * One page of the post's roots in (created_at, length(id), id) order, or its reverse with `newest`, strictly after
 * `after` (a root shown last; it need not exist any more): at most `limit` ids, oldest (or newest) first.
 */
export async function pageRootCommentIds(
  db: Db,
  postId: string,
  opts: { newest: boolean; limit: number; after?: { createdAt: string; id: string } },
): Promise<string[]> {
  // Byte order for ids on PostgreSQL (created_at is already collate "C", migration 005), as the JavaScript compare.
  const id = db.dialect === 'postgres' ? sql`c.id collate "C"` : sql`c.id`;
  const cmp = opts.newest ? sql`<` : sql`>`;
  const dir = opts.newest ? sql`desc` : sql`asc`;
  const after = opts.after
    ? sql`and (c.created_at ${cmp} ${opts.after.createdAt} or (c.created_at = ${opts.after.createdAt} and (length(c.id) ${cmp} ${opts.after.id.length} or (length(c.id) = ${opts.after.id.length} and ${id} ${cmp} ${opts.after.id}))))`
    : sql``;
  const { rows } = await sql<{ id: string }>`
    select c.id from ${rootsOf(postId)} ${after}
    order by c.created_at ${dir}, length(c.id) ${dir}, ${id} ${dir} limit ${opts.limit}`.execute(db.kysely);
  return rows.map((r) => r.id);
}

/**
 * The comments `rootIds` of the post and every reply under them (at any depth), in listComments' order. `cross join`:
 * SQLite then walks from the replies found so far to their replies (comments_post_reply_idx), not the other way.
 */
export async function listCommentSubtrees(db: Db, postId: string, rootIds: readonly string[]): Promise<Comment[]> {
  if (rootIds.length === 0) return [];
  const { rows } = await sql<CommentRow>`
    with recursive tree(id) as (
      select id from comments where post_id = ${postId} and id in (${sql.join(rootIds)})
      union
      select c.id from tree t cross join comments c where c.post_id = ${postId} and c.reply_to_id = t.id
    )
    select c.* from tree t cross join comments c where c.id = t.id order by c.created_at, c.id`.execute(db.kysely);
  return rows.map(toComment);
}

/** The post's comments (not deleted) by these authors, in listComments' order (what their names are read from). */
export async function listLiveCommentsByAuthors(db: Db, postId: string, authorIds: readonly string[]): Promise<Comment[]> {
  if (authorIds.length === 0) return [];
  const rows = await db.kysely
    .selectFrom('comments')
    .selectAll()
    .where('post_id', '=', postId)
    .where('author_id', 'in', [...authorIds])
    .where('deleted_at', 'is', null)
    .orderBy('created_at')
    .orderBy('id')
    .execute();
  return rows.map(toComment);
}
