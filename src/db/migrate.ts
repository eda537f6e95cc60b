import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileMigrationProvider, Migrator, NO_MIGRATIONS, sql, type MigrationProvider, type MigrationResultSet } from 'kysely';
import { bundledMigrations } from './bundled-migrations.ts';
import type { RootDb } from './index.ts';

const migrationFolder = fileURLToPath(new URL('../../migrations', import.meta.url));

const provider = (): MigrationProvider => bundledMigrations ?? new FileMigrationProvider({ fs, path, migrationFolder });

/** Kysely's order of migration names (see nameComparator below). */
const byName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

async function migrator(db: RootDb, migrations: MigrationProvider = provider()): Promise<Migrator> {
  // On PostgreSQL, name the schema: without it Kysely finds another schema's kysely_migration_lock table and
  // skips creating this schema's own (several databases or test schemas on one server).
  const schema = db.dialect === 'postgres' ? (await sql<{ schema: string }>`select current_schema() as schema`.execute(db.kysely)).rows[0]?.schema : undefined;
  return new Migrator({
    db: db.kysely,
    provider: migrations,
    // The applied migrations in the order Kysely sorts the known ones (by UTF-16 code unit; the names are ASCII, so
    // the same order as its default localeCompare), without the collator: its first use loads ~6.5 MB of ICU data
    // into every process at start (each role migrates), which `web` then keeps idle.
    nameComparator: byName,
    ...(schema ? { migrationTableSchema: schema } : {}),
  });
}

export interface MigrationStep {
  name: string;
  direction: 'Up' | 'Down';
  status: 'Success' | 'Error' | 'NotExecuted';
}

export class MigrationError extends Error {
  override name = 'MigrationError';
  constructor(
    message: string,
    readonly steps: MigrationStep[],
    override readonly cause: unknown,
  ) {
    super(message);
  }
}

/** The steps run; a failure is a MigrationError naming the database (password hidden) and the migration. */
function settle(db: RootDb, { error, results }: MigrationResultSet): MigrationStep[] {
  const steps = (results ?? []).map(({ migrationName, direction, status }) => ({ name: migrationName, direction, status }));
  if (error) {
    const failed = steps.find((s) => s.status === 'Error');
    const reason = error instanceof Error ? error.message : String(error);
    throw new MigrationError(`DATABASE_URL=${db.description}: migration ${failed?.name ?? '(none)'} failed: ${reason.replace(/\s*\n\s*/g, ' ')}`, steps, error);
  }
  return steps;
}

/**
 * Applies the migrations not applied yet. Every process start calls it, and nearly always every migration is
 * applied: that is checked first with one read of the migration table, and only otherwise is Kysely's migrator run.
 * (Before doing anything, the migrator makes sure its two tables exist by listing every column of every table the
 * database holds, twice: on PostgreSQL ~80 ms of each start, for nothing.)
 */
export async function migrateToLatest(db: RootDb): Promise<MigrationStep[]> {
  const migrations = provider();
  if (await allApplied(db, migrations)) return [];
  return settle(db, await (await migrator(db, migrations)).migrateToLatest());
}

/**
 * Whether the migration table lists exactly the known migrations. False when it does not (one to apply, or one
 * applied that this version does not know: the migrator then says so) and when it cannot be read (no table yet,
 * or the database away: the migrator then fails with the error to report).
 */
async function allApplied(db: RootDb, migrations: MigrationProvider): Promise<boolean> {
  try {
    const known = Object.keys(await migrations.getMigrations()).sort(byName);
    // PostgreSQL: the current schema's table only (where the migrator keeps it), not one found further on the search path.
    const table =
      db.dialect === 'postgres'
        ? (await sql<{ t: string | null }>`select to_regclass(quote_ident(current_schema()) || '.kysely_migration')::text as t`.execute(db.kysely)).rows[0]?.t
        : 'kysely_migration';
    if (!table) return false;
    const { rows } = await sql<{ name: string }>`select name from ${sql.raw(table)}`.execute(db.kysely);
    const applied = rows.map((r) => r.name).sort(byName);
    return applied.length === known.length && applied.every((name, i) => name === known[i]);
  } catch {
    return false;
  }
}

export async function migrateDown(db: RootDb): Promise<MigrationStep[]> {
  return settle(db, await (await migrator(db)).migrateDown());
}

/** Rolls every migration back (tests use it to prove `down` works). */
export async function migrateAllDown(db: RootDb): Promise<MigrationStep[]> {
  return settle(db, await (await migrator(db)).migrateTo(NO_MIGRATIONS));
}

export async function migrationStatus(db: RootDb): Promise<Array<{ name: string; executedAt: Date | null }>> {
  const list = await (await migrator(db)).getMigrations();
  return list.map((m) => ({ name: m.name, executedAt: m.executedAt ?? null }));
}
