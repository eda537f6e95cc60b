// Discord's ids (snowflakes): decimal text of a 64-bit number whose top 42 bits are the milliseconds since
// Discord's epoch (2015-01-01) at which the id was made.

/** Discord's epoch, in Unix milliseconds. */
export const DISCORD_EPOCH_MS = 1420070400000;

/**
 * Snowflakes compared as the numbers they are: decimal without leading zeros, so a longer one is larger
 * (as text '99' > '100'); of the same length, the text's order.
 */
export const compareSnowflakes = (a: string, b: string): number => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);

/** The larger of two snowflakes, null standing for none. */
export const maxSnowflake = (a: string | null, b: string | null): string | null => (a === null ? b : b === null ? a : compareSnowflakes(a, b) >= 0 ? a : b);

/** The smallest snowflake made at `ms` (Unix milliseconds, floored; none before Discord's epoch): every id made then or later is at least this. */
export const snowflakeAt = (ms: number): string => ((BigInt(Math.max(Math.floor(ms), DISCORD_EPOCH_MS)) - BigInt(DISCORD_EPOCH_MS)) << 22n).toString();

/** When a snowflake was made, in Unix milliseconds. */
export const snowflakeTime = (id: string): number => Number((BigInt(id) >> 22n) + BigInt(DISCORD_EPOCH_MS));
