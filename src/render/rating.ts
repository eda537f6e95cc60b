import type { RatingSummary } from '../domain/rating.ts';

/** At most one decimal, trailing ".0" removed: 4.5 → "4.5", 5 → "5", 4.25 → "4.3". */
export function formatAverage(average: number): string {
  const rounded = Math.round(average * 10) / 10;
  return Number.isInteger(rounded) ? String(rounded) : rounded.toFixed(1);
}

/** "★ 4.5/5 (2 ratings)", "★ 5/5 (1 rating)", or "Be the first to rate" when nobody has rated. */
export function formatRating({ average, count }: Pick<RatingSummary, 'average' | 'count'>): string {
  if (!count || count <= 0) return 'Be the first to rate';
  return `★ ${formatAverage(average)}/5 (${count} ${count === 1 ? 'rating' : 'ratings'})`;
}

const BAR_WIDTH = 10;

/** Five lines, 5★ first: "5★ ██████████ 2" — the longest bar is full width, the others in proportion. */
export function formatDistributionBars(distribution: Partial<Record<1 | 2 | 3 | 4 | 5, number>> | Record<string, number>): string {
  const counts = ([5, 4, 3, 2, 1] as const).map((stars) => {
    const value = (distribution as Record<string, number | undefined>)[String(stars)];
    return { stars, count: Math.max(0, Math.floor(value ?? 0)) };
  });
  const max = Math.max(0, ...counts.map((c) => c.count));
  return counts
    .map(({ stars, count }) => {
      const filled = count === 0 ? 0 : Math.max(1, Math.round((count / max) * BAR_WIDTH));
      const bar = '█'.repeat(filled) + '░'.repeat(BAR_WIDTH - filled);
      return `${stars}★ ${bar} ${count}`;
    })
    .join('\n');
}
