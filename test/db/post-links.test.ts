// One comparison of post links everywhere, on SQLite and PostgreSQL: the HTTP API's lookup by URL (and /blog show)
// and /publish find a post by any link naming the same article (canonicalLink, as the poll's link matching), through
// posts.canonical_link and its index (migration 006, which fills it for existing posts and has a working down).
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ChannelType } from 'discord-api-types/v10';
import { FileMigrationProvider, Migrator, sql, type Kysely } from 'kysely';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfig } from '../../src/config.ts';
import { withTransaction } from '../../src/db/index.ts';
import { canonicalLink } from '../../src/feeds/canonical-link.ts';
import { createLogger } from '../../src/logger.ts';
import { setFeedWeb, upsertFeed, type Feed } from '../../src/repositories/feeds.ts';
import { webStamp } from '../../src/repositories/web-versions.ts';
import { findGuildPostsByUrl, getPost, setPublishState, upsertPostFromFeed, type PostContent } from '../../src/repositories/posts.ts';
import { findServedPostByUrl } from '../../src/repositories/search.ts';
import { addFeed } from '../../src/services/feeds.ts';
import { publishNow } from '../../src/services/publish.ts';
import { rejects } from '../support/assert.ts';
import { createTestDb, DIALECTS, type TestDb } from '../support/db.ts';
import { FakeDiscord, FakeJobs } from '../support/fakes.ts';
import { feedItem, startFeedServer, type FeedServer } from '../support/feed-server.ts';
import { snowflake } from '../support/snowflake.ts';

const config = loadConfig({ FEED_ALLOW_PRIVATE_NETWORK: 'true', FEED_TIMEOUT_SECONDS: '2' }, { dotenv: false });
const log = createLogger('silent');
const migrationFolder = fileURLToPath(new URL('../../migrations', import.meta.url));

const item = (key: string, url: string | null, over: Partial<PostContent> = {}): PostContent => ({
  key,
  url,
  title: `Post ${key}`,
  author: null,
  publishedAt: '2026-11-20T10:00:00.000Z',
  summaryHtml: null,
  searchText: `Post ${key}`,
  imageUrl: null,
  contentHash: `h-${key}-${url}`,
  ...over,
});

interface Ctx {
  t: TestDb;
  feeds: FeedServer;
  guildId: string;
  feed: Feed;
}

for (const dialect of DIALECTS) {
  const test = suite<Ctx>(`post links (lookups by URL, migration 006) on ${dialect}`, {} as Ctx);

  test.before(async (c) => {
    try {
      c.t = await createTestDb(dialect);
      c.feeds = await startFeedServer();
    } catch (error) {
      console.error(`post links on ${dialect}: setup failed:`, error);
      throw error;
    }
  });
  test.after(async (c) => {
    await c.feeds?.close();
    await c.t?.close();
  });
  test.before.each(async (c) => {
    c.guildId = snowflake();
    c.feed = (await upsertFeed(c.t.db, { guildId: c.guildId, url: `https://blog.example/${snowflake()}/feed`, channelId: snowflake() })).feed;
  });

  /** A post of the test feed, announced with a thread (served), unless told `known`. */
  async function post(c: Ctx, key: string, url: string | null, state: 'published' | 'known' = 'published', feed = c.feed) {
    const { post } = await upsertPostFromFeed(c.t.db, feed, item(key, url), state === 'known' ? 'known' : 'pending');
    if (state === 'published')
      await setPublishState(c.t.db, post.id, {
        state: 'published',
        channelId: feed.channelId,
        messageId: post.id.slice(0, 10),
        threadId: post.id.slice(0, 10),
      });
    return post;
  }

  /** What each lookup finds for `url`: [HTTP API in all servers, HTTP API in this server, /publish]. */
  const lookups = async (c: Ctx, url: string) => [
    (await findServedPostByUrl(c.t.db, url))?.id ?? null,
    (await findServedPostByUrl(c.t.db, url, { guildId: c.guildId }))?.id ?? null,
    (await findGuildPostsByUrl(c.t.db, c.guildId, url)).map((p) => p.id),
  ];

  test('a URL written any way that names the same article finds the post, for the HTTP API and /publish alike', async (c) => {
    const a = await post(c, 'a', `https://blog.example/${c.guildId}/2026/11/a-post/`);
    for (const variant of [
      `https://blog.example/${c.guildId}/2026/11/a-post/`,
      `https://blog.example/${c.guildId}/2026/11/a-post`,
      `http://blog.example/${c.guildId}/2026/11/a-post/`,
      `https://BLOG.Example/${c.guildId}/2026/11/a-post/`,
      `https://blog.example/${c.guildId}/2026/11/a-post/#comments`,
      `https://blog.example:443/${c.guildId}/2026/11/a-post?utm_source=widget&utm_medium=embed&fbclid=x`,
      ` HTTP://Blog.example/${c.guildId}/2026/11/a-post//?utm_campaign=y#respond `,
    ]) {
      assert.equal(await lookups(c, variant), [a.id, a.id, [a.id]], variant);
    }
    // Both sides are compared canonically: a stored link carrying tracking parameters or an uppercase host, and
    // query parameters in another order.
    const b = await post(c, 'b', `https://Blog.Example/${c.guildId}/b-post?utm_source=rss&utm_medium=feed`);
    assert.equal(await lookups(c, `https://blog.example/${c.guildId}/b-post`), [b.id, b.id, [b.id]]);
    const p = await post(c, 'p', `https://blog.example/${c.guildId}/?p=12&lang=en`);
    assert.equal(await lookups(c, `http://blog.example/${c.guildId}?lang=en&utm_source=x&p=12`), [p.id, p.id, [p.id]]);
  });

  test('other articles, other servers, unserved posts and what is not a URL are not found (and nothing throws)', async (c) => {
    const a = await post(c, 'a', `https://blog.example/${c.guildId}/a-post`);
    for (const other of [
      `https://blog.example/${c.guildId}/A-Post`,
      `https://www.blog.example/${c.guildId}/a-post`,
      `https://blog.example:8443/${c.guildId}/a-post`,
      `https://blog.example/${c.guildId}/a-post?page=2`,
      `https://blog.example/${c.guildId}/a-post-2`,
      `https://blog.example/${c.guildId}`,
      'not a url',
      '',
      `ftp://blog.example/${c.guildId}/a-post`,
      'urn:uuid:1234',
    ]) {
      assert.equal(await lookups(c, other), [null, null, []], other);
    }
    const otherGuild = snowflake();
    assert.is(await findServedPostByUrl(c.t.db, `http://blog.example/${c.guildId}/a-post/`, { guildId: otherGuild }), null);
    assert.equal(await findGuildPostsByUrl(c.t.db, otherGuild, `http://blog.example/${c.guildId}/a-post/`), []);
    // A known post (recorded, never announced) is not served, but /publish finds it: that is how it gets announced.
    const known = await post(c, 'k', `https://blog.example/${c.guildId}/known`, 'known');
    assert.equal(await lookups(c, `http://blog.example/${c.guildId}/known/?utm_source=x`), [null, null, [known.id]]);
    // The same article in two feeds of the server (RSS and Atom of one blog): the announced copy comes first.
    const { feed: atom } = await upsertFeed(c.t.db, { guildId: c.guildId, url: `https://blog.example/${c.guildId}/atom`, channelId: snowflake() });
    const copy = await post(c, 'a', `http://blog.example/${c.guildId}/a-post/`, 'known', atom);
    assert.equal(await lookups(c, `https://blog.example/${c.guildId}/a-post`), [a.id, a.id, [a.id, copy.id]]);
  });

  test("the web's version lookup by URL serves the post findServedPostByUrl picks, with one post or several per link", async (c) => {
    const stampOf = async (url: string, guildId?: string) => (await webStamp(c.t.db, { url, guildId }))?.postId ?? null;
    const served = async (url: string, guildId?: string) => (await findServedPostByUrl(c.t.db, url, { guildId, webOnly: true }))?.id ?? null;
    await setFeedWeb(c.t.db, c.feed.id, true);
    const link = `https://blog.example/${c.guildId}/shared-post/`;
    // Nothing, then not a URL: no stamp.
    assert.is(await stampOf(link), null);
    assert.is(await stampOf('not a url'), null);
    // One served post (a known one is not): found however the link is written.
    await post(c, 'known', link, 'known');
    const first = await post(c, 'first', `${link}?utm_source=x`);
    assert.is(await stampOf(link), first.id);
    assert.is(await stampOf(link), await served(link));
    // Several posts with the link (another server's feed, a second feed of this server): the one with a thread first,
    // then the first discovered, as findServedPostByUrl, with and without a server.
    const otherGuild = snowflake();
    const { feed: other } = await upsertFeed(c.t.db, { guildId: otherGuild, url: `https://blog.example/${otherGuild}/feed`, channelId: snowflake() });
    await setFeedWeb(c.t.db, other.id, true);
    const elsewhere = await post(c, 'elsewhere', link, 'published', other);
    const { feed: atom } = await upsertFeed(c.t.db, { guildId: c.guildId, url: `https://blog.example/${c.guildId}/atom`, channelId: snowflake() });
    await setFeedWeb(c.t.db, atom.id, true);
    const unthreaded = (await upsertPostFromFeed(c.t.db, atom, item('unthreaded', link), 'pending')).post;
    for (const guildId of [undefined, c.guildId, otherGuild]) {
      assert.is(await stampOf(link, guildId), await served(link, guildId), `server ${guildId ?? 'any'}`);
    }
    assert.is(await stampOf(link), first.id);
    assert.is(await stampOf(link, otherGuild), elsewhere.id);
    // Off the web: the first post's feed leaves it; the other server's threaded post comes before the unthreaded one.
    await setFeedWeb(c.t.db, c.feed.id, false);
    assert.is(await stampOf(link), elsewhere.id);
    assert.is(await stampOf(link), await served(link));
    assert.is(await stampOf(link, c.guildId), unthreaded.id);
    assert.is(await stampOf(link, c.guildId), await served(link, c.guildId));
  });

  test('canonical_link is kept by every write: a new post, a changed link, no link', async (c) => {
    const stored = async (id: string) =>
      (await c.t.db.kysely.selectFrom('posts').select('canonical_link').where('id', '=', id).executeTakeFirstOrThrow()).canonical_link;
    const first = await upsertPostFromFeed(c.t.db, c.feed, item('x', 'HTTPS://Blog.Example/x/?utm_source=rss'), 'known');
    assert.is(await stored(first.post.id), 'blog.example/x');
    const moved = await upsertPostFromFeed(c.t.db, c.feed, item('x', 'https://blog.example/y#top'), 'known');
    assert.is(moved.status, 'changed');
    assert.is(await stored(first.post.id), 'blog.example/y');
    await upsertPostFromFeed(c.t.db, c.feed, item('x', null), 'known');
    assert.is(await stored(first.post.id), null);
    const odd = await upsertPostFromFeed(c.t.db, c.feed, item('z', 'urn:uuid:42'), 'known');
    assert.is(await stored(odd.post.id), null, 'not an http(s) link: never matched');
  });

  test('the lookups go through the canonical link index, not a scan of posts', async (c) => {
    const plans: string[] = [];
    for (const byGuild of [true, false]) {
      const where = byGuild ? sql`canonical_link = ${'blog.example/x'} and guild_id = ${c.guildId}` : sql`canonical_link = ${'blog.example/x'}`;
      if (dialect === 'sqlite') {
        const rows = await sql<{ detail: string }>`explain query plan select * from posts where ${where}`.execute(c.t.db.kysely);
        plans.push(rows.rows.map((r) => r.detail).join('\n'));
      } else {
        // A handful of rows is cheaper to scan: forbid that, and see that the index can serve the lookup.
        plans.push(
          await withTransaction(c.t.db, async (tx) => {
            await sql`set local enable_seqscan = off`.execute(tx.kysely);
            const rows = await sql<{ 'QUERY PLAN': string }>`explain select * from posts where ${where}`.execute(tx.kysely);
            return rows.rows.map((r) => r['QUERY PLAN']).join('\n');
          }),
        );
      }
    }
    for (const plan of plans) assert.match(plan, /posts_canonical_link_idx/, plan);
  });

  test('/publish takes a link written another way: a stored post, a published one, one it has to fetch; another page is refused', async (c) => {
    const discord = new FakeDiscord();
    const jobs = new FakeJobs();
    const textId = discord.addChannel(c.guildId, ChannelType.GuildText);
    const ctx = { db: c.t.db, discord, log, config };
    c.feeds.items = [1, 2, 3, 4].map((n) => feedItem(n, { link: `https://blog.example/${c.guildId}/posts/${n}` })).reverse();
    await addFeed({ ...ctx, jobs: jobs }, { guildId: c.guildId, url: c.feeds.url('/rss'), channelId: textId, backfill: 0 });
    const queued = await publishNow({ ...ctx, jobs: jobs }, c.guildId, `http://BLOG.example/${c.guildId}/posts/2/?utm_source=newsletter#comments`);
    assert.is(queued.status, 'queued');
    assert.is(queued.post.title, 'Post number 2');
    assert.equal(jobs.published, [queued.post.id]);
    await setPublishState(c.t.db, queued.post.id, { state: 'published', channelId: textId, messageId: snowflake() });
    const again = await publishNow({ ...ctx, jobs: jobs }, c.guildId, `https://blog.example/${c.guildId}/posts/2?fbclid=abc`);
    assert.is(again.status, 'already-published');
    assert.is(again.post.id, queued.post.id);
    // An item that appeared after the last poll is found in the feed itself, by the same comparison.
    c.feeds.items.unshift(feedItem(5, { link: `https://blog.example/${c.guildId}/posts/5/` }));
    const fetched = await publishNow({ ...ctx, jobs: jobs }, c.guildId, `http://blog.example/${c.guildId}/posts/5#top`);
    assert.is(fetched.status, 'queued');
    assert.is((await getPost(c.t.db, fetched.post.id))!.title, 'Post number 5');
    await rejects(
      () => publishNow({ ...ctx, jobs: jobs }, c.guildId, `https://blog.example/${c.guildId}/posts/2?page=2`),
      /not a post of any feed this server follows/,
    );
    await rejects(
      () => publishNow({ ...ctx, jobs: jobs }, c.guildId, `https://blog.example/${c.guildId}/Posts/2`),
      /not a post of any feed this server follows/,
    );
  });

  test('migration 006 fills canonical_link for existing posts, page by page; down brings the url index back and keeps every row', async () => {
    const t = await createTestDb(dialect, { migrate: false });
    try {
      const k = t.db.kysely as unknown as Kysely<any>;
      const schema = dialect === 'postgres' ? (await sql<{ s: string }>`select current_schema() as s`.execute(k)).rows[0]!.s : undefined;
      const migrator = new Migrator({
        db: k,
        provider: new FileMigrationProvider({ fs, path, migrationFolder }),
        ...(schema ? { migrationTableSchema: schema } : {}),
      });
      assert.not.ok((await migrator.migrateTo('2026-11-29_005_bytewise_times')).error);
      const at = new Date().toISOString();
      await k
        .insertInto('feeds')
        .values({
          id: 'f1',
          guild_id: 'g1',
          url: 'https://blog.example/feed',
          channel_id: 'c1',
          state: 'active',
          consecutive_failures: 0,
          created_at: at,
          updated_at: at,
        })
        .execute();
      // More rows than one page of the backfill, with every kind of link.
      const urlOf = (i: number) =>
        [
          null,
          `https://Blog.Example/p/${i}/?utm_source=rss`,
          `urn:uuid:${i}`,
          `http://blog.example/p/${i}#x`,
          `https://blog.example/p/${i}?b=2&a=1`,
          'not a url',
        ][i % 6]!;
      const rows = Array.from({ length: 1203 }, (_, i) => ({
        id: `post-${String(i).padStart(5, '0')}`,
        feed_id: 'f1',
        guild_id: 'g1',
        guid: `guid-${i}`,
        url: urlOf(i),
        title: `Post ${i}`,
        content_hash: `h${i}`,
        publish_state: 'published',
        discovered_at: at,
        updated_at: at,
      }));
      for (let i = 0; i < rows.length; i += 200)
        await k
          .insertInto('posts')
          .values(rows.slice(i, i + 200))
          .execute();
      const indexes = async () =>
        dialect === 'postgres'
          ? (
              await sql<{ name: string }>`select indexname as name from pg_indexes where schemaname = current_schema() and tablename = 'posts'`.execute(k)
            ).rows.map((r) => r.name)
          : (await sql<{ name: string }>`select name from sqlite_master where type = 'index' and tbl_name = 'posts'`.execute(k)).rows.map((r) => r.name);
      assert.ok((await indexes()).includes('posts_url_idx'));

      const up = await migrator.migrateTo('2026-11-29_006_canonical_links');
      assert.not.ok(up.error, String(up.error));
      assert.equal(
        up.results?.map((r) => [r.migrationName, r.status]),
        [['2026-11-29_006_canonical_links', 'Success']],
      );
      const filled = await k.selectFrom('posts').select(['id', 'url', 'canonical_link']).orderBy('id').execute();
      assert.is(filled.length, rows.length);
      // The migration's frozen copy of the rule agrees with the application's.
      for (const r of filled) assert.is(r.canonical_link, canonicalLink(r.url), `${r.id}: ${r.url}`);
      assert.is(filled.filter((r) => r.canonical_link !== null).length, 601);
      assert.ok((await indexes()).includes('posts_canonical_link_idx'));
      assert.not.ok((await indexes()).includes('posts_url_idx'), 'the raw url index has no reader left');
      const found = await findGuildPostsByUrl(t.db, 'g1', 'https://blog.example/p/1');
      assert.equal(
        found.map((p) => p.id),
        ['post-00001'],
      );
      assert.equal(
        (await findGuildPostsByUrl(t.db, 'g1', 'https://blog.example/p/1198?a=1&b=2&utm_medium=x')).map((p) => p.id),
        ['post-01198'],
      );

      const down = await migrator.migrateTo('2026-11-29_005_bytewise_times');
      assert.not.ok(down.error, String(down.error));
      assert.ok((await indexes()).includes('posts_url_idx'));
      assert.not.ok((await indexes()).includes('posts_canonical_link_idx'));
      await rejects(() => sql`select canonical_link from posts`.execute(k), /canonical_link/);
      assert.equal(
        await k.selectFrom('posts').select(['id', 'url']).orderBy('id').execute(),
        filled.map(({ id, url }) => ({ id, url })),
        'down keeps the rows',
      );
      assert.not.ok((await migrator.migrateToLatest()).error);
      assert.is(
        (await k.selectFrom('posts').select('canonical_link').where('id', '=', 'post-00004').executeTakeFirstOrThrow()).canonical_link,
        'blog.example/p/4?a=1&b=2',
      );
    } finally {
      await t.close();
    }
  });

  test.run();
}
