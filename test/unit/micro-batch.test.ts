// The micro-batcher under the comment writer and the rating processor: order, batching, the follow-up of a
// written batch overlapping the next write, retries and the buffer bound.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MicroBatcher } from '../../src/services/micro-batch.ts';

const test = suite('micro-batch');

/** A promise and its resolver. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}
const tick = () => new Promise((r) => setTimeout(r, 5));

test('items are written in arrival order, in batches of at most maxBatch, one transaction at a time', async () => {
  const writes: number[][] = [];
  let concurrent = 0;
  let most = 0;
  const b = new MicroBatcher<number>(null, {
    name: 'test writes',
    maxBatch: 4,
    flushMs: 1,
    write: async (batch) => {
      most = Math.max(most, ++concurrent);
      await tick();
      writes.push(batch);
      concurrent--;
    },
  });
  for (let i = 0; i < 10; i++) b.push(i);
  await b.flush();
  assert.equal(writes.flat(), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.ok(writes.every((w) => w.length <= 4));
  assert.is(most, 1);
  assert.equal(await b.close(), []);
});

test('the follow-up of a batch runs while the next batch is written, follow-ups one at a time in order, and flush waits for them', async () => {
  const events: string[] = [];
  const slowFollowUp = gate();
  const b = new MicroBatcher<number>(null, {
    name: 'test writes',
    maxBatch: 2,
    flushMs: 1,
    write: async (batch) => {
      events.push(`write ${batch.join(',')}`);
      await tick();
    },
    afterWrite: async (batch) => {
      events.push(`follow-up ${batch.join(',')} starts`);
      if (batch[0] === 0) await slowFollowUp.promise;
      events.push(`follow-up ${batch.join(',')} ends`);
    },
  });
  for (let i = 0; i < 6; i++) b.push(i);
  let flushed = false;
  const flushing = b.flush().then(() => (flushed = true));
  // The first follow-up hangs (a slow Redis): the second batch is still written meanwhile, the third waits.
  for (let i = 0; i < 200 && !events.includes('write 2,3'); i++) await tick();
  await tick();
  await tick();
  assert.equal(
    events,
    ['write 0,1', 'follow-up 0,1 starts', 'write 2,3'],
    'one write overlaps the slow follow-up; no second follow-up starts before the first ends',
  );
  assert.is(flushed, false, 'flush waits for the follow-ups');
  slowFollowUp.open();
  await flushing;
  assert.equal(events, [
    'write 0,1',
    'follow-up 0,1 starts',
    'write 2,3',
    'follow-up 0,1 ends',
    'follow-up 2,3 starts',
    'follow-up 2,3 ends',
    'write 4,5',
    'follow-up 4,5 starts',
    'follow-up 4,5 ends',
  ]);
  await b.close();
});

test('a follow-up that throws is logged and does not stop the writes', async () => {
  const warned: string[] = [];
  const log = { warn: (_o: unknown, msg: string) => warned.push(msg), info: () => {}, error: () => {}, debug: () => {} };
  const written: number[] = [];
  const b = new MicroBatcher<number>(log as never, {
    name: 'test writes',
    maxBatch: 1,
    flushMs: 1,
    write: async (batch) => void written.push(...batch),
    afterWrite: (batch) => {
      if (batch[0] === 1) throw new Error('redis away');
    },
  });
  for (let i = 0; i < 3; i++) b.push(i);
  await b.flush();
  assert.equal(written, [0, 1, 2]);
  assert.equal(warned, ['test writes: the follow-up of a written batch failed']);
  await b.close();
});

test('a failing write is retried in order; past maxBuffer the oldest are dropped, and close returns what was not written', async () => {
  let up = false;
  const written: number[] = [];
  const dropped: number[] = [];
  const b = new MicroBatcher<number>(null, {
    name: 'test writes',
    maxBatch: 3,
    maxBuffer: 5,
    flushMs: 1,
    retryMinMs: 2,
    retryMaxMs: 4,
    write: async (batch) => {
      if (!up) throw new Error('database away');
      written.push(...batch);
    },
    onDrop: (items) => dropped.push(...items),
  });
  for (let i = 0; i < 7; i++) b.push(i);
  await tick();
  assert.equal(dropped, [0, 1], 'two over the bound: the oldest went');
  assert.is(b.stats.failures > 0, true);
  up = true;
  await b.flush();
  assert.equal(written, [2, 3, 4, 5, 6]);
  up = false;
  b.push(7);
  assert.equal(await b.close({ timeoutMs: 50 }), [7], 'the database stayed away: the item is handed back');
  assert.is(b.push(8), false, 'closed');
});

test('a batch refused for one of its items is halved until that item is alone: it is rejected, everything else is written in order, at once', async () => {
  const written: number[] = [];
  const rejected: Array<[number, string]> = [];
  let attempts = 0;
  const refused = Object.assign(new Error('violates a constraint'), { code: 'SQLITE_CONSTRAINT_FOREIGNKEY' });
  const b = new MicroBatcher<number>(null, {
    name: 'test writes',
    maxBatch: 16,
    flushMs: 1,
    retryMinMs: 10_000, // a backoff would show: the test would time out
    write: async (batch) => {
      attempts++;
      if (batch.includes(11)) throw refused;
      written.push(...batch);
    },
    isPermanent: (err) => err === refused,
    onRejected: (item, err) => rejected.push([item, (err as Error).message]),
  });
  for (let i = 0; i < 40; i++) b.push(i);
  await b.flush({ timeoutMs: 2000 });
  assert.equal(written, [...Array.from({ length: 11 }, (_, i) => i), ...Array.from({ length: 28 }, (_, i) => i + 12)]);
  assert.equal(rejected, [[11, 'violates a constraint']]);
  assert.equal([b.stats.rejected, b.stats.failures], [1, 0]);
  assert.is(attempts, 10, 'halving: 16 refused, 8 written, 8, 4 refused, 2 written, 2 refused, 1 written, 1 rejected; then 16 and 12');
  await b.close();
});

test("an error that is not the items' fault (the database away) is retried with the batch whole, nothing rejected", async () => {
  let down = true;
  const batches: number[][] = [];
  const b = new MicroBatcher<number>(null, {
    name: 'test writes',
    maxBatch: 8,
    flushMs: 1,
    retryMinMs: 2,
    retryMaxMs: 4,
    write: async (batch) => {
      if (down) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
      batches.push(batch);
    },
    isPermanent: () => false,
    onRejected: () => assert.unreachable('nothing is rejected'),
  });
  for (let i = 0; i < 8; i++) b.push(i);
  await tick();
  await tick();
  down = false;
  await b.flush();
  assert.equal(batches, [[0, 1, 2, 3, 4, 5, 6, 7]]);
  await b.close();
});

test.run();
