// Read-side queries for serving posts back (`/blog` and the HTTP API): ranked full-text search, title
// autocomplete and the lookup by blog URL. Only served posts: a server's own posts that are not 'known'
// (items seen when a feed was added and deliberately never published).
//
// Search runs on what migration 2026-11-29_002_search built: an FTS5 table kept in sync by triggers on
// SQLite (ranked with bm25, title weighted 10:1), a GIN index on a weighted tsvector on PostgreSQL (ranked
// with ts_rank, title A / text B). The same query language on both: the words of the query (letters,
// digits and combining marks; everything else — quotes, operators, punctuation — only separates words)
// must all occur, each as a word prefix ("ring" finds "Rings"). Nothing a person types can reach the
// FTS5 or tsquery syntax, so no query throws.
import { sql } from 'kysely';
import type { Db } from '../db/index.ts';
import type { PostRow } from '../db/schema.ts';
import { canonicalLink } from '../feeds/canonical-link.ts';
import { stripControls } from '../feeds/clean.ts';
import { toPost, type Post, type PublishState } from './posts.ts';

/** Every state but 'known' and 'skipped' (never meant to be published): the posts blogcord serves back. */
export const SERVED_STATES: readonly PublishState[] = ['pending', 'announced', 'threaded', 'published', 'failed'];

const MAX_TOKENS = 12;
const MAX_TOKEN_LENGTH = 64;

/** Operators of FTS5 and web search syntax, when written in capitals: syntax a person tried, not words to find. */
const OPERATORS = new Set(['AND', 'OR', 'NOT', 'NEAR']);

/**
 * The words of a search query, lower-cased (at most 12, each at most 64 characters); [] when it has none.
 * Capitalised AND/OR/NOT/NEAR are dropped (every remaining word must match anyway).
 */
export function searchTokens(query: string): string[] {
  const words = (query.normalize('NFKC').match(/[\p{L}\p{N}\p{M}]+/gu) ?? []).filter((w) => !OPERATORS.has(w));
  const unique = [...new Set(words.map((w) => w.toLowerCase().slice(0, MAX_TOKEN_LENGTH)))];
  return unique.slice(0, MAX_TOKENS);
}

export interface SearchHit {
  post: Post;
  /** Higher is better (bm25 is negated on SQLite so both engines sort the same way). */
  rank: number;
}

// Repeats the indexed expression of the migration exactly, so PostgreSQL uses posts_search_idx.
const PG_SEARCH_VECTOR = sql`(setweight(to_tsvector('simple', coalesce(title, '')), 'A') || setweight(to_tsvector('simple', coalesce(search_text, '')), 'B'))`;

/** Served posts of one server matching every word of `query`, best first (then newest). */
export async function searchPosts(db: Db, guildId: string, query: string, opts: { limit?: number; offset?: number } = {}): Promise<SearchHit[]> {
  const tokens = searchTokens(query);
  if (tokens.length === 0) return [];
  const limit = Math.max(1, Math.min(opts.limit ?? 10, 100));
  const offset = Math.max(0, opts.offset ?? 0);
  type Row = PostRow & { rank: number };
  let rows: Row[];
  if (db.dialect === 'sqlite') {
    // Each token becomes a quoted FTS5 string with a prefix star: "wechat"* "ring"* (implicit AND).
    const match = tokens.map((t) => `"${t.replaceAll('"', '""')}"*`).join(' ');
    const result = await sql<Row>`
      select posts.*, -bm25(posts_fts, 0.0, 10.0, 1.0) as rank
      from posts_fts join posts on posts.id = posts_fts.post_id
      where posts_fts match ${match} and posts.guild_id = ${guildId} and posts.publish_state not in ('known', 'skipped')
      order by rank desc, coalesce(posts.published_at, posts.discovered_at) desc, posts.id
      limit ${limit} offset ${offset}`.execute(db.kysely);
    rows = result.rows;
  } else {
    // Tokens hold only letters, digits and marks, so 'a:* & b:*' is always a valid tsquery.
    const tsquery = tokens.map((t) => `${t}:*`).join(' & ');
    const result = await sql<Row>`
      select posts.*, ts_rank(${PG_SEARCH_VECTOR}, q) as rank
      from posts, to_tsquery('simple', ${tsquery}) as q
      where ${PG_SEARCH_VECTOR} @@ q and posts.guild_id = ${guildId} and posts.publish_state not in ('known', 'skipped')
      order by rank desc, coalesce(posts.published_at, posts.discovered_at) desc, posts.id
      limit ${limit} offset ${offset}`.execute(db.kysely);
    rows = result.rows;
  }
  return rows.map(({ rank, ...row }) => ({ post: toPost(row as PostRow), rank: Number(rank) }));
}

/** `%`, `_` and `\` taken literally in a LIKE pattern (with `escape '\'`). */
function likeLiteral(text: string): string {
  return text.replace(/[\\%_]/g, '\\$&');
}

/**
 * Served posts of one server whose title contains `typed` (case-insensitive), titles starting with it
 * first, then newest; the newest posts when nothing is typed. For autocomplete (at most 25 choices).
 * Control characters typed are dropped (PostgreSQL refuses NUL in text; SQLite's LIKE would stop at it).
 */
export async function findPostsByTitle(db: Db, guildId: string, typed: string, limit = 25): Promise<Post[]> {
  const text = stripControls(typed).trim().toLowerCase().slice(0, 100);
  let q = db.kysely.selectFrom('posts').selectAll().where('guild_id', '=', guildId).where('publish_state', 'not in', ['known', 'skipped']);
  if (text) {
    const lowerTitle = sql<string>`lower(title)`;
    q = q
      .where(sql<boolean>`${lowerTitle} like ${`%${likeLiteral(text)}%`} escape '\\'`)
      .orderBy(sql`case when ${lowerTitle} like ${`${likeLiteral(text)}%`} escape '\\' then 0 else 1 end`);
  }
  const rows = await q
    .orderBy((eb) => eb.fn.coalesce('published_at', 'discovered_at'), 'desc')
    .orderBy('id')
    .limit(Math.max(1, Math.min(limit, 100)))
    .execute();
  return rows.map(toPost);
}

/**
 * The served post at a blog URL, optionally in one server: any link naming the same article (`canonicalLink`:
 * host case, http/https, #fragment, trailing slash, tracking parameters and parameter order do not matter); a
 * post with a discussion thread wins over one without, then the earliest discovered. With `webOnly`, only posts of
 * feeds whose server put them on the web (`/web enable`).
 */
export async function findServedPostByUrl(db: Db, url: string, opts: { guildId?: string; webOnly?: boolean } = {}): Promise<Post | null> {
  const link = canonicalLink(url);
  if (!link) return null;
  let q = db.kysely.selectFrom('posts').selectAll().where('canonical_link', '=', link).where('publish_state', 'not in', ['known', 'skipped']);
  if (opts.guildId) q = q.where('guild_id', '=', opts.guildId);
  if (opts.webOnly) q = q.where('feed_id', 'in', (eb) => eb.selectFrom('feeds').select('feeds.id').where('feeds.web_enabled', '=', 1));
  const row = await q
    .orderBy((eb) => eb.case().when('thread_id', 'is not', null).then(0).else(1).end())
    .orderBy('discovered_at')
    .orderBy('id')
    .executeTakeFirst();
  return row ? toPost(row) : null;
}
