// lazyImport: one import shared by every caller, and a failed import tried again at the next call.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { lazyImport } from '../../src/lazy-require.ts';

const test = suite('lazyImport');

test('imports once, at the first call, for every caller', async () => {
  let loads = 0;
  const get = lazyImport(async () => ({ n: ++loads }));
  assert.is(loads, 0);
  const [a, b] = await Promise.all([get(), get()]);
  assert.is(a, b);
  assert.is((await get()).n, 1);
  assert.is(loads, 1);
});

test('a failed import is not kept: the next call tries again', async () => {
  let loads = 0;
  const get = lazyImport(async () => {
    if (++loads === 1) throw new Error('chunk not readable');
    return 'module';
  });
  const failed = await get().then(
    () => null,
    (err: Error) => err.message,
  );
  assert.is(failed, 'chunk not readable');
  assert.is(await get(), 'module');
  assert.is(await get(), 'module');
  assert.is(loads, 2);
});

test.run();
