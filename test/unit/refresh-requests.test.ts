// The writers' announcement refresh requests, folded per post (src/services/refresh-requests.ts): the first
// request of a post goes out at once, the next ones within the window become one at its end, and no request is
// ever left without a send at or after it.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import type { Logger } from '../../src/logger.ts';
import { MAX_REFRESH_WINDOW_MS, RefreshRequests, refreshWindowMs } from '../../src/services/refresh-requests.ts';

const test = suite('refresh-requests');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function recorder() {
  const warned: Array<{ obj: unknown; msg: string }> = [];
  const log = { warn: (obj: unknown, msg: string) => void warned.push({ obj, msg }), info: () => {}, error: () => {}, debug: () => {} } as unknown as Logger;
  return { log, warned };
}

/** Requests folded over `windowMs` into a send that records the post, or throws while `failing` is set. */
function folding(windowMs: number) {
  const sent: string[] = [];
  const { log, warned } = recorder();
  const state = { failing: false };
  const r = new RefreshRequests(
    async (id) => {
      if (state.failing) throw new Error('redis away');
      sent.push(id);
    },
    log,
    windowMs,
  );
  return { r, sent, warned, state };
}

/** The error a promise rejects with (null if it resolves). */
const rejection = (p: Promise<unknown>): Promise<Error | null> =>
  p.then(
    () => null,
    (e: Error) => e,
  );

test('the first request of a post is sent at once, the next ones in the window become one at its end, then the window closes', async () => {
  const { r, sent } = folding(40);
  await r.request('a');
  await r.request('b');
  assert.equal(sent, ['a', 'b']);
  await r.request('a');
  await r.request('a');
  assert.equal(sent, ['a', 'b'], 'folded, not sent yet');
  await sleep(70);
  assert.equal(sent, ['a', 'b', 'a'], 'one send for the two folded requests; b had none to send');
  await sleep(100);
  assert.equal(sent, ['a', 'b', 'a'], 'nothing more while nothing is asked');
  await r.request('a');
  assert.equal(sent, ['a', 'b', 'a', 'a'], 'a post asked for after its window closed is sent at once again');
  assert.equal(r.stats, { sent: 4, folded: 2 });
  await r.close();
});

test('close sends what is folded and stops the timer', async () => {
  const { r, sent } = folding(60_000);
  await r.request('a');
  await r.request('a');
  await r.request('b');
  await r.close();
  assert.equal(sent, ['a', 'b', 'a']);
  // Nothing is pending: a process that only closes this exits (the 60 s timer was cleared).
});

test('a zero window (a zero refresh delay) sends every request', async () => {
  const { r, sent } = folding(0);
  await r.request('a');
  await r.request('a');
  assert.equal(sent, ['a', 'a']);
  await r.close();
});

test('a leading request that fails rejects its caller and is sent again at the window end', async () => {
  const { r, sent, state } = folding(20);
  state.failing = true;
  const err = await rejection(r.request('a'));
  assert.match(String(err?.message), /redis away/);
  state.failing = false;
  await sleep(50);
  assert.equal(sent, ['a']);
  await r.close();
});

test('a leading request that fails rejects its caller; a folded one that fails at the window end is logged, not thrown', async () => {
  const { r, sent, warned, state } = folding(20);
  state.failing = true;
  const err = await rejection(r.request('a'));
  assert.match(String(err?.message), /redis away/);
  await r.request('a'); // folded
  await sleep(50);
  assert.is(warned.length, 1);
  assert.match(warned[0]!.msg, /could not schedule the announcement refresh/);
  assert.is((warned[0]!.obj as { posts: number }).posts, 1);
  state.failing = false;
  await r.close();
  assert.equal(sent, [], 'nothing was folded since the failed window end');
});

test('the window is a fifth of the refresh delay, at most one second', () => {
  assert.is(refreshWindowMs(5000), MAX_REFRESH_WINDOW_MS);
  assert.is(refreshWindowMs(60_000), MAX_REFRESH_WINDOW_MS);
  assert.is(refreshWindowMs(2000), 400);
  assert.is(refreshWindowMs(0), 0);
});

test('property: every request has a send of its post at or after it, and no post is sent more often than asked', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.record({ post: fc.constantFrom('a', 'b', 'c'), gap: fc.integer({ min: 0, max: 12 }) }), { minLength: 1, maxLength: 25 }),
      fc.boolean(),
      async (steps, closeEarly) => {
        const log: Array<{ kind: 'request' | 'send'; post: string }> = [];
        const r = new RefreshRequests(async (id) => void log.push({ kind: 'send', post: id }), recorder().log, 8);
        for (const { post, gap } of steps) {
          log.push({ kind: 'request', post });
          await r.request(post);
          if (gap) await sleep(gap);
        }
        if (!closeEarly) await sleep(30);
        await r.close();
        log.forEach((e, i) => {
          if (e.kind === 'request')
            assert.ok(
              log.slice(i).some((s) => s.kind === 'send' && s.post === e.post),
              `request ${i} of ${e.post} has a send after it`,
            );
        });
        for (const post of ['a', 'b', 'c']) {
          const asked = log.filter((e) => e.kind === 'request' && e.post === post).length;
          const sent = log.filter((e) => e.kind === 'send' && e.post === post).length;
          assert.ok(sent <= asked, `${post}: ${sent} sends for ${asked} requests`);
        }
      },
    ),
    { numRuns: 40 },
  );
});

test.run();
