// The version of what the web shows of a post (migration 017): one indexed lookup that also decides whether the post
// is served at all (a known or skipped post, a feed not on the web: null, like an unknown post).
import type { Db } from '../db/index.ts';
import { canonicalLink } from '../feeds/canonical-link.ts';

export interface WebStamp {
  postId: string;
  /** `${postId}:${post version}:${server version}`: equal stamps, equal answers. */
  stamp: string;
}

export type WebPostRef = { id: string; guildId?: string } | { url: string; guildId?: string };

/**
 * The stamp of the post the web would serve for `ref` (by id, or by blog URL with the same choice as
 * findServedPostByUrl: a post with a thread first, then the first discovered), or null when none is served.
 */
export async function webStamp(db: Db, ref: WebPostRef): Promise<WebStamp | null> {
  let q = db.kysely
    .selectFrom('posts as p')
    .innerJoin('feeds as f', 'f.id', 'p.feed_id')
    .leftJoin('web_post_versions as v', 'v.post_id', 'p.id')
    .leftJoin('web_guild_versions as g', 'g.guild_id', 'p.guild_id')
    .select(['p.id as id', 'v.version as pv', 'g.version as gv'])
    .where('f.web_enabled', '=', 1)
    .where('p.publish_state', 'not in', ['known', 'skipped']);
  if (ref.guildId) q = q.where('p.guild_id', '=', ref.guildId);
  if ('id' in ref) q = q.where('p.id', '=', ref.id);
  else {
    const link = canonicalLink(ref.url);
    if (!link) return null;
    q = q
      .where('p.canonical_link', '=', link)
      .orderBy((eb) => eb.case().when('p.thread_id', 'is not', null).then(0).else(1).end())
      .orderBy('p.discovered_at')
      .orderBy('p.id');
  }
  const row = await q.limit(1).executeTakeFirst();
  return row ? { postId: row.id, stamp: `${row.id}:${String(row.pv ?? 0)}:${String(row.gv ?? 0)}` } : null;
}
