// Ratings as test fixtures: one person's rating of a post written and read through the repository's batch
// functions (the production code writes ratings only in batches, src/services/rating-rules.ts).
import type { Db } from '../../src/db/index.ts';
import type { Stars } from '../../src/domain/rating.ts';
import { getRatingsOf, writeRatings, type Rating } from '../../src/repositories/ratings.ts';

/** One rating per person and post; the latest wins. */
export async function setRating(db: Db, postId: string, userId: string, stars: Stars, at: string): Promise<void> {
  await writeRatings(db, [{ postId, userId, stars, updatedAt: at }], []);
}

export async function getRating(db: Db, postId: string, userId: string): Promise<Rating | null> {
  return (await getRatingsOf(db, [{ postId, userId }]))[0] ?? null;
}
