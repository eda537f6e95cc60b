import { sql } from 'kysely';
import { withoutJit, type Db } from '../db/index.ts';
import { emptySummary, isStars, type RatingSummary, type Stars } from '../domain/rating.ts';
import { relation } from './relation.ts';

export interface Rating {
  postId: string;
  userId: string;
  stars: Stars;
  updatedAt: string;
}

/** The server of the post, read in the statement that writes the rating (ratings carry it for the digest). */
const guildOfPost = (postId: string) => sql<string | null>`(select p.guild_id from posts p where p.id = ${postId})`;

/** A person's rating of a post, as a key. */
export interface RatingKey {
  postId: string;
  userId: string;
}

const pairs = (db: Db, keys: readonly RatingKey[]) =>
  relation(db, 'k', [
    { name: 'post_id', pgType: 'text', values: keys.map((k) => k.postId) },
    { name: 'user_id', pgType: 'text', values: keys.map((k) => k.userId) },
  ]);

/** The ratings of these (post, person) pairs that exist, in one query. */
export async function getRatingsOf(db: Db, keys: readonly RatingKey[]): Promise<Rating[]> {
  if (keys.length === 0) return [];
  const { rows } = await sql<{ post_id: string; user_id: string; stars: number; updated_at: string }>`select r.post_id, r.user_id, r.stars, r.updated_at
    from ${pairs(db, keys)} join ratings r on r.post_id = k.post_id and r.user_id = k.user_id`.execute(db.kysely);
  // A pair asked for twice is one rating.
  return [
    ...new Map(
      rows.map((r) => [`${r.post_id}:${r.user_id}`, { postId: r.post_id, userId: r.user_id, stars: r.stars as Stars, updatedAt: r.updated_at }]),
    ).values(),
  ];
}

/**
 * Writes the final state of a batch of ratings: `set` upserted, `removed` deleted, one statement each. A key
 * must appear once: in `set` or in `removed`.
 */
export async function writeRatings(db: Db, set: readonly Rating[], removed: readonly RatingKey[]): Promise<void> {
  for (const r of set) if (!isStars(r.stars)) throw new RangeError(`a rating is 1–5 stars, got ${String(r.stars)}`);
  if (set.length) {
    const v = relation(db, 'v', [
      { name: 'post_id', pgType: 'text', values: set.map((r) => r.postId) },
      { name: 'user_id', pgType: 'text', values: set.map((r) => r.userId) },
      { name: 'stars', pgType: 'int', values: set.map((r) => r.stars) },
      { name: 'updated_at', pgType: 'text', values: set.map((r) => r.updatedAt) },
    ]);
    // `where true`: SQLite needs it to tell the upsert's `on conflict` from the join's `on`.
    await sql`insert into ratings (post_id, guild_id, user_id, stars, updated_at)
      select v.post_id, p.guild_id, v.user_id, v.stars, v.updated_at from ${v} left join posts p on p.id = v.post_id
      where true
      on conflict (post_id, user_id) do update set stars = excluded.stars, updated_at = excluded.updated_at`.execute(db.kysely);
  }
  if (removed.length) await sql`delete from ratings where (post_id, user_id) in (select k.post_id, k.user_id from ${pairs(db, removed)})`.execute(db.kysely);
}

/** Remove-all (every reaction cleared) or remove-emoji (one keycap cleared). */
export async function removeRatings(db: Db, postId: string, stars?: Stars): Promise<number> {
  let q = db.kysely.deleteFrom('ratings').where('post_id', '=', postId);
  if (stars !== undefined) q = q.where('stars', '=', stars);
  const res = await q.executeTakeFirst();
  return Number(res.numDeletedRows);
}

export async function listRatings(db: Db, postId: string): Promise<Rating[]> {
  const rows = await db.kysely.selectFrom('ratings').selectAll().where('post_id', '=', postId).orderBy('updated_at').orderBy('user_id').execute();
  return rows.map((r) => ({ postId: r.post_id, userId: r.user_id, stars: r.stars as Stars, updatedAt: r.updated_at }));
}

/**
 * Average, count and distribution per post, from one grouped query. Every consumer (announcement,
 * export, /blog show, digest, HTTP API) uses this, so they never disagree.
 */
export async function getRatingSummaries(db: Db, postIds: readonly string[]): Promise<Map<string, RatingSummary>> {
  const out = new Map<string, RatingSummary>(postIds.map((id) => [id, emptySummary()]));
  if (postIds.length === 0) return out;
  const rows = await db.kysely
    .selectFrom('ratings')
    .select(['post_id', 'stars', (eb) => eb.fn.countAll<number>().as('n')])
    .where('post_id', 'in', postIds)
    .groupBy(['post_id', 'stars'])
    .execute();
  for (const r of rows) {
    const s = out.get(r.post_id)!;
    const n = Number(r.n);
    s.distribution[String(r.stars) as keyof RatingSummary['distribution']] += n;
    s.count += n;
    s.average += n * r.stars;
  }
  for (const s of out.values()) s.average = s.count ? Math.round((s.average / s.count) * 100) / 100 : 0;
  return out;
}

export async function getRatingSummary(db: Db, postId: string): Promise<RatingSummary> {
  return (await getRatingSummaries(db, [postId])).get(postId)!;
}

/** The mean of a server's ratings updated since `sinceIso` (the digest's prior C), or null when there are none. */
export async function guildMeanRating(db: Db, guildId: string, sinceIso: string): Promise<number | null> {
  // One range scan of the covering index ratings(guild_id, updated_at, post_id, stars) (migration 004).
  const row = await withoutJit(db, (d) =>
    d.kysely
      .selectFrom('ratings')
      .select([(eb) => eb.fn.sum<number>('stars').as('sum'), (eb) => eb.fn.countAll<number>().as('n')])
      .where('guild_id', '=', guildId)
      .where('updated_at', '>=', sinceIso)
      .executeTakeFirst(),
  );
  const n = Number(row?.n ?? 0);
  return n > 0 ? Number(row?.sum) / n : null;
}

/** What a reconciliation saw of a rating before deciding (null: no rating). */
export type RatingSnapshot = Pick<Rating, 'stars' | 'updatedAt'> | null;

/**
 * Sets a rating only if it is still as `seen` (no rating, or the same stars and time), so a recount that
 * read Discord a moment ago never overwrites a newer rating written by a live reaction event. Returns
 * whether it wrote.
 */
export async function setRatingIfUnchanged(db: Db, postId: string, userId: string, stars: Stars, at: string, seen: RatingSnapshot): Promise<boolean> {
  if (!isStars(stars)) throw new RangeError(`a rating is 1–5 stars, got ${String(stars)}`);
  if (seen === null) {
    const res = await db.kysely
      .insertInto('ratings')
      .values({ post_id: postId, guild_id: guildOfPost(postId), user_id: userId, stars, updated_at: at })
      .onConflict((oc) => oc.columns(['post_id', 'user_id']).doNothing())
      .executeTakeFirst();
    return Number(res.numInsertedOrUpdatedRows ?? 0) > 0;
  }
  const res = await db.kysely
    .updateTable('ratings')
    .set({ stars, updated_at: at })
    .where('post_id', '=', postId)
    .where('user_id', '=', userId)
    .where('stars', '=', seen.stars)
    .where('updated_at', '=', seen.updatedAt)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}

/** Removes a rating only if it is still as `seen` (same stars and time). Returns whether it removed. */
export async function removeRatingIfUnchanged(db: Db, postId: string, userId: string, seen: NonNullable<RatingSnapshot>): Promise<boolean> {
  const res = await db.kysely
    .deleteFrom('ratings')
    .where('post_id', '=', postId)
    .where('user_id', '=', userId)
    .where('stars', '=', seen.stars)
    .where('updated_at', '=', seen.updatedAt)
    .executeTakeFirst();
  return Number(res.numDeletedRows) > 0;
}
