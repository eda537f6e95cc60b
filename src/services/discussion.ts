// The discussion as the web serves it (issue 17): pages of top-level replies with their replies (big threads),
// attachments pointing at the API's media route (never at the stored Discord URL, which expires), and the counts
// a blog's post list shows. Built on blog.ts's web views, so only public feeds are served and privacy choices hold.
import type { Db } from '../db/index.ts';
import { findServedPostByUrl } from '../repositories/search.ts';
import { webStamp } from '../repositories/web-versions.ts';
import type { Post } from '../repositories/posts.ts';
import {
  countRootComments,
  hasForwardReplies,
  listComments,
  listCommentSubtrees,
  listLiveCommentsByAuthors,
  pageRootCommentIds,
} from '../repositories/comments.ts';
import { authorNames, buildCommentTree, findWebPost, mentionedUserIds, summarizePosts, webPostHead, type CommentNode, type PostView } from './blog.ts';
import { presentForWeb } from './privacy.ts';
import { compareSnowflakes } from '../domain/snowflake.ts';

export type DiscussionOrder = 'oldest' | 'newest';
export const PAGE_DEFAULT = 50;
export const PAGE_MAX = 100;
export const COUNTS_MAX = 50;

export interface PageRequest {
  order: DiscussionOrder;
  limit: number;
  /** The opaque cursor of a previous page's `next`, or undefined for the first page. */
  cursor?: string;
}

export interface CommentsPage {
  comments: CommentNode[];
  page: { order: DiscussionOrder; limit: number; next: string | null };
  /** Top-level replies (tombstones included) in the whole thread. */
  topLevel: number;
}

/** A post as the web serves it: the first page of its discussion, not the whole tree. */
export type WebDiscussion = Omit<PostView, 'comments'> & CommentsPage;

/** A cursor that is not one of ours (or not for this order): a 400, not a silent first page. */
export class BadCursorError extends Error {}

interface CursorData {
  o: 'o' | 'n';
  c: string;
  i: string;
}

const encodeCursor = (order: DiscussionOrder, node: CommentNode): string =>
  Buffer.from(JSON.stringify({ o: order === 'oldest' ? 'o' : 'n', c: node.createdAt, i: node.id } satisfies CursorData)).toString('base64url');

function decodeCursor(cursor: string, order: DiscussionOrder): CursorData {
  let data: unknown;
  try {
    data = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new BadCursorError('cursor is not valid: use the page.next of a previous answer');
  }
  const d = data as Partial<CursorData> | null;
  if (!d || typeof d.c !== 'string' || typeof d.i !== 'string' || (d.o !== 'o' && d.o !== 'n'))
    throw new BadCursorError('cursor is not valid: use the page.next of a previous answer');
  if ((d.o === 'o') !== (order === 'oldest')) throw new BadCursorError(`this cursor belongs to order=${d.o === 'o' ? 'oldest' : 'newest'}`);
  return d as CursorData;
}

/** Replies in time order; the ids break ties (replies posted in the same millisecond). */
const compareNodes = (a: { createdAt: string; id: string }, b: { createdAt: string; id: string }): number =>
  a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : compareSnowflakes(a.id, b.id);

/**
 * One page of a reply tree's top-level replies (each with all its replies), in `order`, after `cursor`. Pure: the
 * cursor names the last top-level reply shown (its time and id), so a reply added or deleted meanwhile moves nothing.
 */
export function pageComments(roots: readonly CommentNode[], req: PageRequest): CommentsPage {
  const sorted = [...roots].sort(compareNodes);
  if (req.order === 'newest') sorted.reverse();
  let start = 0;
  if (req.cursor) {
    const after = decodeCursor(req.cursor, req.order);
    const dir = req.order === 'oldest' ? 1 : -1;
    start = sorted.findIndex((n) => dir * compareNodes(n, { createdAt: after.c, id: after.i }) > 0);
    if (start < 0) start = sorted.length;
  }
  const comments = sorted.slice(start, start + req.limit);
  const more = start + req.limit < sorted.length;
  return {
    comments,
    page: { order: req.order, limit: req.limit, next: more && comments.length ? encodeCursor(req.order, comments.at(-1)!) : null },
    topLevel: sorted.length,
  };
}

/**
 * Attachments on the web point at the API's media route (the stored, expiring Discord URL never leaves), avatars at
 * its avatar route.
 */
export function withMediaUrls(nodes: readonly CommentNode[], apiBase: string): CommentNode[] {
  return nodes.map((n) =>
    n.deleted
      ? { ...n, replies: withMediaUrls(n.replies, apiBase) }
      : {
          ...n,
          ...(n.avatar ? { avatar: `${apiBase}${n.avatar}` } : {}),
          attachments: n.attachments.map((a) => ({ ...a, url: `${apiBase}/media/${encodeURIComponent(n.id)}/${a.index}` })),
          replies: withMediaUrls(n.replies, apiBase),
        },
  );
}

export type PostRef = { id: string; guildId?: string } | { url: string; guildId?: string };

/**
 * The stamp of what the web shows of the post `ref` names (its id and the versions migration 017's triggers keep),
 * or null when no public post answers to it: one indexed lookup. Two equal stamps mean the same answer, so a web
 * process may serve a stored answer while the stamp is unchanged, and any change shows on the next request.
 */
export async function webAnswerStamp(db: Db, ref: PostRef): Promise<string | null> {
  return (await webStamp(db, ref))?.stamp ?? null;
}

/** One key per post reference (concurrent version reads of the same reference are shared). */
export const postRefKey = (ref: PostRef): string => ('id' in ref ? `id ${ref.id} ${ref.guildId ?? ''}` : `url ${ref.url} ${ref.guildId ?? ''}`);

/** A public post with one page of its discussion (the first unless `req.cursor`), or null (unknown or not public). */
export async function getWebDiscussion(db: Db, ref: PostRef, req: PageRequest, apiBase: string): Promise<WebDiscussion | null> {
  const post = await findWebPost(db, ref);
  if (!post) return null;
  const [head, page] = await Promise.all([webPostHead(db, post), post.discussionClosedAt ? pageComments([], req) : pageWebComments(db, post, req)]);
  return { ...head, ...page, comments: withMediaUrls(page.comments, apiBase) };
}

/**
 * One page of an open discussion read from SQL: that page's top-level replies (keyset on their order, both orders),
 * the replies under them, and the names of the people their texts mention; the same answer as pageComments over the
 * whole tree, without reading a 5,000-reply thread for a page of 50. A thread whose replies could loop (a reply
 * pointing forward, never Discord's own) is read whole, as buildCommentTree needs to cut the loop.
 */
export async function pageWebComments(db: Db, post: Post, req: PageRequest): Promise<CommentsPage> {
  const after = req.cursor ? decodeCursor(req.cursor, req.order) : undefined;
  if (await hasForwardReplies(db, post.id)) return pageComments(buildCommentTree(await presentForWeb(db, post, await listComments(db, post.id))), req);
  const [ids, topLevel] = await Promise.all([
    pageRootCommentIds(db, post.id, { newest: req.order === 'newest', limit: req.limit + 1, after: after && { createdAt: after.c, id: after.i } }),
    countRootComments(db, post.id),
  ]);
  const shown = await presentForWeb(db, post, await listCommentSubtrees(db, post.id, ids.slice(0, req.limit)));
  const mentioned = new Set(shown.filter((c) => !c.deletedAt && c.appearance !== 'hidden').flatMap((c) => mentionedUserIds(c.content)));
  const names = authorNames(await presentForWeb(db, post, await listLiveCommentsByAuthors(db, post.id, [...mentioned])));
  const comments = buildCommentTree(shown, names).sort(compareNodes);
  if (req.order === 'newest') comments.reverse();
  const more = ids.length > req.limit;
  return {
    comments,
    page: { order: req.order, limit: req.limit, next: more && comments.length ? encodeCursor(req.order, comments.at(-1)!) : null },
    topLevel,
  };
}

export interface PostCount {
  id: string;
  replies: number;
  rating: { average: number; count: number };
}

/** Reply and rating counts of public posts by blog URL (each URL as asked → its counts, or null). */
export async function countsByUrl(db: Db, urls: readonly string[], opts: { guildId?: string } = {}): Promise<Map<string, PostCount | null>> {
  const unique = [...new Set(urls)];
  const found = await Promise.all(unique.map((url) => findServedPostByUrl(db, url, { guildId: opts.guildId, webOnly: true })));
  const posts = found.filter((p) => p !== null);
  const summaries = new Map((await summarizePosts(db, posts)).map((s) => [s.id, s]));
  const out = new Map<string, PostCount | null>();
  unique.forEach((url, i) => {
    const post = found[i];
    const s = post ? summaries.get(post.id) : undefined;
    out.set(
      url,
      post && s ? { id: post.id, replies: post.discussionClosedAt ? 0 : s.replies, rating: { average: s.rating.average, count: s.rating.count } } : null,
    );
  });
  return out;
}
