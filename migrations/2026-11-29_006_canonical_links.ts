import { sql, type Kysely } from 'kysely';

// Frozen in time. posts.canonical_link: a post's link in the form that names its article however the link is
// written (host case, http or https, #fragment, trailing slash, utm_* and click-id parameters, parameter order
// do not matter). Lookups by URL (the HTTP API and the widget, /blog show, /publish) and the poll's recognition of
// a post whose guid changed compare it through an index, where they compared the raw url (only a trailing slash
// was forgiven) or read every post of a feed.
//
// Existing rows are filled here, in pages, by a copy of the rule as it stands today (src/feeds/canonical-link.ts;
// copied, not imported: a migration does not change when the application does). The repository fills the column
// on every write from then on. A later change of the rule needs a migration that recomputes the column.
// The index on the raw url served only those lookups and goes; `down` brings it back.

const PAGE = 500;

const TRACKING_PARAMS = new Set([
  'fbclid',
  'gclid',
  'dclid',
  'gbraid',
  'wbraid',
  'msclkid',
  'yclid',
  'igshid',
  'mc_cid',
  'mc_eid',
  '_hsenc',
  '_hsmi',
  'mkt_tok',
]);

function canonicalLink(link: string | null): string | null {
  if (!link) return null;
  let url: URL;
  try {
    url = new URL(link.trim());
  } catch {
    return null;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
  const params = [...url.searchParams].filter(([name]) => {
    const n = name.toLowerCase();
    return !n.startsWith('utm_') && !TRACKING_PARAMS.has(n);
  });
  params.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const query = params.length ? `?${new URLSearchParams(params).toString()}` : '';
  return `${url.host}${url.pathname.replace(/\/+$/, '')}${query}`;
}

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('posts').addColumn('canonical_link', 'text').execute();
  for (let after = ''; ;) {
    const rows: Array<{ id: string; url: string }> = await db
      .selectFrom('posts')
      .select(['id', 'url'])
      .where('url', 'is not', null)
      .where('id', '>', after)
      .orderBy('id')
      .limit(PAGE)
      .execute();
    if (rows.length === 0) break;
    after = rows[rows.length - 1]!.id;
    const links = rows.map((r) => ({ id: r.id, link: canonicalLink(r.url) })).filter((r): r is { id: string; link: string } => r.link !== null);
    if (links.length === 0) continue;
    const cases = sql.join(
      links.map((r) => sql`when ${r.id} then ${r.link}`),
      sql` `,
    );
    await sql`update posts set canonical_link = case id ${cases} end where id in (${sql.join(links.map((r) => r.id))})`.execute(db);
  }
  // By link, then server: a lookup in all servers (the HTTP API without ?guild=) and one in a server use it alike.
  await db.schema.createIndex('posts_canonical_link_idx').on('posts').columns(['canonical_link', 'guild_id']).execute();
  await db.schema.dropIndex('posts_url_idx').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.createIndex('posts_url_idx').on('posts').column('url').execute();
  await db.schema.dropIndex('posts_canonical_link_idx').ifExists().execute();
  await db.schema.alterTable('posts').dropColumn('canonical_link').execute();
}
