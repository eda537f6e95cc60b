// SQLite WAL checkpoints on a worker thread (src/db/checkpointer.ts): the bot's connection no longer
// checkpoints in its event loop, the WAL still stays small, closing stops the worker, a worker that fails
// hands checkpoints back to the bot's connection, and the worker runs only while the connection writes.
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { sql } from 'kysely';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startCheckpointer } from '../../src/db/checkpointer.ts';
import { createDb } from '../../src/db/index.ts';

const test = suite('sqlite background checkpoints');
const dir = mkdtempSync(join(tmpdir(), 'blogcord-ckpt-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const walBytes = (file: string) => (existsSync(`${file}-wal`) ? statSync(`${file}-wal`).size : 0);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('writes spread over time keep the WAL small though the bot connection no longer checkpoints it; closing stops the worker', async () => {
  const file = join(dir, 'spread.sqlite');
  const errors: unknown[] = [];
  const db = createDb({ databaseUrl: `sqlite:${file}` }, { backgroundCheckpoints: { everyMs: 20, watchMs: 20, onError: (e) => errors.push(e) } });
  await sql`create table blobs (id integer primary key, data blob)`.execute(db.kysely);
  const { rows } = await sql<{ wal_autocheckpoint: number }>`pragma wal_autocheckpoint`.execute(db.kysely);
  assert.is(rows[0]!.wal_autocheckpoint, 10_000, 'the bot connection only checkpoints as a backstop');
  // 60 transactions of ~25 pages (6 MB in all): without checkpoints the WAL would hold all of it.
  let largest = 0;
  for (let i = 0; i < 60; i++) {
    await sql`insert into blobs (data) values (randomblob(100000))`.execute(db.kysely);
    largest = Math.max(largest, walBytes(file));
    await sleep(15);
  }
  assert.ok(largest < 3_000_000, `the WAL was checkpointed and reused as it went (largest ${largest} bytes)`);
  await db.destroy();
  assert.not.ok(existsSync(`${file}-wal`), 'both connections closed cleanly (the last one removes the WAL)');
  assert.equal(errors, []);
});

test('a checkpoint worker that fails is reported, and the connection checkpoints itself again', async () => {
  const file = join(dir, 'fallback.sqlite');
  const sqlite = new SQLite(file);
  sqlite.pragma('journal_mode = WAL');
  const errors: unknown[] = [];
  // The worker cannot open a directory as a database: it fails at once.
  const cp = startCheckpointer(sqlite, dir, { watchMs: 20, onError: (e) => errors.push(e) });
  const autocheckpoint = () => sqlite.pragma('wal_autocheckpoint', { simple: true });
  assert.is(autocheckpoint(), 10_000, 'the backstop while the worker may run');
  // The worker starts at the first write.
  sqlite.exec('create table t (x); insert into t values (1)');
  for (let i = 0; i < 300 && autocheckpoint() !== 1000; i++) await sleep(10);
  assert.is(autocheckpoint(), 1000, "SQLite's default is back");
  assert.is(errors.length, 1);
  assert.not.ok(cp.running);
  // No second worker: checkpoints stay the connection's own.
  sqlite.exec('insert into t values (2)');
  await sleep(100);
  assert.not.ok(cp.running);
  assert.is(errors.length, 1);
  await cp.stop();
  sqlite.close();
});

test('the worker starts at the first write, stops once the connection is idle, and starts again at the next write', async () => {
  const file = join(dir, 'demand.sqlite');
  const sqlite = new SQLite(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.exec('create table t (x blob)');
  const before = statSync(file).size;
  const errors: unknown[] = [];
  const cp = startCheckpointer(sqlite, file, { everyMs: 20, watchMs: 20, idleMs: 200, onError: (e) => errors.push(e) });
  const until = async (what: () => boolean) => {
    for (let i = 0; i < 300 && !what(); i++) await sleep(10);
    return what();
  };
  await sleep(100);
  assert.not.ok(cp.running, 'no worker while nothing is written');
  assert.ok(before < 100_000);
  sqlite.exec('insert into t values (randomblob(100000))');
  assert.ok(await until(() => cp.running), 'a write starts it');
  assert.ok(await until(() => !cp.running), 'idle for 200 ms: stopped');
  assert.ok(statSync(file).size > 100_000, 'the worker copied the written pages into the database file');
  sqlite.exec('insert into t values (randomblob(100000))');
  assert.ok(await until(() => cp.running), 'the next write starts it again');
  assert.is(sqlite.pragma('wal_autocheckpoint', { simple: true }), 10_000, 'the connection keeps the backstop');
  await cp.stop();
  assert.not.ok(cp.running);
  assert.equal(errors, []);
  sqlite.close();
});

test('an in-memory database gets no worker', async () => {
  const db = createDb({ databaseUrl: 'sqlite::memory:' }, { backgroundCheckpoints: {} });
  const { rows } = await sql<{ wal_autocheckpoint: number }>`pragma wal_autocheckpoint`.execute(db.kysely);
  assert.is(rows[0]!.wal_autocheckpoint, 1000);
  await db.destroy();
});

test.run();
