// src/domain/snowflake.ts: Discord ids compared as numbers without BigInt, and the time an id was made.
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { compareSnowflakes, DISCORD_EPOCH_MS, maxSnowflake, snowflakeAt, snowflakeTime } from '../../src/domain/snowflake.ts';

const id = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map(String);
const sign = (n: number) => Math.sign(n);

test('compareSnowflakes orders ids as the numbers they are, for any two 64-bit ids', () => {
  fc.assert(
    fc.property(id, id, (a, b) => {
      assert.is(sign(compareSnowflakes(a, b)), a === b ? 0 : BigInt(a) < BigInt(b) ? -1 : 1);
      assert.is(maxSnowflake(a, b), BigInt(a) >= BigInt(b) ? a : b);
    }),
  );
  assert.is(compareSnowflakes('99', '100'), -1);
  assert.is(maxSnowflake(null, '5'), '5');
  assert.is(maxSnowflake('5', null), '5');
  assert.is(maxSnowflake(null, null), null);
});

test('snowflakeAt is the least id of its millisecond: every id made then or later is at least it', () => {
  const ms = fc.integer({ min: DISCORD_EPOCH_MS, max: DISCORD_EPOCH_MS + 2 ** 41 });
  fc.assert(
    fc.property(ms, fc.integer({ min: 0, max: 2 ** 22 - 1 }), (at, low) => {
      const least = snowflakeAt(at);
      assert.is(snowflakeTime(least), at);
      const made = ((BigInt(at - DISCORD_EPOCH_MS) << 22n) | BigInt(low)).toString();
      assert.is(snowflakeTime(made), at);
      assert.ok(compareSnowflakes(made, least) >= 0);
      assert.ok(compareSnowflakes(made, snowflakeAt(at + 1)) < 0);
    }),
  );
  // A fraction of a millisecond is floored; before Discord's epoch there is no id but 0.
  assert.is(snowflakeAt(DISCORD_EPOCH_MS + 1.9), snowflakeAt(DISCORD_EPOCH_MS + 1));
  assert.is(snowflakeAt(0), '0');
  // A real one: a message of 2026-12-04T12:00:00.000Z.
  assert.is(new Date(snowflakeTime(snowflakeAt(Date.parse('2026-12-04T12:00:00.000Z')))).toISOString(), '2026-12-04T12:00:00.000Z');
});

test.run();
