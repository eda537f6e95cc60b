// Libraries a process may never need are loaded when first used, not with the module that uses them: the gateway
// bot reads a feed only for /feed add, `web` never, and each such library is megabytes of a process. They are
// CommonJS, so a synchronous require keeps their callers synchronous (docs/benchmarks.md).
import { createRequire } from 'node:module';

const requireHere = createRequire(import.meta.url);

/** A function returning the module `specifier`, required at its first call. */
export function lazyRequire<T>(specifier: string): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= requireHere(specifier) as T);
}
