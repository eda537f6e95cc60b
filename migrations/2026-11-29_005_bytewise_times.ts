import { sql, SqliteAdapter, type Kysely } from 'kysely';

// Frozen in time. Times of comments and ratings compare byte by byte on PostgreSQL (COLLATE "C"), as they
// already do on SQLite (BINARY).
//
// comments.created_at and ratings.updated_at are ISO-8601 UTC text of one fixed shape
// (YYYY-MM-DDTHH:MM:SS.sssZ), whose byte order is time order. Under the database's locale collation
// (C.UTF-8, en_US.UTF-8 …) every comparison of them went through strcoll(): the weekly digest compares each
// comment and rating of its week against the window's bounds, and that locale-aware comparison was about a
// third of the time of those scans. Byte order is the same order for these strings, so no result changes.
//
// PostgreSQL: the column's collation changes; the table is not rewritten, the indexes that hold the column are
// rebuilt (holding a lock on the table while they are: minutes on a very large table). Comparisons with
// parameters or columns of the default collation take the column's. SQLite: nothing to do.

const isSqlite = (db: Kysely<any>): boolean => db.getExecutor().adapter instanceof SqliteAdapter;

export async function up(db: Kysely<any>): Promise<void> {
  if (isSqlite(db)) return;
  await sql`alter table comments alter column created_at type text collate "C"`.execute(db);
  await sql`alter table ratings alter column updated_at type text collate "C"`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  if (isSqlite(db)) return;
  await sql`alter table ratings alter column updated_at type text collate "default"`.execute(db);
  await sql`alter table comments alter column created_at type text collate "default"`.execute(db);
}
