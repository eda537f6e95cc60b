import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileMigrationProvider, Migrator, NO_MIGRATIONS, sql, type MigrationResultSet } from 'kysely';
import { bundledMigrations } from './bundled-migrations.ts';
import type { RootDb } from './index.ts';

const migrationFolder = fileURLToPath(new URL('../../migrations', import.meta.url));

async function migrator(db: RootDb): Promise<Migrator> {
  // On PostgreSQL, name the schema: without it Kysely finds another schema's kysely_migration_lock table and
  // skips creating this schema's own (several databases or test schemas on one server).
  const schema = db.dialect === 'postgres' ? (await sql<{ schema: string }>`select current_schema() as schema`.execute(db.kysely)).rows[0]?.schema : undefined;
  return new Migrator({
    db: db.kysely,
    provider: bundledMigrations ?? new FileMigrationProvider({ fs, path, migrationFolder }),
    // The applied migrations in the order Kysely sorts the known ones (by UTF-16 code unit; the names are ASCII, so
    // the same order as its default localeCompare), without the collator: its first use loads ~6.5 MB of ICU data
    // into every process at start (each role migrates), which `web` then keeps idle.
    nameComparator: (a, b) => (a < b ? -1 : a > b ? 1 : 0),
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

export async function migrateToLatest(db: RootDb): Promise<MigrationStep[]> {
  return settle(db, await (await migrator(db)).migrateToLatest());
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
