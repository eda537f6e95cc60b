import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileMigrationProvider, Migrator, NO_MIGRATIONS, type MigrationResultSet } from 'kysely';
import type { RootDb } from './index.ts';

const migrationFolder = fileURLToPath(new URL('../../migrations', import.meta.url));

function migrator(db: RootDb): Migrator {
  return new Migrator({ db: db.kysely, provider: new FileMigrationProvider({ fs, path, migrationFolder }) });
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

function settle({ error, results }: MigrationResultSet): MigrationStep[] {
  const steps = (results ?? []).map(({ migrationName, direction, status }) => ({ name: migrationName, direction, status }));
  if (error) {
    const failed = steps.find((s) => s.status === 'Error');
    const reason = error instanceof Error ? error.message : String(error);
    throw new MigrationError(`migration ${failed?.name ?? '(none)'} failed: ${reason}`, steps, error);
  }
  return steps;
}

export async function migrateToLatest(db: RootDb): Promise<MigrationStep[]> {
  return settle(await migrator(db).migrateToLatest());
}

export async function migrateDown(db: RootDb): Promise<MigrationStep[]> {
  return settle(await migrator(db).migrateDown());
}

/** Rolls every migration back (tests use it to prove `down` works). */
export async function migrateAllDown(db: RootDb): Promise<MigrationStep[]> {
  return settle(await migrator(db).migrateTo(NO_MIGRATIONS));
}

export async function migrationStatus(db: RootDb): Promise<Array<{ name: string; executedAt: Date | null }>> {
  const list = await migrator(db).getMigrations();
  return list.map((m) => ({ name: m.name, executedAt: m.executedAt ?? null }));
}
