// `npm run build`: compiles src/, commands/, migrations/ (and demo/ with the emulator/ it runs) to dist/ with tsc (relative `.ts` imports become
// `.js`), copies the widget, and stamps the build. bin/blogcord.js runs dist/ while it is newer than every
// source file, and the TypeScript sources through tsx otherwise, so a stale build is never run.
import { spawnSync } from 'node:child_process';
import { cpSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = fileURLToPath(new URL('../dist/', import.meta.url));
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

rmSync(dist, { recursive: true, force: true });
const run = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
if (run.status !== 0) process.exit(run.status ?? 1);
cpSync(new URL('../src/http/widget/', import.meta.url), new URL('../dist/src/http/widget/', import.meta.url), { recursive: true });
// dist/ is ESM like the sources; the stamp is written last, so an interrupted build is never taken as fresh.
writeFileSync(new URL('../dist/package.json', import.meta.url), '{ "type": "module" }\n');
writeFileSync(new URL('../dist/.built', import.meta.url), `${new Date().toISOString()}\n`);
console.log('built dist/');
