#!/usr/bin/env node
// The CLI. It runs the compiled build (dist/bundle/, made by `npm run build`) while that build is newer than every
// source file, and the TypeScript sources directly through tsx's loader otherwise: a stale build is never
// run, and no build is needed. The build starts faster and takes ~50 MB less memory (no loader thread).
import { existsSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';

// Grow the JavaScript heap by at most 40 % over what the last full collection kept. V8's own factor (up to 4×)
// let a burst of gateway events take the bot from ~50 MB of live objects to ~180 MB of heap; this keeps its
// memory near its live size (the ingest benchmark: ~230 instead of ~360 MB) for ~5 % of throughput, with no
// hard limit that could end the process. A --heap-growing-percent given to node itself wins. Re-measured with the
// bundle (3 Dec 2026, two A/B pairs of a 100,000-event burst on SQLite): peak RSS 179 / 187 MB with it, 222 / 243 MB
// with V8's own factor (--heap-growing-percent=0). The documented alternatives are a hard ceiling
// (--max-old-space-size: a burst over it ends the process) or only the young generation (--max-semi-space-size).
if (!process.execArgv.some((a) => a.startsWith('--heap-growing-percent'))) setFlagsFromString('--heap-growing-percent=40');

// Keep V8's young generation at its first size (1 MB semi-spaces) rather than letting it double up to 16 MB as the
// start allocates: an idle process kept those ~32 MB resident (no collection runs to shrink them back), and a burst
// uses them only to promote less. Measured (4 Dec 2026, the machine shared, load 7–11): a cap of 2 MB
// (--max-semi-space-size=2, one pair) took idle `bot` 115 → 90 MB and `web` 98 → 80 MB, and the 50,000-event SQLite
// burst's peak 189 → 154 MB at the same share of the bare client's rate (44 %); this setting (1 MB), against none
// in the same session: that burst at 3,843 against 2,850 events/s, peak 175 against 177 MB (too loaded a machine to
// say more than "no loss"). The documented --max-semi-space-size does this, but only on node's command line (V8
// sizes the young generation when it creates the heap; set from here it changes nothing), and `npx blogcord`,
// `npm start` and `node bin/blogcord.js` all start here. A --max-semi-space-size given to node (or in NODE_OPTIONS) wins.
const given = (flag) => process.execArgv.some((a) => a.startsWith(flag)) || (process.env.NODE_OPTIONS ?? '').includes(flag);
if (!given('--max-semi-space-size') && !given('--semi-space-growth-factor')) setFlagsFromString('--semi-space-growth-factor=1');

const at = (p) => fileURLToPath(new URL(`../${p}`, import.meta.url));

/** The newest modification time of any file under `dir` (0 when there is no such directory). */
function newest(dir) {
  if (!existsSync(dir)) return 0;
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true }))
    t = Math.max(t, e.isDirectory() ? newest(`${dir}/${e.name}`) : statSync(`${dir}/${e.name}`).mtimeMs);
  return t;
}

const stamp = at('dist/.built');
const built =
  process.env.BLOGCORD_FROM_SOURCE !== '1' &&
  existsSync(stamp) &&
  statSync(stamp).mtimeMs > Math.max(...['src', 'commands', 'migrations', 'demo', 'emulator'].map((d) => newest(at(d))));
process.env.BLOGCORD_RUNS = built ? 'build' : 'sources';
if (built) {
  // The bundle (dist/bundle/, one file and the chunks of its lazy imports); dist/src/ is the same code file by file.
  const { cli } = await import('../dist/bundle/main.js');
  await cli();
} else {
  const { register } = await import('tsx/esm/api');
  register();
  const { cli } = await import('../src/main.ts');
  await cli();
}
