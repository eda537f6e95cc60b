// `npm run build` and the CLI's choice between the build and the sources, in a copy of the project (the
// checkout's own dist/ is left alone): a fresh build runs, a build older than any source file never does.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

const ROOT = new URL('../..', import.meta.url).pathname;
const test = suite('build');
let dir = '';

test.before(() => {
  dir = mkdtempSync(join(tmpdir(), 'blogcord-build-'));
  for (const p of ['bin', 'scripts', 'src', 'commands', 'migrations', 'demo', 'emulator', 'package.json', 'tsconfig.json', 'tsconfig.build.json'])
    cpSync(join(ROOT, p), join(dir, p), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
});
test.after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const cli = (...args: string[]) =>
  spawnSync(process.execPath, [join(dir, 'bin/blogcord.js'), ...args], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, DATABASE_URL: `sqlite:${join(dir, 'b.sqlite')}`, LOG_LEVEL: 'warn' },
  });

test('without a build the sources run; after `npm run build` the build runs it all (migrations too); a newer source file sends it back to the sources', () => {
  assert.match(cli('version').stdout, /^blogcord \d+\.\d+\.\d+ \(sources\)\n$/);
  const build = spawnSync(process.execPath, [join(dir, 'scripts/build.mjs')], { cwd: dir, encoding: 'utf8' });
  assert.is(build.status, 0, build.stderr);
  assert.match(cli('version').stdout, /\(build\)/);
  const up = cli('migrate', 'up');
  assert.is(up.status, 0, up.stderr);
  assert.match(up.stdout, /up\s+2026-11-29_001_initial\s+Success/, 'the compiled migrations are found and applied');
  // The bundle carries the migrations compiled in (src/db/bundled-migrations.ts): every file of migrations/ is applied.
  const files = readdirSync(join(dir, 'migrations')).filter((f) => f.endsWith('.ts'));
  assert.ok(existsSync(join(dir, 'dist/bundle/main.js')), 'the CLI is bundled');
  // Each library of src/vendored.json (the list src/lazy-require.ts reads too) is bundled apart for it.
  for (const name of JSON.parse(readFileSync(join(dir, 'src/vendored.json'), 'utf8')) as string[])
    assert.ok(existsSync(join(dir, `dist/bundle/vendor/${name}.cjs`)), name);
  assert.is(up.stdout.match(/\bSuccess\b/g)?.length, files.length, up.stdout);
  assert.match(cli('migrate', 'status').stdout, /applied\s+2026-11-29_001_initial/);
  // An edited source file is newer than the build: the sources run until the next build.
  const later = new Date(Date.now() + 5000);
  utimesSync(join(dir, 'src/render/post.ts'), later, later);
  assert.match(cli('version').stdout, /\(sources\)/);
});

test.run();
