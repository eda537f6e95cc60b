import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect, type LogEvent, type Transaction } from 'kysely';
import pg from 'pg';
import { startCheckpointer } from './checkpointer.ts';
import type { Database } from './schema.ts';

export type Dialect = 'sqlite' | 'postgres';

/**
 * The database handle every repository takes first. Kysely stays behind it: only `src/db` and
 * `src/repositories` touch `kysely`.
 */
export interface Db {
  readonly dialect: Dialect;
  readonly kysely: Kysely<Database> | Transaction<Database>;
}

export interface RootDb extends Db {
  readonly kysely: Kysely<Database>;
  /** A short description safe to log (no password). */
  readonly description: string;
  destroy(): Promise<void>;
}

// PostgreSQL returns BIGINT (count(*)) and NUMERIC as strings by default; our counts fit in a double.
pg.types.setTypeParser(20, (v) => Number(v));
pg.types.setTypeParser(1700, (v) => Number(v));

export function dialectOf(databaseUrl: string): Dialect {
  return databaseUrl.startsWith('sqlite:') ? 'sqlite' : 'postgres';
}

/**
 * Kysely prepares every query anew; with better-sqlite3 a prepared statement can be reused, which saves a
 * good part of each query's cost on hot paths (reactions, comment batches). Bounded, least recently used first
 * out, by count and by the total length of the SQL: a multi-row insert of a few hundred rows compiles to a
 * program of hundreds of kilobytes, and batches come in every size, so a count alone let the cache keep
 * hundreds of megabytes of native memory.
 */
function reusePreparedStatements(sqlite: SQLite.Database, max = 500, maxSourceChars = 1_000_000): SQLite.Database {
  const cache = new Map<string, SQLite.Statement>();
  let chars = 0;
  const prepare = sqlite.prepare.bind(sqlite);
  const cachedPrepare = (source: string): SQLite.Statement => {
    let stmt = cache.get(source);
    if (stmt) {
      cache.delete(source);
    } else {
      stmt = prepare(source);
      if (source.length > maxSourceChars / 4) return stmt; // too big to keep
      chars += source.length;
      while (cache.size >= max || chars > maxSourceChars) {
        const oldest = cache.keys().next().value!;
        cache.delete(oldest);
        chars -= oldest.length;
      }
    }
    cache.set(source, stmt);
    return stmt;
  };
  return new Proxy(sqlite, {
    get(target, prop) {
      if (prop === 'prepare') return cachedPrepare;
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** better-sqlite3 for `sqlite:PATH` (WAL, foreign keys, busy timeout) or a pg pool for `postgres://…`. */
export interface CreateDbOptions {
  poolSize?: number;
  /** Sees every query with its duration (benchmarks use it to explain the queries they time). */
  onQuery?: (sql: string, parameters: readonly unknown[], ms: number) => void;
  /**
   * SQLite file databases: WAL checkpoints on a worker thread instead of the committing connection (the bot
   * and `start`: it keeps their event loop free of fsyncs), every `everyMs` (default 100). `onError` hears of
   * the worker failing.
   */
  backgroundCheckpoints?: { everyMs?: number; onError?: (err: unknown) => void };
}

export function createDb(config: { databaseUrl: string }, { poolSize = 10, onQuery, backgroundCheckpoints }: CreateDbOptions = {}): RootDb {
  const log = onQuery
    ? (event: LogEvent) => {
        if (event.level === 'query') onQuery(event.query.sql, event.query.parameters, event.queryDurationMillis);
      }
    : undefined;
  const url = config.databaseUrl;
  if (dialectOf(url) === 'sqlite') {
    const path = url.slice('sqlite:'.length);
    const memory = path === ':memory:';
    if (!memory) mkdirSync(dirname(resolve(path)), { recursive: true });
    const sqlite = new SQLite(memory ? ':memory:' : path);
    if (!memory) sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('foreign_keys = ON');
    sqlite.pragma('busy_timeout = 5000');
    sqlite.pragma('synchronous = NORMAL');
    // Deleted means deleted: space freed by an erased comment (a deleted message's text, author, attachments) is
    // overwritten with zeros, so the text is gone from the file itself, not only from the rows.
    sqlite.pragma('secure_delete = ON');
    const kysely = new Kysely<Database>({ dialect: new SqliteDialect({ database: reusePreparedStatements(sqlite) }), log });
    const checkpointer = backgroundCheckpoints && !memory ? startCheckpointer(sqlite, resolve(path), backgroundCheckpoints) : null;
    return {
      dialect: 'sqlite',
      kysely,
      description: `sqlite:${memory ? ':memory:' : resolve(path)}`,
      destroy: async () => {
        await checkpointer?.stop();
        await kysely.destroy();
      },
    };
  }
  const pool = new pg.Pool({ connectionString: url, max: poolSize, connectionTimeoutMillis: 10_000 });
  // An idle client that loses its server (PostgreSQL restarted) must not crash the process.
  pool.on('error', () => {});
  // Nor one that is checked out (inside a transaction, between two queries): pg emits its 'error' outside any
  // query, and without a listener that is an uncaught exception. The next query on it fails instead, and
  // the pool discards the broken client when it is released.
  pool.on('connect', (client) => client.on('error', () => {}));
  const kysely = new Kysely<Database>({ dialect: new PostgresDialect({ pool }), log });
  const safe = new URL(url);
  safe.password = '';
  return { dialect: 'postgres', kysely, description: safe.toString(), destroy: () => kysely.destroy() };
}

/** Runs `fn` in one transaction; the handle it gets is a Db like any other. */
export async function withTransaction<T>(db: Db, fn: (tx: Db) => Promise<T>): Promise<T> {
  if (db.kysely.isTransaction) return fn(db);
  return (db.kysely as Kysely<Database>).transaction().execute((trx) => fn({ dialect: db.dialect, kysely: trx }));
}

/**
 * Whether the database refused a statement for the values it carried (a constraint, text it cannot store),
 * so that running it again as it is fails again; not for the database being away, busy or locked.
 * PostgreSQL: SQLSTATE classes 22 (data exception) and 23 (integrity constraint violation).
 */
export function isDataError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return false;
  return /^SQLITE_(CONSTRAINT|MISMATCH|TOOBIG)/.test(code) || /^2[23][0-9A-Z]{3}$/.test(code);
}

/** A cheap round trip, for health checks. */
export async function pingDb(db: Db): Promise<void> {
  await db.kysely.selectNoFrom((eb) => eb.lit(1).as('one')).execute();
}
