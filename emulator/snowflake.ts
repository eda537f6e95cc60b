/** Discord snowflakes: (ms since 2015-01-01) << 22 | worker << 17 | process << 12 | increment. */
export const DISCORD_EPOCH = 1420070400000n;

export class SnowflakeGenerator {
  private lastMs = 0n;
  private increment = 0n;

  /** A new id, strictly greater than every id generated before (ids sort by creation time). */
  next(atMs: number = Date.now()): string {
    let ms = BigInt(Math.floor(atMs));
    if (ms < this.lastMs) ms = this.lastMs;
    if (ms === this.lastMs) {
      this.increment += 1n;
      if (this.increment > 4095n) {
        ms += 1n;
        this.increment = 0n;
      }
    } else {
      this.increment = 0n;
    }
    this.lastMs = ms;
    return (((ms - DISCORD_EPOCH) << 22n) | (1n << 17n) | (1n << 12n) | this.increment).toString();
  }

  /** An id for a fixed past instant (not registered in the monotonic sequence). */
  static at(ms: number, increment = 0): string {
    return (((BigInt(Math.floor(ms)) - DISCORD_EPOCH) << 22n) | BigInt(increment & 4095)).toString();
  }
}

export function snowflakeTime(id: string): number {
  return Number((BigInt(id) >> 22n) + DISCORD_EPOCH);
}

export function compareIds(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

export function shardOf(guildId: string, shardCount: number): number {
  return Number((BigInt(guildId) >> 22n) % BigInt(shardCount));
}
