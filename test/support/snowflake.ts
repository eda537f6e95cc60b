const DISCORD_EPOCH = 1420070400000n;
let seq = 0n;

/** A realistic, increasing Discord snowflake (17–19 digits) for tests. */
export function snowflake(at: Date | number = Date.now()): string {
  const ms = BigInt(typeof at === 'number' ? at : at.getTime());
  seq = (seq + 1n) & 0xfffn;
  return (((ms - DISCORD_EPOCH) << 22n) | seq).toString();
}
