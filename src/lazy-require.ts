// Libraries a process may never need are loaded when first used, not with the module that uses them: the gateway
// bot reads a feed only for /feed add, `web` never, and each such library is megabytes of a process. They are
// CommonJS, so a synchronous require keeps their callers synchronous (docs/benchmarks.md).
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import VENDORED from './vendored.json' with { type: 'json' };

const requireHere = createRequire(import.meta.url);

/**
 * The libraries of vendored.json (read by scripts/build.mjs too): `npm run build` also bundles each into one minified
 * CommonJS file (dist/bundle/vendor/NAME.cjs), which the build requires, not the library's tens of files in
 * node_modules (a faster first use and less memory once loaded). From the sources (no such folder beside src/) the
 * library itself is required.
 */
const vendorDir = fileURLToPath(new URL('../bundle/vendor/', import.meta.url));

function resolved(specifier: string): string {
  if (!VENDORED.includes(specifier)) return specifier;
  const file = `${vendorDir}${specifier}.cjs`;
  return existsSync(file) ? file : specifier;
}

/** A function returning the module `specifier`, required at its first call. */
export function lazyRequire<T>(specifier: string): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= requireHere(resolved(specifier)) as T);
}

/**
 * A function returning the module (or anything) `load` imports, imported at its first call and shared by every
 * caller after it. A failed import is not kept: the next call tries again.
 */
export function lazyImport<T>(load: () => Promise<T>): () => Promise<T> {
  let loading: Promise<T> | undefined;
  return () =>
    (loading ??= load().catch((err: unknown) => {
      loading = undefined;
      throw err;
    }));
}
