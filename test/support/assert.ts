import * as assert from 'uvu/assert';

/** Asserts that `fn` rejects, optionally with a message matching `pattern`; returns the error. */
export async function rejects(fn: () => Promise<unknown>, pattern?: RegExp, message?: string): Promise<Error> {
  try {
    await fn();
  } catch (error) {
    if (pattern) assert.match(String((error as Error)?.message ?? error), pattern, message);
    return error as Error;
  }
  assert.unreachable(message ?? 'expected a rejection');
  throw new Error('unreachable');
}

/** Polls `check` until it returns a truthy value (or stops throwing), then returns it. */
export async function eventually<T>(check: () => T | Promise<T>, { timeout = 10_000, interval = 50, message = 'condition' } = {}): Promise<T> {
  const end = Date.now() + timeout;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
      last = new Error(`${message}: got ${JSON.stringify(value)}`);
    } catch (error) {
      last = error;
    }
    if (Date.now() > end) throw last instanceof Error ? new Error(`timed out waiting for ${message}: ${last.message}`) : last;
    await new Promise((r) => setTimeout(r, interval));
  }
}
