import { sql, SqliteAdapter, type Kysely } from 'kysely';

// Full-text search over posts (title + summary as plain text, `posts.search_text`), one branch per engine.
// The engine is told by the dialect adapter Kysely was built with (`db.getExecutor().adapter`): the
// migration provider hands every migration the same Kysely instance the application uses.
//
// SQLite: an FTS5 table `posts_fts(post_id, title, body)` kept in sync by triggers on `posts` (insert,
//   update of title/search_text, delete), ranked with bm25(). Not an external-content table: `posts` has a
//   text primary key, and its implicit rowid may change on VACUUM.
// PostgreSQL: a GIN expression index on a weighted tsvector (title A, search text B) with the 'simple'
//   configuration (no stemming, no stop words: blogs are written in any language). The query in
//   src/repositories/search.ts repeats exactly this expression (copied, not imported: a migration is
//   frozen in time) so the planner uses the index.

const PG_SEARCH_VECTOR = sql`(setweight(to_tsvector('simple', coalesce(title, '')), 'A') || setweight(to_tsvector('simple', coalesce(search_text, '')), 'B'))`;

const isSqlite = (db: Kysely<any>): boolean => db.getExecutor().adapter instanceof SqliteAdapter;

export async function up(db: Kysely<any>): Promise<void> {
  if (isSqlite(db)) {
    await sql`create virtual table posts_fts using fts5(post_id unindexed, title, body, tokenize = 'unicode61 remove_diacritics 2')`.execute(db);
    await sql`insert into posts_fts (post_id, title, body) select id, title, search_text from posts`.execute(db);
    await sql`create trigger posts_fts_insert after insert on posts begin
      insert into posts_fts (post_id, title, body) values (new.id, new.title, new.search_text);
    end`.execute(db);
    await sql`create trigger posts_fts_update after update of title, search_text on posts begin
      delete from posts_fts where post_id = old.id;
      insert into posts_fts (post_id, title, body) values (new.id, new.title, new.search_text);
    end`.execute(db);
    await sql`create trigger posts_fts_delete after delete on posts begin
      delete from posts_fts where post_id = old.id;
    end`.execute(db);
    return;
  }
  await sql`create index posts_search_idx on posts using gin (${PG_SEARCH_VECTOR})`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  if (isSqlite(db)) {
    await sql`drop trigger if exists posts_fts_delete`.execute(db);
    await sql`drop trigger if exists posts_fts_update`.execute(db);
    await sql`drop trigger if exists posts_fts_insert`.execute(db);
    await sql`drop table if exists posts_fts`.execute(db);
    return;
  }
  await sql`drop index if exists posts_search_idx`.execute(db);
}
