import { sql } from 'kysely';
import { withTransaction, type Db } from '../db/index.ts';

export type Stars = 1 | 2 | 3 | 4 | 5;

export interface RatingSummary {
  average: number;
  count: number;
  distribution: Record<'1' | '2' | '3' | '4' | '5', number>;
}

export interface Rating {
  postId: string;
  userId: string;
  stars: Stars;
  updatedAt: string;
}

export const emptySummary = (): RatingSummary => ({ average: 0, count: 0, distribution: { '1': 0, '2': 0, '3': 0, '4': 0, '5': 0 } });

/** The server of the post, read in the statement that writes the rating (ratings carry it for the digest). */
const guildOfPost = (postId: string) => sql<string | null>`(select p.guild_id from posts p where p.id = ${postId})`;

export function isStars(n: number): n is Stars {
  return Number.isInteger(n) && n >= 1 && n <= 5;
}

/** One rating per person and post; the latest wins. */
export async function setRating(db: Db, postId: string, userId: string, stars: Stars, at: string): Promise<void> {
  if (!isStars(stars)) throw new RangeError(`a rating is 1–5 stars, got ${String(stars)}`);
  await db.kysely
    .insertInto('ratings')
    .values({ post_id: postId, guild_id: guildOfPost(postId), user_id: userId, stars, updated_at: at })
    .onConflict((oc) => oc.columns(['post_id', 'user_id']).doUpdateSet({ stars, updated_at: at }))
    .execute();
}

/** A person's rating of a post, as a key. */
export interface RatingKey {
  postId: string;
  userId: string;
}

const PAIR_CHUNK = 400;

/** (post, person) pairs as post → people, for `post_id = ? and user_id in (…)` conditions. */
function usersByPost(keys: readonly RatingKey[]): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const k of keys) {
    let users = out.get(k.postId);
    if (!users) out.set(k.postId, (users = new Set()));
    users.add(k.userId);
  }
  return out;
}

/** The ratings of these (post, person) pairs that exist: one query (SQLite: one per 400 pairs). */
export async function getRatingsOf(db: Db, keys: readonly RatingKey[]): Promise<Rating[]> {
  const out: Rating[] = [];
  const toRating = (r: { post_id: string; user_id: string; stars: number; updated_at: string }): Rating => ({ postId: r.post_id, userId: r.user_id, stars: r.stars as Stars, updatedAt: r.updated_at });
  if (keys.length === 0) return out;
  if (db.dialect === 'postgres') {
    // The pairs as two arrays: one short plan, however many pairs.
    const { rows } = await sql<{ post_id: string; user_id: string; stars: number; updated_at: string }>`select r.post_id, r.user_id, r.stars, r.updated_at from ratings r
      join unnest(${keys.map((k) => k.postId)}::text[], ${keys.map((k) => k.userId)}::text[]) as k(post_id, user_id) on r.post_id = k.post_id and r.user_id = k.user_id`.execute(db.kysely);
    return [...new Map(rows.map((r) => [`${r.post_id}:${r.user_id}`, toRating(r)])).values()];
  }
  for (let i = 0; i < keys.length; i += PAIR_CHUNK) {
    const rows = await db.kysely
      .selectFrom('ratings')
      .selectAll()
      .where((eb) => eb.or([...usersByPost(keys.slice(i, i + PAIR_CHUNK))].map(([postId, users]) => eb.and([eb('post_id', '=', postId), eb('user_id', 'in', [...users])]))))
      .execute();
    out.push(...rows.map(toRating));
  }
  return out;
}

/**
 * Writes the final state of a batch of ratings: `set` upserted, `removed` deleted (SQLite: statements of at
 * most 400 rows). A key must appear once: in `set` or in `removed`.
 */
export async function writeRatings(db: Db, set: readonly Rating[], removed: readonly RatingKey[]): Promise<void> {
  for (const r of set) if (!isStars(r.stars)) throw new RangeError(`a rating is 1–5 stars, got ${String(r.stars)}`);
  if (db.dialect === 'postgres') {
    // Arrays through unnest: one statement each for the upserts and the removals, however many rows.
    if (set.length)
      await sql`insert into ratings (post_id, guild_id, user_id, stars, updated_at)
        select v.post_id, p.guild_id, v.user_id, v.stars, v.updated_at
        from unnest(${set.map((r) => r.postId)}::text[], ${set.map((r) => r.userId)}::text[], ${set.map((r) => r.stars)}::int[], ${set.map((r) => r.updatedAt)}::text[])
          as v(post_id, user_id, stars, updated_at)
        left join posts p on p.id = v.post_id
        on conflict (post_id, user_id) do update set stars = excluded.stars, updated_at = excluded.updated_at`.execute(db.kysely);
    if (removed.length)
      await sql`delete from ratings r using unnest(${removed.map((k) => k.postId)}::text[], ${removed.map((k) => k.userId)}::text[]) as k(post_id, user_id)
        where r.post_id = k.post_id and r.user_id = k.user_id`.execute(db.kysely);
    return;
  }
  for (let i = 0; i < set.length; i += PAIR_CHUNK) {
    await db.kysely
      .insertInto('ratings')
      .values(set.slice(i, i + PAIR_CHUNK).map((r) => ({ post_id: r.postId, guild_id: guildOfPost(r.postId), user_id: r.userId, stars: r.stars, updated_at: r.updatedAt })))
      .onConflict((oc) => oc.columns(['post_id', 'user_id']).doUpdateSet((eb) => ({ stars: eb.ref('excluded.stars'), updated_at: eb.ref('excluded.updated_at') })))
      .execute();
  }
  for (let i = 0; i < removed.length; i += PAIR_CHUNK) {
    await db.kysely
      .deleteFrom('ratings')
      .where((eb) => eb.or([...usersByPost(removed.slice(i, i + PAIR_CHUNK))].map(([postId, users]) => eb.and([eb('post_id', '=', postId), eb('user_id', 'in', [...users])]))))
      .execute();
  }
}

export async function getRating(db: Db, postId: string, userId: string): Promise<Rating | null> {
  const r = await db.kysely.selectFrom('ratings').selectAll().where('post_id', '=', postId).where('user_id', '=', userId).executeTakeFirst();
  return r ? { postId: r.post_id, userId: r.user_id, stars: r.stars as Stars, updatedAt: r.updated_at } : null;
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
  // One range scan of the covering index ratings(guild_id, updated_at, post_id, stars) (migration 004). On
  // PostgreSQL with JIT off: compiling this million-row aggregate costs more than running it.
  const query = (d: Db) =>
    d.kysely
      .selectFrom('ratings')
      .select([(eb) => eb.fn.sum<number>('stars').as('sum'), (eb) => eb.fn.countAll<number>().as('n')])
      .where('guild_id', '=', guildId)
      .where('updated_at', '>=', sinceIso)
      .executeTakeFirst();
  const row =
    db.dialect === 'postgres'
      ? await withTransaction(db, async (tx) => {
          await sql`set local jit = off`.execute(tx.kysely);
          return query(tx);
        })
      : await query(db);
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
