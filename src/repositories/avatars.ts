// Where a comment's avatar may be served from: only a live comment of a public post (feed on the web, discussion
// open) whose author has an avatar and did not choose anonymous or hidden. Erased and forgotten authors have none.
import type { Db } from '../db/index.ts';

export interface AvatarSource {
  authorId: string;
  guildId: string;
  /** 'g:<hash>' (the member's server avatar) or 'u:<hash>' (the user's). */
  avatar: string;
}

export async function getWebAvatarSource(db: Db, commentId: string): Promise<AvatarSource | null> {
  const row = await db.kysely
    .selectFrom('comments as c')
    .innerJoin('posts as p', 'p.id', 'c.post_id')
    .innerJoin('feeds as f', 'f.id', 'p.feed_id')
    .leftJoin('member_privacy as m', (j) => j.onRef('m.guild_id', '=', 'p.guild_id').onRef('m.user_id', '=', 'c.author_id'))
    .select(['c.author_id as authorId', 'p.guild_id as guildId', 'c.author_avatar as avatar', 'm.show as show'])
    .where('c.id', '=', commentId)
    .where('c.deleted_at', 'is', null)
    .where('c.author_avatar', 'is not', null)
    .where('c.author_id', '<>', '')
    .where('f.web_enabled', '=', 1)
    .where('p.publish_state', 'not in', ['known', 'skipped'])
    .where('p.discussion_closed_at', 'is', null)
    .executeTakeFirst();
  if (!row?.avatar || (row.show !== null && row.show !== 'named')) return null;
  return { authorId: row.authorId, guildId: row.guildId, avatar: row.avatar };
}
