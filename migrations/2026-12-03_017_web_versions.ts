import { sql, SqliteAdapter, type Kysely } from 'kysely';

// Frozen in time. What the web shows, versioned (issue 17, "fast without a stale cache"):
//
// - web_post_versions (post_id, version): bumped in the same transaction as every write that changes what the web
//   shows of one post: a comment inserted, edited, deleted or erased (any change of its row), a rating set, changed
//   or removed, the post's own row changed (title, links, state, discussion closed, …).
// - web_guild_versions (guild_id, version): bumped by every write that changes what the web shows of a whole server:
//   a member's privacy choice (member_privacy), a `/privacy forget` (forgotten_members), a feed put on or taken off
//   the web (feeds.web_enabled), a feed added or removed.
//
// A web process keeps built answers in memory and, on each request, reads the post's two versions with one indexed
// lookup: the same versions → the stored bytes (and ETag); different → built again. So an unchanged post is served
// from memory and any change shows on the very next request. Kept by triggers (like migration 012's rollups), so no
// writer can forget them: SQLite row triggers; PostgreSQL statement triggers over the transition tables (one
// statement per write, whatever its size). Rows are never deleted (a post removed and added again keeps counting
// up, so an old answer never matches). A missing row reads as version 0.
//
// Also: comments.author_avatar, the author's avatar as Discord's hash, 'g:<hash>' for the member's server avatar or
// 'u:<hash>' for the user's own (null: the default avatar or unknown). The web serves it through /avatars/:commentId
// (never a Discord URL, which carries the user's id).

const isSqlite = (db: Kysely<any>): boolean => db.getExecutor().adapter instanceof SqliteAdapter;

/** The columns of a post whose change the web shows (or that decide whether and where it is served). */
const POST_COLS = [
  'feed_id',
  'guild_id',
  'url',
  'canonical_link',
  'title',
  'author',
  'published_at',
  'summary',
  'image_url',
  'channel_id',
  'message_id',
  'thread_id',
  'publish_state',
  'discussion_closed_at',
];
const COMMENT_COLS = [
  'post_id',
  'guild_id',
  'author_id',
  'author_name',
  'author_avatar',
  'content',
  'reply_to_id',
  'attachments',
  'created_at',
  'edited_at',
  'deleted_at',
];

const bumpPost = (expr: string) =>
  `insert into web_post_versions (post_id, version) values (${expr}, 1) on conflict (post_id) do update set version = web_post_versions.version + 1`;
const bumpGuild = (expr: string) =>
  `insert into web_guild_versions (guild_id, version) values (${expr}, 1) on conflict (guild_id) do update set version = web_guild_versions.version + 1`;

function sqliteTriggers(): string[] {
  const changed = (cols: string[]) => cols.map((c) => `old.${c} is not new.${c}`).join(' or ');
  const t = (name: string, when: string, table: string, cond: string, body: string[]) =>
    `create trigger ${name} after ${when} on ${table}${cond ? ` when ${cond}` : ''} begin ${body.map((s) => `${s};`).join(' ')} end`;
  // An update that moves a row to another post (or server) bumps both; where they are the same, twice (harmless).
  return [
    t('web_comments_ai', 'insert', 'comments', '', [bumpPost('new.post_id')]),
    t('web_comments_ad', 'delete', 'comments', '', [bumpPost('old.post_id')]),
    t('web_comments_au', 'update', 'comments', changed(COMMENT_COLS), [bumpPost('old.post_id'), bumpPost('new.post_id')]),
    t('web_ratings_ai', 'insert', 'ratings', '', [bumpPost('new.post_id')]),
    t('web_ratings_ad', 'delete', 'ratings', '', [bumpPost('old.post_id')]),
    t('web_ratings_au', 'update', 'ratings', changed(['post_id', 'user_id', 'stars']), [bumpPost('old.post_id'), bumpPost('new.post_id')]),
    t('web_posts_ai', 'insert', 'posts', '', [bumpPost('new.id')]),
    t('web_posts_ad', 'delete', 'posts', '', [bumpPost('old.id')]),
    t('web_posts_au', 'update', 'posts', changed(['id', ...POST_COLS]), [bumpPost('old.id'), bumpPost('new.id')]),
    t('web_privacy_ai', 'insert', 'member_privacy', '', [bumpGuild('new.guild_id')]),
    t('web_privacy_ad', 'delete', 'member_privacy', '', [bumpGuild('old.guild_id')]),
    t('web_privacy_au', 'update', 'member_privacy', changed(['guild_id', 'user_id', 'show']), [bumpGuild('old.guild_id'), bumpGuild('new.guild_id')]),
    t('web_forgotten_ai', 'insert', 'forgotten_members', '', [bumpGuild('new.guild_id')]),
    t('web_forgotten_ad', 'delete', 'forgotten_members', '', [bumpGuild('old.guild_id')]),
    t('web_feeds_ai', 'insert', 'feeds', '', [bumpGuild('new.guild_id')]),
    t('web_feeds_ad', 'delete', 'feeds', '', [bumpGuild('old.guild_id')]),
    t('web_feeds_au', 'update', 'feeds', changed(['id', 'guild_id', 'web_enabled']), [bumpGuild('old.guild_id'), bumpGuild('new.guild_id')]),
  ];
}

/** PostgreSQL: one function + statement trigger per table and operation; `keys` is a query of the keys to bump. */
function pgTriggers(): string[] {
  const out: string[] = [];
  const add = (name: string, table: string, op: 'insert' | 'delete' | 'update', target: 'post' | 'guild', keys: string) => {
    const [tbl, col] = target === 'post' ? ['web_post_versions', 'post_id'] : ['web_guild_versions', 'guild_id'];
    // Sorted keys: concurrent writers lock the version rows in one order (no deadlock between them).
    out.push(
      `create or replace function ${name}() returns trigger language plpgsql as $fn$ begin
         insert into ${tbl} (${col}, version) select k, 1 from (${keys}) x (k) where k is not null group by k order by k
           on conflict (${col}) do update set version = ${tbl}.version + 1;
         return null; end $fn$`,
    );
    const refs = op === 'insert' ? 'new table as n' : op === 'delete' ? 'old table as o' : 'old table as o new table as n';
    out.push(`create trigger ${name} after ${op} on ${table} referencing ${refs} for each statement execute function ${name}()`);
  };
  const changed = (cols: string[]) => `(${cols.map((c) => `o.${c}`).join(', ')}) is distinct from (${cols.map((c) => `n.${c}`).join(', ')})`;
  const moved = (key: string, joinOn: string, cols: string[]) =>
    `select o.${key} from o join n on ${joinOn} where ${changed(cols)} union all select n.${key} from o join n on ${joinOn} where ${changed(cols)}` +
    // rows whose key itself changed (no partner under the join): both sides
    ` union all select o.${key} from o where not exists (select 1 from n where ${joinOn}) union all select n.${key} from n where not exists (select 1 from o where ${joinOn})`;
  add('web_comments_ai', 'comments', 'insert', 'post', 'select post_id from n');
  add('web_comments_ad', 'comments', 'delete', 'post', 'select post_id from o');
  add('web_comments_au', 'comments', 'update', 'post', moved('post_id', 'o.id = n.id', COMMENT_COLS));
  add('web_ratings_ai', 'ratings', 'insert', 'post', 'select post_id from n');
  add('web_ratings_ad', 'ratings', 'delete', 'post', 'select post_id from o');
  add('web_ratings_au', 'ratings', 'update', 'post', moved('post_id', 'o.post_id = n.post_id and o.user_id = n.user_id', ['stars']));
  add('web_posts_ai', 'posts', 'insert', 'post', 'select id from n');
  add('web_posts_ad', 'posts', 'delete', 'post', 'select id from o');
  add('web_posts_au', 'posts', 'update', 'post', moved('id', 'o.id = n.id', POST_COLS));
  add('web_privacy_ai', 'member_privacy', 'insert', 'guild', 'select guild_id from n');
  add('web_privacy_ad', 'member_privacy', 'delete', 'guild', 'select guild_id from o');
  add('web_privacy_au', 'member_privacy', 'update', 'guild', moved('guild_id', 'o.guild_id = n.guild_id and o.user_id = n.user_id', ['show']));
  add('web_forgotten_ai', 'forgotten_members', 'insert', 'guild', 'select guild_id from n');
  add('web_forgotten_ad', 'forgotten_members', 'delete', 'guild', 'select guild_id from o');
  add('web_feeds_ai', 'feeds', 'insert', 'guild', 'select guild_id from n');
  add('web_feeds_ad', 'feeds', 'delete', 'guild', 'select guild_id from o');
  add('web_feeds_au', 'feeds', 'update', 'guild', moved('guild_id', 'o.id = n.id', ['guild_id', 'web_enabled']));
  return out;
}

const TRIGGERS: Array<[string, string]> = [
  ['web_comments_ai', 'comments'],
  ['web_comments_ad', 'comments'],
  ['web_comments_au', 'comments'],
  ['web_ratings_ai', 'ratings'],
  ['web_ratings_ad', 'ratings'],
  ['web_ratings_au', 'ratings'],
  ['web_posts_ai', 'posts'],
  ['web_posts_ad', 'posts'],
  ['web_posts_au', 'posts'],
  ['web_privacy_ai', 'member_privacy'],
  ['web_privacy_ad', 'member_privacy'],
  ['web_privacy_au', 'member_privacy'],
  ['web_forgotten_ai', 'forgotten_members'],
  ['web_forgotten_ad', 'forgotten_members'],
  ['web_feeds_ai', 'feeds'],
  ['web_feeds_ad', 'feeds'],
  ['web_feeds_au', 'feeds'],
];

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('comments').addColumn('author_avatar', 'text').execute();
  await db.schema
    .createTable('web_post_versions')
    .addColumn('post_id', 'text', (c) => c.primaryKey())
    .addColumn('version', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('web_guild_versions')
    .addColumn('guild_id', 'text', (c) => c.primaryKey())
    .addColumn('version', 'bigint', (c) => c.notNull())
    .execute();
  for (const s of isSqlite(db) ? sqliteTriggers() : pgTriggers()) await sql.raw(s).execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const [name, table] of TRIGGERS) {
    if (isSqlite(db)) await sql.raw(`drop trigger if exists ${name}`).execute(db);
    else {
      await sql.raw(`drop trigger if exists ${name} on ${table}`).execute(db);
      await sql.raw(`drop function if exists ${name}()`).execute(db);
    }
  }
  await db.schema.dropTable('web_guild_versions').ifExists().execute();
  await db.schema.dropTable('web_post_versions').ifExists().execute();
  await db.schema.alterTable('comments').dropColumn('author_avatar').execute();
}
