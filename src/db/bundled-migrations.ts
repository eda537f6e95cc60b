// The migrations compiled into the bundle (`npm run build` replaces this module with one that imports every file
// of migrations/ statically). From the sources it is null and the migrator reads the migrations/ folder: in the
// bundle that folder's files would each load a second, unbundled kysely (~18 MB and ~0.4 s at every start).
import type { MigrationProvider } from 'kysely';

export const bundledMigrations: MigrationProvider | null = null;
