// The whole picture of a digest window, per post and in total, for tests to hold against their models. The digest
// reads only the parts it needs (windowPosts, postTotals, countParticipants in src/repositories/digest-window.ts);
// these put the same production reads together the way the model counts.
import type { Db } from '../../src/db/index.ts';
import { countParticipants, postTotals, windowComments, windowRatings, type DigestWindow } from '../../src/repositories/digest-window.ts';

/** One post of the server with activity in the window: its new comments and ratings, and the sum/count of all its ratings. */
export interface ActivePost {
  id: string;
  newComments: number;
  newRatings: number;
  ratingSum: number;
  ratingCount: number;
  /** Live comments of all time (the reply count shown, and the last tie-breaker of "top rated"). */
  replies: number;
}

const byId = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Every announced post of the server commented on or rated in the window, with per-post counts and all-time figures, ordered by id. */
export async function listActivePosts(db: Db, w: DigestWindow): Promise<ActivePost[]> {
  const [ratings, comments] = await Promise.all([windowRatings(db, w), windowComments(db, w)]);
  const ids = [...new Set([...ratings.posts.keys(), ...comments.keys()])].sort(byId);
  const totals = await postTotals(db, w.guildId, ids);
  return ids.map((id) => {
    const all = totals.get(id)!;
    const rated = ratings.posts.get(id);
    return {
      id,
      newComments: comments.get(id) ?? 0,
      newRatings: rated?.newRatings ?? 0,
      ratingSum: rated?.ratingSum ?? all.ratingSum,
      ratingCount: rated?.ratingCount ?? all.ratingCount,
      replies: all.replies,
    };
  });
}

/** Live comments of these posts written outside the window: all of their live comments less the window's. */
export async function commentsOutsideWindow(db: Db, w: DigestWindow, ids: readonly string[]): Promise<Map<string, number>> {
  const [totals, comments] = await Promise.all([postTotals(db, w.guildId, ids), windowComments(db, w)]);
  return new Map(ids.map((id) => [id, totals.get(id)!.replies - (comments.get(id) ?? 0)]));
}

/** The candidates for "top rated": posts rated (or re-rated) in the window, with the sum and count of all their ratings. */
export function ratedInWindow(active: readonly ActivePost[]): Array<{ id: string; ratingSum: number; ratingCount: number; replies: number }> {
  return active.filter((a) => a.newRatings > 0).map((a) => ({ id: a.id, ratingSum: a.ratingSum, ratingCount: a.ratingCount, replies: a.replies }));
}

/** New comments, new ratings and distinct participants (comment authors ∪ raters) of the window. */
export async function digestTotals(db: Db, w: DigestWindow): Promise<{ newComments: number; newRatings: number; participants: number }> {
  const [ratings, comments, participants] = await Promise.all([windowRatings(db, w), windowComments(db, w), countParticipants(db, w)]);
  return {
    newComments: [...comments.values()].reduce((n, c) => n + c, 0),
    newRatings: [...ratings.posts.values()].reduce((n, r) => n + r.newRatings, 0),
    participants,
  };
}
