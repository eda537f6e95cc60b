let seq = 0n;

/** The snowflake made at `ms` with sequence number `seq` (neighbouring ids of one millisecond), for tests that place ids at exact times. */
export function snowflakeOf(ms: number, seq: number | bigint = 0): string {
  return (((BigInt(ms) - 1420070400000n) << 22n) | BigInt(seq)).toString();
}

/** A realistic, increasing Discord snowflake (17–19 digits) for tests. */
export function snowflake(at: Date | number = Date.now()): string {
  seq = (seq + 1n) & 0xfffn;
  return snowflakeOf(typeof at === 'number' ? at : at.getTime(), seq);
}
