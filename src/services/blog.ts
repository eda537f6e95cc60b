// Serving posts back: the one place that assembles a post with its rating, reply count, Discord links and
// comment tree. `/blog` (commands/blog.ts) and the HTTP API (src/http/) both read posts through here, so
// the server and the blog always show the same numbers.
import { discordLink } from '../render/discord-link.ts';
import type { RatingSummary } from '../domain/rating.ts';
import type { Db } from '../db/index.ts';
import { stripControls } from '../feeds/clean.ts';
import { countReplies, listComments } from '../repositories/comments.ts';
import { getFeed } from '../repositories/feeds.ts';
import { getPost, listPosts, type Post } from '../repositories/posts.ts';
import { getRatingSummaries, guildMeanRating } from '../repositories/ratings.ts';
import { findPostsByTitle, findServedPostByUrl, searchPosts, SERVED_STATES, searchTokens } from '../repositories/search.ts';
import { renderDiscordMarkdown } from '../render/discord-markdown.ts';
import { stripBidi } from '../render/bidi.ts';
import { lazyImport } from '../lazy-require.ts';
import { formatRating } from '../render/rating.ts';
import { presentForWeb, type WebComment } from './privacy.ts';
import { DEFAULT_PRIOR_MEAN, PRIOR_WEIGHT, rankTopRated } from './ranking.ts';

/** Links into Discord (the web client URLs work in the apps too). */
export interface DiscordLinks {
  /** The discussion thread, or null when the post has none (yet). */
  threadUrl: string | null;
  /** The announcement carrying the rating reactions. */
  messageUrl: string | null;
}

export interface RatingView extends RatingSummary {
  /** formatRating's wording: "★ 4.5/5 (2 ratings)" or "Be the first to rate". */
  label: string;
}

/** A post as lists show it. */
export interface PostSummaryView {
  id: string;
  guildId: string;
  title: string;
  url: string | null;
  author: string | null;
  publishedAt: string | null;
  rating: RatingView;
  /** Live replies in the thread (deleted ones not counted). */
  replies: number;
  discord: DiscordLinks;
}

export interface AttachmentView {
  /** Where the file is: the stored Discord URL inside blogcord; on the web, `${apiBase}/media/${commentId}/${index}`. */
  url: string;
  /** Its position in the message's attachments (0-based): the media route's index. */
  index: number;
  name: string;
  contentType: string | null;
}

/**
 * A reply in the tree. Deleted replies stay as tombstones (their replies hang under them) without author or content.
 * A reply whose author chose `/privacy set show:anonymous` has author "A member", `anonymous: true` and a pseudonym
 * stable within the post; one whose author chose hidden is a placeholder (`deleted: true, hidden: true`) without author or content.
 */
export type CommentNode =
  | {
      id: string;
      deleted: false;
      /** Present (true) only for an anonymous author; `pseudonym` then tells their replies in this post apart. */
      anonymous?: true;
      pseudonym?: string;
      author: string;
      /**
       * Only for a named author with an avatar: where the API serves it, `/avatars/<comment id>` (made absolute on the
       * web). Never Discord's URL, which carries the user's id.
       */
      avatar?: string;
      /** The text with Discord's id-carrying markup made readable (mentions as @name, …), markdown left as typed. */
      content: string;
      /** The text rendered as safe HTML (src/render/discord-markdown.ts): what the web shows. */
      html: string;
      createdAt: string;
      editedAt: string | null;
      attachments: AttachmentView[];
      replies: CommentNode[];
    }
  | { id: string; deleted: true; createdAt: string; replies: CommentNode[] }
  // `deleted: true` = nothing to show (so a reader that knows only tombstones shows nothing either); `hidden` says why.
  | { id: string; deleted: true; hidden: true; createdAt: string; replies: CommentNode[] };

/** A post with everything: the HTTP API's answer and /blog show's source. */
export interface PostView extends PostSummaryView {
  /**
   * 'closed' when the announcement or thread was deleted in Discord: the web then serves the post without its
   * discussion (no comments, no reply count).
   */
  discussion: 'open' | 'closed';
  /** The summary as plain text. */
  summary: string;
  imageUrl: string | null;
  comments: CommentNode[];
}

export function discordLinks(post: Pick<Post, 'guildId' | 'channelId' | 'messageId' | 'threadId'>): DiscordLinks {
  const ok = (id: string | null): id is string => id !== null && /^\d{1,20}$/.test(id);
  const guild = /^\d{1,20}$/.test(post.guildId) ? post.guildId : null;
  return {
    threadUrl: guild && ok(post.threadId) ? discordLink(guild, post.threadId) : null,
    messageUrl: guild && ok(post.channelId) && ok(post.messageId) ? discordLink(guild, post.channelId, post.messageId) : null,
  };
}

const isServed = (post: Post | null): post is Post => post !== null && post.publishState !== 'known' && post.publishState !== 'skipped';

function ratingView(summary: RatingSummary): RatingView {
  return { ...summary, distribution: { ...summary.distribution }, label: formatRating(summary) };
}

/** Rating and reply counts for many posts in two queries. */
export async function summarizePosts(db: Db, posts: readonly Post[]): Promise<PostSummaryView[]> {
  const ids = posts.map((p) => p.id);
  const [ratings, replies] = await Promise.all([getRatingSummaries(db, ids), countReplies(db, ids)]);
  return posts.map((p) => ({
    id: p.id,
    guildId: p.guildId,
    // Bidirectional overrides can disguise a name or a file name: never shown (the web API, the widget, /blog).
    title: stripBidi(p.title),
    url: p.url,
    author: p.author === null ? null : stripBidi(p.author),
    publishedAt: p.publishedAt,
    rating: ratingView(ratings.get(p.id)!),
    replies: replies.get(p.id) ?? 0,
    discord: discordLinks(p),
  }));
}

// ------------------------------------------------------------------ comments

/**
 * Discord markup that carries ids becomes readable text without them: user mentions become @name (the
 * name of that person's replies in this thread, else "@someone"), role and channel mentions @role/#channel,
 * custom emoji :name:, slash-command mentions /name, timestamps an ISO-8601 date.
 */
export function readableDiscordText(content: string, namesById: ReadonlyMap<string, string> = new Map()): string {
  return content
    .replace(/<@!?(\d+)>/g, (_, id: string) => `@${namesById.get(id) ?? 'someone'}`)
    .replace(/<@&\d+>/g, '@role')
    .replace(/<#\d+>/g, '#channel')
    .replace(/<a?:(\w+):\d+>/g, ':$1:')
    .replace(/<\/([\w -]+):\d+>/g, '/$1')
    .replace(/<t:(-?\d{1,13})(?::[tTdDfFR])?>/g, (_, s: string) => {
      const d = new Date(Number(s) * 1000);
      return Number.isNaN(d.getTime()) ? 'a date' : d.toISOString();
    });
}

const httpOnly = (url: string): boolean => /^https?:\/\//i.test(url);

/**
 * Adds `html`, rendered when first read (JSON.stringify, a spread) and then kept: a page of a big thread renders
 * only the replies on it, not the thousands the tree holds.
 */
function withLazyHtml<T extends object>(node: T, content: string, names: ReadonlyMap<string, string>): T & { html: string } {
  let html: string | undefined;
  return Object.defineProperty(node, 'html', {
    enumerable: true,
    configurable: true,
    get: () => (html ??= renderDiscordMarkdown(content, { users: names })),
  }) as T & {
    html: string;
  };
}

/**
 * Who is who in a thread, for mentions: each author's name (the last of their replies in listComments' order wins),
 * tombstones and hidden authors left out. A part of a thread (one page) passes the names read from the whole thread.
 */
export function authorNames(comments: readonly WebComment[]): Map<string, string> {
  const namesById = new Map<string, string>();
  for (const c of comments) if (!c.deletedAt && c.appearance !== 'hidden') namesById.set(c.authorId, c.authorName);
  return namesById;
}

/** The ids of the users a text mentions (`<@id>`, `<@!id>`): the only names readableDiscordText and the renderer look up. */
export function mentionedUserIds(content: string): string[] {
  return [...content.matchAll(/<@!?(\d+)>/g)].map((m) => m[1]!);
}

/**
 * The reply tree, oldest first at every level. A reply whose parent is not in the mirror (a reply to the
 * announcement, or to a message before the mirror started) is top-level; so is anything caught in a cycle.
 */
export function buildCommentTree(comments: readonly WebComment[], namesById: ReadonlyMap<string, string> = authorNames(comments)): CommentNode[] {
  const nodes = new Map<string, CommentNode>();
  for (const c of comments) {
    nodes.set(
      c.id,
      c.deletedAt
        ? { id: c.id, deleted: true, createdAt: c.createdAt, replies: [] }
        : c.appearance === 'hidden'
          ? { id: c.id, deleted: true, hidden: true, createdAt: c.createdAt, replies: [] }
          : withLazyHtml(
              {
                id: c.id,
                deleted: false,
                ...(c.appearance === 'anonymous' ? { anonymous: true as const, pseudonym: c.pseudonym ?? '' } : {}),
                author: stripBidi(c.authorName),
                ...(c.appearance === undefined && c.authorAvatar ? { avatar: `/avatars/${c.id}` } : {}),
                content: readableDiscordText(c.content, namesById),
                createdAt: c.createdAt,
                editedAt: c.editedAt,
                attachments: c.attachments
                  .map((a, index) => ({ a, index }))
                  .filter(({ a }) => typeof a?.url === 'string' && httpOnly(a.url))
                  .map(({ a, index }) => ({ url: a.url, index, name: String(a.name ?? 'attachment'), contentType: a.contentType ?? null })),
                replies: [],
              },
              c.content,
              namesById,
            ),
    );
  }
  const sorted = [...comments].sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.length - b.id.length || a.id.localeCompare(b.id));
  const roots: CommentNode[] = [];
  const parentOf = new Map<string, string>();
  for (const c of sorted) if (c.replyToId && c.replyToId !== c.id && nodes.has(c.replyToId)) parentOf.set(c.id, c.replyToId);
  // A chain that loops never reaches a root: cut it where it closes.
  for (const id of parentOf.keys()) {
    const seen = new Set<string>([id]);
    for (let p = parentOf.get(id); p !== undefined; p = parentOf.get(p)) {
      if (seen.has(p)) {
        parentOf.delete(id);
        break;
      }
      seen.add(p);
    }
  }
  for (const c of sorted) {
    const parent = parentOf.get(c.id);
    (parent ? nodes.get(parent)!.replies : roots).push(nodes.get(c.id)!);
  }
  return roots;
}

// ------------------------------------------------------------------ single posts

// The HTML-to-text of a post's summary (render/markdown.ts, with node-html-parser and node-html-markdown: ~2 MB of a
// process's heap) is loaded at the first post view, so a `web` process holds it only once it has served one.
const markdown = lazyImport(() => import('../render/markdown.ts'));
const plainText = async (html: string | null | undefined): Promise<string> => (await markdown()).plainText(html);

async function viewOf(db: Db, post: Post): Promise<PostView> {
  const [[summary], comments] = await Promise.all([summarizePosts(db, [post]), listComments(db, post.id)]);
  return {
    ...summary!,
    discussion: post.discussionClosedAt ? 'closed' : 'open',
    summary: await plainText(post.summaryHtml),
    imageUrl: post.imageUrl,
    comments: buildCommentTree(await presentForWeb(db, post, comments)),
  };
}

/** A served post by id (in one server when `guildId` is given), or null. */
export async function getPostView(db: Db, id: string, opts: { guildId?: string } = {}): Promise<PostView | null> {
  const post = await getPost(db, id);
  if (!isServed(post) || (opts.guildId && post.guildId !== opts.guildId)) return null;
  return viewOf(db, post);
}

/** A served post by its blog URL (the widget asks this way), or null. */
export async function getPostViewByUrl(db: Db, url: string, opts: { guildId?: string } = {}): Promise<PostView | null> {
  const post = await findServedPostByUrl(db, url, opts);
  return post ? viewOf(db, post) : null;
}

// ------------------------------------------------------------------ the web (HTTP API and widget)
//
// Only posts of feeds whose server put them on the web (`/web enable`) are served outside Discord; any other post
// is answered like an unknown one (null), so the web cannot tell them apart. A post whose announcement or thread
// was deleted in Discord is served as 'closed': the post without its discussion.

async function webViewOf(db: Db, post: Post): Promise<PostView> {
  if (post.discussionClosedAt) return { ...(await webPostHead(db, post)), comments: [] };
  return viewOf(db, post);
}

/**
 * What the web shows of a post besides its replies: a post whose discussion is closed has nothing of it, nor links
 * to a thread or announcement that are gone.
 */
export async function webPostHead(db: Db, post: Post): Promise<Omit<PostView, 'comments'>> {
  const [summary] = await summarizePosts(db, [post]);
  if (post.discussionClosedAt) {
    return {
      ...summary!,
      replies: 0,
      discord: { threadUrl: null, messageUrl: null },
      discussion: 'closed',
      summary: await plainText(post.summaryHtml),
      imageUrl: post.imageUrl,
    };
  }
  return { ...summary!, discussion: 'open', summary: await plainText(post.summaryHtml), imageUrl: post.imageUrl };
}

/** The post the web may serve by id or by blog URL (in one server when `guildId` is given), or null. */
export async function findWebPost(db: Db, ref: { id: string; guildId?: string } | { url: string; guildId?: string }): Promise<Post | null> {
  if ('url' in ref) return findServedPostByUrl(db, ref.url, { guildId: ref.guildId, webOnly: true });
  const post = await getPost(db, ref.id);
  if (!isServed(post) || (ref.guildId && post.guildId !== ref.guildId)) return null;
  return (await getFeed(db, post.feedId))?.webEnabled ? post : null;
}

/** A post the web may serve, by id (in one server when `guildId` is given), or null. */
export async function getWebPostView(db: Db, id: string, opts: { guildId?: string } = {}): Promise<PostView | null> {
  const post = await getPost(db, id);
  if (!isServed(post) || (opts.guildId && post.guildId !== opts.guildId)) return null;
  if (!(await getFeed(db, post.feedId))?.webEnabled) return null;
  return webViewOf(db, post);
}

/** A post the web may serve, by its blog URL (what the widget asks), or null. */
export async function getWebPostViewByUrl(db: Db, url: string, opts: { guildId?: string } = {}): Promise<PostView | null> {
  const post = await findServedPostByUrl(db, url, { ...opts, webOnly: true });
  return post ? webViewOf(db, post) : null;
}

/** A page of one server's posts the web may serve, newest first; `hasMore` tells whether another page exists. */
export async function pageWebPosts(db: Db, opts: { guildId: string; limit: number; offset: number }): Promise<{ posts: PostSummaryView[]; hasMore: boolean }> {
  const rows = await listPosts(db, { guildId: opts.guildId, states: [...SERVED_STATES], limit: opts.limit + 1, offset: opts.offset, webOnly: true });
  const posts = await summarizePosts(db, rows.slice(0, opts.limit));
  const closed = new Set(rows.filter((p) => p.discussionClosedAt).map((p) => p.id));
  return {
    posts: posts.map((p) => (closed.has(p.id) ? { ...p, replies: 0, discord: { threadUrl: null, messageUrl: null } } : p)),
    hasMore: rows.length > opts.limit,
  };
}

// ------------------------------------------------------------------ lists

export const LATEST_MAX = 10;

/** The newest served posts of a server. */
export async function latestPosts(db: Db, guildId: string, count = 5): Promise<PostSummaryView[]> {
  const limit = Math.max(1, Math.min(Math.floor(count), LATEST_MAX));
  return summarizePosts(db, await listPosts(db, { guildId, states: [...SERVED_STATES], limit }));
}

/** Ranked full-text search over a server's served posts. */
/** Whether a search query holds any word to search for (quotes, operators and punctuation only separate words). */
export function hasSearchWords(query: string): boolean {
  return searchTokens(query).length > 0;
}

export async function searchServedPosts(db: Db, guildId: string, query: string, limit = 5): Promise<PostSummaryView[]> {
  const hits = await searchPosts(db, guildId, query, { limit });
  return summarizePosts(
    db,
    hits.map((h) => h.post),
  );
}

export type TopPeriod = 'week' | 'month' | 'all';
export const PERIOD_DAYS: Record<Exclude<TopPeriod, 'all'>, number> = { week: 7, month: 30 };
export const TOP_MAX = 10;
/** How many served posts of a server `/blog top` looks at (newest first). */
const TOP_SCAN = 1000;

export interface TopPosts {
  posts: Array<PostSummaryView & { score: number }>;
  /** The prior mean C: the server's mean rating (all time), or DEFAULT_PRIOR_MEAN without ratings. */
  priorMean: number;
  priorWeight: number;
  /** Posts published since (null = all time). */
  since: string | null;
}

/**
 * The top-rated posts published in the period, by the Bayesian average shared with the digest
 * (rankTopRated): each post's ratings plus PRIOR_WEIGHT ratings at the server's mean. Unrated posts are left out.
 */
export async function topPosts(db: Db, guildId: string, period: TopPeriod, now = new Date()): Promise<TopPosts> {
  const since = period === 'all' ? null : new Date(now.getTime() - PERIOD_DAYS[period] * 86_400_000).toISOString();
  const recent = (await listPosts(db, { guildId, states: [...SERVED_STATES], limit: TOP_SCAN })).filter(
    (p) => !since || (p.publishedAt ?? p.discoveredAt) >= since,
  );
  const summaries = await summarizePosts(db, recent);
  const priorMean = (await guildMeanRating(db, guildId, '1970-01-01T00:00:00.000Z')) ?? DEFAULT_PRIOR_MEAN;
  const rankable = summaries.map((s) => ({
    ...s,
    ratingCount: s.rating.count,
    ratingSum: Object.entries(s.rating.distribution).reduce((sum, [stars, n]) => sum + Number(stars) * n, 0),
  }));
  const ranked = rankTopRated(rankable, priorMean).slice(0, TOP_MAX);
  return {
    posts: ranked.map(({ ratingCount: _c, ratingSum: _s, ...rest }) => rest),
    priorMean,
    priorWeight: PRIOR_WEIGHT,
    since,
  };
}

// ------------------------------------------------------------------ picking a post (/blog show)

/** Autocomplete choices: title (≤ 100 characters) → post id. */
export async function suggestPosts(db: Db, guildId: string, typed: string): Promise<Array<{ name: string; value: string }>> {
  const posts = await findPostsByTitle(db, guildId, typed, 25);
  return posts.map((p) => ({ name: (stripBidi(p.title).trim() || p.url || 'Untitled post').slice(0, 100), value: p.id }));
}

/**
 * What a person picked or typed for `post`: an id from autocomplete, a blog URL, or free text (the best
 * title match, else the best search hit). Only the server's served posts; null when nothing matches.
 */
export async function resolvePost(db: Db, guildId: string, input: string): Promise<PostView | null> {
  const text = stripControls(input).trim();
  if (!text) return null;
  const byId = await getPostView(db, text, { guildId });
  if (byId) return byId;
  if (/^https?:\/\//i.test(text)) {
    const byUrl = await getPostViewByUrl(db, text, { guildId });
    if (byUrl) return byUrl;
  }
  const [byTitle] = await findPostsByTitle(db, guildId, text, 1);
  if (byTitle) return viewOf(db, byTitle);
  const [hit] = await searchPosts(db, guildId, text, { limit: 1 });
  return hit ? viewOf(db, hit.post) : null;
}
