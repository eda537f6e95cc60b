// Member privacy (migration 008): each member's choice of how they appear on the web per server, the
// per-server list of forgotten members (keyed hashes, never ids), the secret of those hashes, and the
// erasure of a member's data in one server.
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { withTransaction, type Db } from '../db/index.ts';
import { textList } from './relation.ts';

export const APPEARANCES = ['named', 'anonymous', 'hidden'] as const;
export type Appearance = (typeof APPEARANCES)[number];

export const isAppearance = (value: unknown): value is Appearance => typeof value === 'string' && (APPEARANCES as readonly string[]).includes(value);

const SECRET_NAME = 'member-hash';

/** How many attachments a comment's stored JSON lists (0 for anything unreadable). */
function attachmentCount(json: string): number {
  try {
    const value: unknown = JSON.parse(json);
    return Array.isArray(value) ? value.length : 0;
  } catch {
    return 0;
  }
}

/**
 * The secret that keys the forgotten members' hashes and the anonymous pseudonyms. Migration 008 generates it;
 * a database that lost the row gets a new one here (every process then reads the same row).
 */
export async function getPrivacySecret(db: Db): Promise<string> {
  const read = () => db.kysely.selectFrom('privacy_secrets').select('secret').where('name', '=', SECRET_NAME).executeTakeFirst();
  const row = await read();
  if (row) return row.secret;
  await db.kysely
    .insertInto('privacy_secrets')
    .values({ name: SECRET_NAME, secret: randomBytes(32).toString('base64url'), created_at: new Date().toISOString() })
    .onConflict((oc) => oc.column('name').doNothing())
    .execute();
  return (await read())!.secret;
}

/** A member's choice in a server ('named' when they never chose). */
export async function getAppearance(db: Db, guildId: string, userId: string): Promise<Appearance> {
  const row = await db.kysely.selectFrom('member_privacy').select('show').where('guild_id', '=', guildId).where('user_id', '=', userId).executeTakeFirst();
  return isAppearance(row?.show) ? row.show : 'named';
}

export async function setAppearance(db: Db, guildId: string, userId: string, show: Appearance, at: string): Promise<void> {
  if (!isAppearance(show)) throw new RangeError(`an appearance is one of ${APPEARANCES.join(', ')}, got ${String(show)}`);
  await db.kysely
    .insertInto('member_privacy')
    .values({ guild_id: guildId, user_id: userId, show, updated_at: at })
    .onConflict((oc) => oc.columns(['guild_id', 'user_id']).doUpdateSet({ show, updated_at: at }))
    .execute();
}

/** The choices other than 'named' of these members in a server, in one query. */
export async function getAppearances(db: Db, guildId: string, userIds: readonly string[]): Promise<Map<string, Appearance>> {
  const out = new Map<string, Appearance>();
  const ids = [...new Set(userIds.filter((id) => id !== ''))];
  if (ids.length === 0) return out;
  const rows = await db.kysely
    .selectFrom('member_privacy')
    .select(['user_id', 'show'])
    .where('guild_id', '=', guildId)
    .where('user_id', 'in', textList(db, ids))
    .where('show', '<>', 'named')
    .execute();
  for (const r of rows) if (isAppearance(r.show)) out.set(r.user_id, r.show);
  return out;
}

/** Of these posts, those whose server has forgotten members, with that server (usually none: one query). */
export async function postsInGuildsWithForgotten(db: Db, postIds: readonly string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const ids = [...new Set(postIds)];
  if (ids.length === 0) return out;
  const rows = await db.kysely
    .selectFrom('posts as p')
    .select(['p.id', 'p.guild_id'])
    .where('p.id', 'in', textList(db, ids))
    .where(({ exists, selectFrom }) =>
      exists(
        selectFrom('forgotten_members as f')
          .select(sql`1`.as('one'))
          .whereRef('f.guild_id', '=', 'p.guild_id'),
      ),
    )
    .execute();
  for (const r of rows) out.set(r.id, r.guild_id);
  return out;
}

/** Every hash on the server's list of forgotten members (a short list: one row per erasure request). */
export async function listForgottenHashes(db: Db, guildId: string): Promise<Set<string>> {
  const rows = await db.kysely.selectFrom('forgotten_members').select('user_hash').where('guild_id', '=', guildId).execute();
  return new Set(rows.map((r) => r.user_hash));
}

/** Which of these hashes are on the server's list of forgotten members. */
export async function forgottenHashes(db: Db, guildId: string, hashes: readonly string[]): Promise<Set<string>> {
  if (hashes.length === 0) return new Set();
  const rows = await db.kysely
    .selectFrom('forgotten_members')
    .select('user_hash')
    .where('guild_id', '=', guildId)
    .where('user_hash', 'in', textList(db, [...new Set(hashes)]))
    .execute();
  return new Set(rows.map((r) => r.user_hash));
}

/** What is stored about a member in a server. */
export interface MemberFootprint {
  /** Live comments (their text, name and attachments are stored). */
  comments: number;
  /** Attachments of those comments. */
  attachments: number;
  /** Ratings (one per post). */
  ratings: number;
}

export async function getMemberFootprint(db: Db, guildId: string, userId: string): Promise<MemberFootprint> {
  const [comments, ratings] = await Promise.all([
    db.kysely
      .selectFrom('comments')
      .select('attachments')
      .where('guild_id', '=', guildId)
      .where('author_id', '=', userId)
      .where('deleted_at', 'is', null)
      .execute(),
    db.kysely
      .selectFrom('ratings')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('guild_id', '=', guildId)
      .where('user_id', '=', userId)
      .executeTakeFirst(),
  ]);
  return {
    comments: comments.length,
    attachments: comments.reduce((n, c) => n + attachmentCount(c.attachments), 0),
    ratings: Number(ratings?.n ?? 0),
  };
}

/** A rating the erasure removed, with where its reaction is (for the bot to remove it). */
export interface ErasedRating {
  postId: string;
  stars: number;
  channelId: string | null;
  messageId: string | null;
}

export interface MemberErasure extends MemberFootprint {
  /** Tombstones of the member's comments that still carried their id (erased too). */
  tombstones: number;
  erasedRatings: ErasedRating[];
  /** The posts whose discussion or ratings changed (their announcements need a refresh). */
  postIds: string[];
}

/**
 * Erases a member in one server, in one transaction: every comment of theirs becomes an erased tombstone (text,
 * name, id, attachments and edit time gone; id, reply parent and times stay so the tree holds), their ratings are
 * deleted, and `userHash` joins the server's forgotten members so recounts and reactions never bring them back.
 */
export async function eraseMember(db: Db, guildId: string, userId: string, userHash: string, at: string): Promise<MemberErasure> {
  return withTransaction(db, async (tx) => {
    await tx.kysely
      .insertInto('forgotten_members')
      .values({ guild_id: guildId, user_hash: userHash, forgotten_at: at })
      .onConflict((oc) => oc.columns(['guild_id', 'user_hash']).doUpdateSet({ forgotten_at: at }))
      .execute();
    const comments = await tx.kysely
      .selectFrom('comments')
      .select(['post_id', 'attachments', 'deleted_at'])
      .where('guild_id', '=', guildId)
      .where('author_id', '=', userId)
      .execute();
    const ratings = await tx.kysely
      .selectFrom('ratings as r')
      .leftJoin('posts as p', 'p.id', 'r.post_id')
      .select(['r.post_id', 'r.stars', 'p.channel_id', 'p.message_id'])
      .where('r.guild_id', '=', guildId)
      .where('r.user_id', '=', userId)
      .execute();
    if (comments.length) {
      await tx.kysely
        .updateTable('comments')
        .set({
          content: '',
          author_id: '',
          author_name: '',
          author_avatar: null,
          attachments: '[]',
          edited_at: null,
          deleted_at: sql<string>`coalesce(deleted_at, ${at})`,
        })
        .where('guild_id', '=', guildId)
        .where('author_id', '=', userId)
        .execute();
    }
    if (ratings.length) await tx.kysely.deleteFrom('ratings').where('guild_id', '=', guildId).where('user_id', '=', userId).execute();
    const live = comments.filter((c) => c.deleted_at === null);
    return {
      comments: live.length,
      attachments: live.reduce((n, c) => n + attachmentCount(c.attachments), 0),
      tombstones: comments.length - live.length,
      ratings: ratings.length,
      erasedRatings: ratings.map((r) => ({ postId: r.post_id, stars: r.stars, channelId: r.channel_id, messageId: r.message_id })),
      postIds: [...new Set([...live.map((c) => c.post_id), ...ratings.map((r) => r.post_id)])],
    };
  });
}
