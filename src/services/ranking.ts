// The one ranking of "top rated" posts, shared by the digest and `/blog top`.

/** Weight of the prior: a post needs about this many ratings before its own average dominates. */
export const PRIOR_WEIGHT = 5;
/** The prior mean of a server that has no ratings yet. */
export const DEFAULT_PRIOR_MEAN = 3;

/** Bayesian average `(m·C + Σstars) / (m + n)`: a single 5★ does not beat many 4.5★ ratings. */
export function bayesianAverage(sum: number, count: number, priorMean: number, m = PRIOR_WEIGHT): number {
  return (m * priorMean + sum) / (m + count);
}

export interface Rankable {
  ratingSum: number;
  ratingCount: number;
  replies: number;
}

/** Highest Bayesian average first; ties broken by more ratings, then more replies. Unrated items are left out. */
export function rankTopRated<T extends Rankable>(items: readonly T[], priorMean: number, m = PRIOR_WEIGHT): Array<T & { score: number }> {
  return items
    .filter((i) => i.ratingCount > 0)
    .map((i) => ({ ...i, score: bayesianAverage(i.ratingSum, i.ratingCount, priorMean, m) }))
    .sort((a, b) => b.score - a.score || b.ratingCount - a.ratingCount || b.replies - a.replies);
}
