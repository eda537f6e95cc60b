// What an operator sees when the database or Redis cannot be reached: the real CLI as a child process, for
// every way a database can fail to open (exit code 1, one line naming DATABASE_URL and the cause, within
// seconds), and no password of any URL in what it prints.
// Run alone: npx tsx test/e2e/operations-cli.test.ts
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { TEST_DATABASE_URL } from '../support/db.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
/** Generous for a loaded shared machine; the failures themselves take well under a second once Node is up. */
const BOUND_MS = 15_000;

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs `bin/blogcord.js` (from the sources); a run that outlives the bound is killed and reported as such. */
function cli(args: string[], env: Record<string, string>): Promise<Run> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin/blogcord.js'), ...args], {
      cwd: dir,
      env: { ...process.env, BLOGCORD_FROM_SOURCE: '1', LOG_LEVEL: 'info', REDIS_URL: '', DISCORD_TOKEN: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), BOUND_MS);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr, ms: Date.now() - started });
    });
  });
}

function assertOneLineFailure(run: Run, cause: RegExp, what: string): void {
  assert.ok(run.ms < BOUND_MS, `${what}: ended within ${BOUND_MS} ms (took ${run.ms} ms, killed: ${run.status === null})`);
  assert.is(run.status, 1, `${what}: exit code (stderr: ${run.stderr})`);
  // The structured log (JSON lines, on stderr too) aside, the operator gets one line.
  const lines = run.stderr
    .trim()
    .split('\n')
    .filter((l) => !l.startsWith('{"level":'));
  assert.is(lines.length, 1, `${what}: one line, got:\n${run.stderr}`);
  assert.match(lines[0]!, /^DATABASE_URL=/, what);
  assert.match(lines[0]!, cause, what);
  assert.not.match(run.stderr, /\n\s+at /, `${what}: no stack trace`);
}

let dir = '';
const test = suite('operations: database open failures and credentials in CLI output');

test.before(() => {
  dir = mkdtempSync(join(tmpdir(), 'blogcord-ops-'));
});
test.after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('sqlite under /proc (where Node 20 recursive mkdir spins forever) ends at once naming the folder', async () => {
  const run = await cli(['migrate'], { DATABASE_URL: 'sqlite:/proc/blogcord-nowhere/sub/db.sqlite' });
  assertOneLineFailure(run, /cannot create the folder \/proc\/blogcord-nowhere/, '/proc');
});

test('a random file, a corrupt file, a truncated database and a folder: one line each, no stack', async () => {
  const random = join(dir, 'random.sqlite');
  writeFileSync(random, randomBytes(8192));
  assertOneLineFailure(await cli(['migrate'], { DATABASE_URL: `sqlite:${random}` }), /not a SQLite database/, 'random bytes');

  // A real database to damage: migrated by the CLI itself.
  const good = join(dir, 'good.sqlite');
  const made = await cli(['migrate'], { DATABASE_URL: `sqlite:${good}`, LOG_LEVEL: 'warn' });
  assert.is(made.status, 0, made.stderr);
  const bytes = readFileSync(good);
  assert.ok(bytes.length > 8192, `the migrated database has several pages (${bytes.length} bytes)`);

  const corrupt = join(dir, 'corrupt.sqlite');
  writeFileSync(corrupt, Buffer.concat([bytes.subarray(0, 100), randomBytes(bytes.length - 100)]));
  assertOneLineFailure(await cli(['migrate'], { DATABASE_URL: `sqlite:${corrupt}` }), /cannot open the SQLite database \(SQLITE_(NOTADB|CORRUPT)/, 'corrupt');

  const truncated = join(dir, 'truncated.sqlite');
  writeFileSync(truncated, bytes);
  truncateSync(truncated, Math.floor(bytes.length / 2));
  const run = await cli(['export'], { DATABASE_URL: `sqlite:${truncated}` });
  assertOneLineFailure(run, /truncated or damaged/, 'truncated');
  assert.is(statSync(truncated).size, Math.floor(bytes.length / 2), 'the damaged file is left as it was');

  assertOneLineFailure(await cli(['migrate'], { DATABASE_URL: `sqlite:${dir}` }), /is a folder, not a database file/, 'a folder');
});

test('a migration the database refuses is one line naming DATABASE_URL and the migration', async () => {
  const clash = join(dir, 'clash.sqlite');
  const sqlite = new SQLite(clash);
  sqlite.exec('create table feeds (x text)'); // a table the first migration creates
  sqlite.close();
  const run = await cli(['migrate'], { DATABASE_URL: `sqlite:${clash}` });
  assertOneLineFailure(run, /migration 2026-11-29_001_initial failed: .*feeds.* already exists/, 'a clashing table');
});

test('a PostgreSQL that refuses or lacks the database: one line, the password hidden', async () => {
  const refused = await cli(['migrate'], { DATABASE_URL: 'postgres://blogcord:pg-s3cret-pw@127.0.0.1:1/blogcord' });
  assertOneLineFailure(refused, /cannot connect to PostgreSQL \(.*ECONNREFUSED/, 'refused');
  assert.match(refused.stderr, /^DATABASE_URL=postgres:\/\/blogcord:\*\*\*@127\.0\.0\.1:1\/blogcord: /);

  const url = new URL(TEST_DATABASE_URL);
  url.password = 'pg-s3cret-pw';
  url.pathname = `/no_such_db_${randomBytes(4).toString('hex')}`;
  const missing = await cli(['migrate'], { DATABASE_URL: url.toString() });
  assertOneLineFailure(missing, /does not exist/, 'missing database');
  for (const run of [refused, missing]) assert.not.match(run.stdout + run.stderr, /pg-s3cret-pw/);

  // `start` goes through the same boundary (before Redis and Discord).
  const start = await cli(['start'], { DATABASE_URL: 'postgres://blogcord:pg-s3cret-pw@127.0.0.1:1/blogcord', DISCORD_TOKEN: 'x.y.z' });
  assertOneLineFailure(start, /ECONNREFUSED/, 'start');
  assert.not.match(start.stderr, /pg-s3cret-pw/);
});

test('a REDIS_URL that does not answer is named without its password, in the error and in every log line', async () => {
  const run = await cli(['start'], {
    DATABASE_URL: `sqlite:${join(dir, 'redis-case.sqlite')}`,
    REDIS_URL: 'redis://default:r3dis-s3cret@127.0.0.1:1/0',
    DISCORD_TOKEN: 'x.y.z',
    HTTP_PORT: '0',
  });
  assert.is(run.status, 1, run.stderr);
  assert.match(run.stderr, /REDIS_URL=redis:\/\/default:\*\*\*@127\.0\.0\.1:1\/0 does not answer/);
  assert.ok(run.stderr.includes('"msg":"migration applied"'), 'the log lines before the failure were printed too');
  assert.not.match(run.stdout + run.stderr, /r3dis-s3cret/);
});

test.run();
