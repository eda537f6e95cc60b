// The version of what the web shows of a post (migration 017): one indexed lookup that also decides whether the post
// is served at all (a known or skipped post, a feed not on the web: null, like an unknown post).
import type { CompiledQuery } from 'kysely';
import type { Db } from '../db/index.ts';
import { canonicalLink } from '../feeds/canonical-link.ts';

export interface WebStamp {
  postId: string;
  /** `${postId}:${post version}:${server version}`: equal stamps, equal answers. */
  stamp: string;
}

export type WebPostRef = { id: string; guildId?: string } | { url: string; guildId?: string };

/** By id; by URL, any two matching posts (no sort); by URL, the first by findServedPostByUrl's order. */
type StampShape = 'id' | 'url-any' | 'url';

/** Stand-ins for the values of one lookup, replaced in the compiled query's parameters (never a real id or link). */
const HOLE = { key: '\u0000blogcord:key', guild: '\u0000blogcord:guild' } as const;

/**
 * The stamp query of one shape (by id or by URL, with or without a server), built and compiled once per database: the
 * web routes read a stamp on every request, and building the query with Kysely cost more than running it (SQLite:
 * ~27 µs to build and compile, ~19 µs to run, in process). Each lookup is the compiled query with its values put in.
 */
function stampQuery(db: Db, shape: StampShape, byGuild: boolean): CompiledQuery<StampRow> {
  let queries = compiledStamps.get(db.kysely);
  if (!queries) compiledStamps.set(db.kysely, (queries = new Map()));
  const name = `${shape}${byGuild ? '+guild' : ''}`;
  let compiled = queries.get(name);
  if (!compiled) {
    let q = db.kysely
      .selectFrom('posts as p')
      .innerJoin('feeds as f', 'f.id', 'p.feed_id')
      .leftJoin('web_post_versions as v', 'v.post_id', 'p.id')
      .leftJoin('web_guild_versions as g', 'g.guild_id', 'p.guild_id')
      .select(['p.id as id', 'v.version as pv', 'g.version as gv'])
      .where('f.web_enabled', '=', 1)
      .where('p.publish_state', 'not in', ['known', 'skipped']);
    if (byGuild) q = q.where('p.guild_id', '=', HOLE.guild);
    if (shape === 'id') q = q.where('p.id', '=', HOLE.key);
    else if (shape === 'url-any') q = q.where('p.canonical_link', '=', HOLE.key);
    else {
      q = q
        .where('p.canonical_link', '=', HOLE.key)
        .orderBy((eb) => eb.case().when('p.thread_id', 'is not', null).then(0).else(1).end())
        .orderBy('p.discovered_at')
        .orderBy('p.id');
    }
    compiled = q.limit(shape === 'url-any' ? 2 : 1).compile();
    queries.set(name, compiled);
  }
  return compiled;
}

interface StampRow {
  id: string;
  pv: number | string | null;
  gv: number | string | null;
}

const compiledStamps = new WeakMap<Db['kysely'], Map<string, CompiledQuery<StampRow>>>();

/**
 * The stamp of the post the web would serve for `ref` (by id, or by blog URL with the same choice as
 * findServedPostByUrl: a post with a thread first, then the first discovered), or null when none is served.
 */
export async function webStamp(db: Db, ref: WebPostRef): Promise<WebStamp | null> {
  let key: string;
  if ('id' in ref) key = ref.id;
  else {
    const link = canonicalLink(ref.url);
    if (!link) return null;
    key = link;
  }
  const run = async (shape: StampShape) => {
    const query = stampQuery(db, shape, Boolean(ref.guildId));
    const parameters = query.parameters.map((p) => (p === HOLE.key ? key : p === HOLE.guild ? ref.guildId : p));
    return (await db.kysely.executeQuery<StampRow>({ ...query, parameters })).rows;
  };
  let rows = await run('id' in ref ? 'id' : 'url-any');
  // A link almost always names one post: the order that picks among several (a sort SQLite runs in a temporary
  // B-tree, ~20 µs of a ~50 µs lookup) is asked for only when there are several.
  if (rows.length > 1) rows = await run('url');
  const row = rows[0];
  return row ? { postId: row.id, stamp: `${row.id}:${String(row.pv ?? 0)}:${String(row.gv ?? 0)}` } : null;
}
