// Test databases: the same suites run on SQLite (in memory) and PostgreSQL (a fresh schema per database, dropped afterwards).
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createDb, withTransaction, type Db, type RootDb } from '../../src/db/index.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';

export type TestDialect = 'sqlite' | 'postgres';
export const DIALECTS: readonly TestDialect[] = ['sqlite', 'postgres'];

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface TestDb {
  db: RootDb;
  /** The DATABASE_URL of this database, for child processes (the bot started as a real process). */
  url: string;
  close(): Promise<void>;
}

/** A fresh PostgreSQL schema (`name`, or t_ and random hex); the returned URL selects it through `search_path`. */
export async function createPgSchema(name?: string): Promise<{ url: string; drop(): Promise<void> }> {
  const schema = name ?? `t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  try {
    await admin.query(`create schema ${schema}`);
  } finally {
    await admin.end();
  }
  const url = new URL(TEST_DATABASE_URL);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await c.connect();
      try {
        await c.query(`drop schema if exists ${schema} cascade`);
      } finally {
        await c.end();
      }
    },
  };
}

/** A migrated, empty database of the given dialect. `file` keeps SQLite on disk (for child processes). */
export async function createTestDb(dialect: TestDialect, opts: { migrate?: boolean; file?: string } = {}): Promise<TestDb> {
  if (dialect === 'sqlite') {
    const url = `sqlite:${opts.file ?? ':memory:'}`;
    const db = createDb({ databaseUrl: url });
    if (opts.migrate !== false) await migrateToLatest(db);
    return { db, url, close: () => db.destroy() };
  }
  const schema = await createPgSchema();
  const db = createDb({ databaseUrl: schema.url });
  if (opts.migrate !== false) await migrateToLatest(db);
  return {
    db,
    url: schema.url,
    async close() {
      await db.destroy();
      await schema.drop();
    },
  };
}

/** `db` (any handle) whose every query fails with a connection error while `down` is true; counts the attempts. */
export function flakyDb<D extends Db>(db: D): D & { down: boolean; attempts: number } {
  const state = { down: false, attempts: 0 };
  return new Proxy(db, {
    get(target, prop, receiver) {
      if (prop === 'down' || prop === 'attempts') return state[prop];
      if (prop === 'kysely') {
        state.attempts++;
        if (state.down) throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
      }
      return Reflect.get(target, prop, receiver) as unknown;
    },
    set(target, prop, value, receiver) {
      if (prop === 'down' || prop === 'attempts') return Reflect.set(state, prop, value);
      return Reflect.set(target, prop, value, receiver);
    },
  }) as D & { down: boolean; attempts: number };
}

class Rollback extends Error {}

/** `fn` in a transaction that is rolled back (the database is left as it was); resolves with what `fn` returned. */
export async function rolledBack<T>(db: Db, fn: (tx: Db) => Promise<T>): Promise<T> {
  let out: T | undefined;
  try {
    await withTransaction(db, async (tx) => {
      out = await fn(tx);
      throw new Rollback();
    });
  } catch (err) {
    if (!(err instanceof Rollback)) throw err;
  }
  return out as T;
}
