// A rating as the project means it, below every layer: the five keycaps people react with, the stars they
// stand for, and a post's summary. Render, repositories and services all speak of these; none owns them.

/** One to five stars. */
export type Stars = 1 | 2 | 3 | 4 | 5;

export function isStars(n: number): n is Stars {
  return Number.isInteger(n) && n >= 1 && n <= 5;
}

/** The keycaps a member reacts with to rate, 1️⃣ (one star) to 5️⃣ (five stars); the bot puts them under each announcement. */
export const KEYCAPS = ['1️⃣', '2️⃣', '3️⃣', '4️⃣', '5️⃣'] as const;

/** The keycap of each star count: 1 → '1️⃣' … 5 → '5️⃣'. */
export const KEYCAP_OF: Readonly<Record<Stars, string>> = Object.freeze({ 1: KEYCAPS[0], 2: KEYCAPS[1], 3: KEYCAPS[2], 4: KEYCAPS[3], 5: KEYCAPS[4] });

/** An emoji as the gateway sends it: a unicode emoji has `id: null` and the character(s) as `name`. */
export type EmojiLike = string | { id?: string | null; name?: string | null } | null | undefined;

/**
 * The stars of a keycap emoji 1️⃣–5️⃣ (with or without the U+FE0F variation selector, as clients differ),
 * or null for any other emoji, a custom emoji (even one named like a keycap) and nothing.
 */
export function keycapStars(emoji: EmojiLike): Stars | null {
  if (!emoji) return null;
  if (typeof emoji !== 'string' && emoji.id) return null;
  const name = typeof emoji === 'string' ? emoji : emoji.name;
  if (!name) return null;
  // /^[1-5]\uFE0F?\u20E3$/ by character codes (every reaction event asks, some twice).
  const n = name.length;
  if ((n !== 2 && n !== 3) || name.charCodeAt(n - 1) !== 0x20e3 || (n === 3 && name.charCodeAt(1) !== 0xfe0f)) return null;
  const digit = name.charCodeAt(0) - 0x30;
  return digit >= 1 && digit <= 5 ? (digit as Stars) : null;
}

/** A post's ratings: the mean, how many, and how many of each star count. */
export interface RatingSummary {
  average: number;
  count: number;
  distribution: Record<'1' | '2' | '3' | '4' | '5', number>;
}

export const emptySummary = (): RatingSummary => ({ average: 0, count: 0, distribution: { '1': 0, '2': 0, '3': 0, '4': 0, '5': 0 } });
