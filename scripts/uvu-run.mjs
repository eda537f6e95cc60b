// uvu's own runner (uvu/run), except that a suite file that fails to load (a throw at import) is reported
// as one failure and the other suites still run. Started by scripts/test.mjs under tsx.
import { parse } from 'uvu/parse';

const [dir = 'test', pattern] = process.argv.slice(2);
const { suites } = await parse(dir, pattern, { cwd: process.cwd() });

globalThis.UVU_DEFER = 1;
const uvu = await import('uvu');
let idx = 0;
let unloadable = 0;
for (const suite of suites) {
  globalThis.UVU_INDEX = idx++;
  globalThis.UVU_QUEUE.push([suite.name]);
  try {
    await import('file:///' + suite.file);
  } catch (err) {
    unloadable++;
    console.error(`\n✘ ${suite.name} did not load:\n${err?.stack ?? err}`);
  }
}
await uvu.exec(false);
// Read by scripts/test.mjs; a suite that did not load counts as one failed test.
console.log(`Unloadable: ${unloadable}`);
if (unloadable > 0) process.exitCode = 1;
