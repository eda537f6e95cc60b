// Runs every uvu suite (test/**/*.test.ts) in one process and ends with the line `N passed, M failed`.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const tsx = require.resolve('tsx/cli');
// uvu's runner with one change: a suite that fails to load is one failure, and the others still run.
const runner = fileURLToPath(new URL('./uvu-run.mjs', import.meta.url));
const pattern = process.argv[2] ?? '\\.test\\.ts$';

const child = spawn(process.execPath, [tsx, runner, 'test', pattern], { stdio: ['inherit', 'pipe', 'inherit'], env: process.env });
let tail = '';
child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  tail = (tail + chunk.toString()).slice(-4000);
});
child.on('close', (code, signal) => {
  const plain = tail.replace(/\x1b\[[0-9;]*m/g, '');
  const total = Number(/Total:\s+(\d+)/.exec(plain)?.[1] ?? NaN);
  const passed = Number(/Passed:\s+(\d+)/.exec(plain)?.[1] ?? NaN);
  const skipped = Number(/Skipped:\s+(\d+)/.exec(plain)?.[1] ?? 0);
  const unloadable = Number(/Unloadable:\s+(\d+)/.exec(plain)?.[1] ?? 0);
  if (Number.isNaN(total) || Number.isNaN(passed)) {
    console.log(`0 passed, 1 failed`);
    console.error(`test run ended without a summary (exit ${code ?? signal})`);
    process.exit(1);
  }
  const failed = total - passed - skipped + unloadable;
  if (failed > 0 && code === 0) console.error(`${failed} test(s) never ran: a suite's before hook failed (uvu does not report that as a failure)`);
  console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
  process.exit(code === 0 && failed === 0 ? 0 : 1);
});
