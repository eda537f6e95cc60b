import { closeSync, mkdirSync, openSync, readSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type SQLite from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect, sql, type LogEvent, type Transaction } from 'kysely';
import type pg from 'pg';
import { lazyRequire } from '../lazy-require.ts';
import { redactUrl } from '../redact.ts';
import { startCheckpointer, type CheckpointerOptions } from './checkpointer.ts';
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

// Only the driver of the database in use is loaded (pg is ~14 MB of a process, better-sqlite3 ~5 MB).
const loadSqlite = lazyRequire<typeof SQLite>('better-sqlite3');
const requirePg = lazyRequire<typeof pg>('pg');
function loadPg(): typeof pg {
  const driver = requirePg();
  // PostgreSQL returns BIGINT (count(*)) and NUMERIC as strings by default; our counts fit in a double.
  driver.types.setTypeParser(20, (v) => Number(v));
  driver.types.setTypeParser(1700, (v) => Number(v));
  return driver;
}

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
   * and `start`: it keeps their event loop free of fsyncs), every `everyMs` (default 100), while the connection
   * writes (src/db/checkpointer.ts). `onError` hears of the worker failing.
   */
  backgroundCheckpoints?: CheckpointerOptions;
}

/** The database named by DATABASE_URL cannot be opened: the message is one line naming the variable and the cause. */
export class DatabaseUnavailableError extends Error {
  override name = 'DatabaseUnavailableError';
}

function cannotOpen(url: string, cause: string): DatabaseUnavailableError {
  return new DatabaseUnavailableError(`DATABASE_URL=${redactUrl(url)}: ${cause}`);
}

/** An error's code and message on one line (an AggregateError, as Node gives for a refused localhost, has no message of its own). */
export function describeError(err: unknown): string {
  const inner = err instanceof AggregateError && err.errors.length ? err.errors[0] : err;
  const e = inner as { code?: unknown; message?: unknown } | null;
  const message = typeof e?.message === 'string' && e.message ? e.message : String(inner);
  const code = typeof e?.code === 'string' && !message.includes(e.code) ? `${e.code}: ` : '';
  return redactUrl(`${code}${message}`.replace(/\s*\n\s*/g, ' ').trim());
}

/**
 * Creates the missing folders above a SQLite file one level at a time: Node 20's `mkdirSync({ recursive: true })`
 * loops forever under /proc.
 */
function ensureParentFolder(url: string, file: string): void {
  const missing: string[] = [];
  for (let dir = dirname(file); ;) {
    try {
      if (!statSync(dir).isDirectory()) throw cannotOpen(url, `${dir} is not a folder`);
      break;
    } catch (err) {
      if (err instanceof DatabaseUnavailableError) throw err;
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw cannotOpen(url, `cannot use the folder ${dir} (${describeError(err)})`);
      missing.push(dir);
      const up = dirname(dir);
      if (up === dir) break;
      dir = up;
    }
  }
  for (const dir of missing.reverse()) {
    try {
      mkdirSync(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw cannotOpen(url, `cannot create the folder ${dir} (${describeError(err)})`);
    }
  }
}

const SQLITE_HEADER = Buffer.from('SQLite format 3\0', 'latin1');

/** Refuses, before SQLite opens it, a path that is a folder, a file that is not a SQLite database, or one cut short. */
function checkSqliteFile(url: string, file: string): void {
  let size: number;
  try {
    const st = statSync(file);
    if (st.isDirectory()) throw cannotOpen(url, `${file} is a folder, not a database file`);
    if (!st.isFile()) throw cannotOpen(url, `${file} is not a regular file`);
    size = st.size;
  } catch (err) {
    if (err instanceof DatabaseUnavailableError) throw err;
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // a new database
    throw cannotOpen(url, `cannot read ${file} (${describeError(err)})`);
  }
  if (size === 0) return; // SQLite treats an empty file as an empty database
  const header = Buffer.alloc(100);
  let read = 0;
  try {
    const fd = openSync(file, 'r');
    try {
      read = readSync(fd, header, 0, 100, 0);
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    throw cannotOpen(url, `cannot read ${file} (${describeError(err)})`);
  }
  if (read < 100 || !header.subarray(0, 16).equals(SQLITE_HEADER))
    throw cannotOpen(url, `${file} is not a SQLite database (it does not start with SQLite's header)`);
  // The page count in the header is valid when the change counter matches "version valid for" (SQLite file format §1.3).
  const rawPageSize = header.readUInt16BE(16);
  const pageSize = rawPageSize === 1 ? 65536 : rawPageSize;
  const pages = header.readUInt32BE(28);
  if (header.readUInt32BE(24) === header.readUInt32BE(92) && pages > 0 && size < pageSize * pages) {
    throw cannotOpen(url, `${file} is truncated or damaged (${size} bytes, its header announces ${pages} pages of ${pageSize} bytes)`);
  }
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
    if (!memory) {
      ensureParentFolder(url, resolve(path));
      checkSqliteFile(url, resolve(path));
    }
    let sqlite: SQLite.Database | undefined;
    try {
      const SQLiteDatabase = loadSqlite();
      sqlite = new SQLiteDatabase(memory ? ':memory:' : path);
      if (!memory) sqlite.pragma('journal_mode = WAL');
      sqlite.pragma('foreign_keys = ON');
      sqlite.pragma('busy_timeout = 5000');
      sqlite.pragma('synchronous = NORMAL');
      // An 8 MB page cache instead of SQLite's 2 MB: a reply touches ~15 b-tree pages (the table, its 8 indexes, the
      // digest's and the web's counters), and past a few thousand replies those no longer fit in 2 MB, so every batch
      // read them back from the file. Two pairs of the 100,000-event burst (4 Dec 2026, load ~1.5): +9 % and +23 %
      // events/s, paced p99 −30 % and −78 %, peak RSS +7 and +13 MB; storing alone ~25 % less CPU per row. Filled only
      // as pages are used: an idle process with a small database keeps its size.
      sqlite.pragma('cache_size = -8000');
      // Deleted means deleted: space freed by an erased comment (a deleted message's text, author, attachments) is
      // overwritten with zeros, so the text is gone from the file itself, not only from the rows.
      sqlite.pragma('secure_delete = ON');
      // Reads the schema: a file damaged past its header fails here, not in the middle of a migration.
      sqlite.prepare('select count(*) from sqlite_master').get();
    } catch (err) {
      sqlite?.close();
      throw cannotOpen(url, `cannot open the SQLite database (${describeError(err)})`);
    }
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
  const pool = new (loadPg().Pool)({ connectionString: url, max: poolSize, connectionTimeoutMillis: 10_000 });
  // An idle client that loses its server (PostgreSQL restarted) must not crash the process.
  pool.on('error', () => {});
  // Nor one that is checked out (inside a transaction, between two queries): pg emits its 'error' outside any
  // query, and without a listener that is an uncaught exception. The next query on it fails instead, and
  // the pool discards the broken client when it is released.
  pool.on('connect', (client) => client.on('error', () => {}));
  const kysely = new Kysely<Database>({ dialect: new PostgresDialect({ pool }), log });
  return { dialect: 'postgres', kysely, description: redactUrl(url), destroy: () => kysely.destroy() };
}

/**
 * `createDb` plus one round trip, so that every failure to open the database (a missing folder that cannot be
 * made, a file that is not a database, a PostgreSQL that refuses or does not answer) is a DatabaseUnavailableError
 * naming DATABASE_URL and the cause, raised within seconds.
 */
export async function openDb(config: { databaseUrl: string }, opts: CreateDbOptions & { timeoutMs?: number } = {}): Promise<RootDb> {
  const db = createDb(config, opts);
  const timeoutMs = opts.timeoutMs ?? 10_000;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      pingDb(db),
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs / 1000} s`)), timeoutMs))),
    ]);
    return db;
  } catch (err) {
    void db.destroy().catch(() => {});
    throw cannotOpen(config.databaseUrl, `cannot connect to ${db.dialect === 'postgres' ? 'PostgreSQL' : 'the database'} (${describeError(err)})`);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs `fn` in one transaction; the handle it gets is a Db like any other. */
export async function withTransaction<T>(db: Db, fn: (tx: Db) => Promise<T>): Promise<T> {
  if (db.kysely.isTransaction) return fn(db);
  return (db.kysely as Kysely<Database>).transaction().execute((trx) => fn({ dialect: db.dialect, kysely: trx }));
}

/**
 * Runs a query on PostgreSQL with JIT compilation off (SET LOCAL, in a transaction): the planner's cost of the
 * digest's and the rating mean's million-row aggregates crosses jit_above_cost, and compiling them took longer
 * (~2.7 s measured) than running them. SQLite runs `fn` as is.
 */
export async function withoutJit<T>(db: Db, fn: (db: Db) => Promise<T>): Promise<T> {
  if (db.dialect !== 'postgres') return fn(db);
  return withTransaction(db, async (tx) => {
    await sql`set local jit = off`.execute(tx.kysely);
    return fn(tx);
  });
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
