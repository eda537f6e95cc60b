/**
 * What /feed status and /feed list read, on SQLite and PostgreSQL (issue 15 review): one count of a feed's posts by
 * state for both (several feeds at once, known posts split by reason), a feed's failed posts found by the feed (not
 * the server's newest 200 filtered in code) through posts_feed_state_idx, the publish hook token made by /feed add in
 * the feed's own transaction and by migration 013 for older feeds (status only reads), and the Mention Everyone check
 * of a ping asked for the channel the feed posts to.
 * Run alone: npx tsx test/feed-status-reads.test.ts
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ChannelType } from 'discord-api-types/v10';
import { FileMigrationProvider, Migrator, sql } from 'kysely';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/logger.ts';
import { getFeed, upsertFeed, type Feed } from '../../src/repositories/feeds.ts';
import { countFeedPostsByState, listFailedFeedPosts, setPublishState, upsertPostFromFeed, type PostContent } from '../../src/repositories/posts.ts';
import { getFeedHook, saveFeedHook } from '../../src/repositories/push.ts';
import { feedStatus } from '../../src/services/feed-status.ts';
import { editFeed } from '../../src/services/feed-options.ts';
import { addFeed, listFeedSummaries } from '../../src/services/feeds.ts';
import { pushStatus, rotateHookToken } from '../../src/services/push.ts';
import { rejects } from '../support/assert.ts';
import { createTestDb, DIALECTS, type TestDb } from '../support/db.ts';
import { FakeDiscord, FakeJobs } from '../support/fakes.ts';
import { feedItem, startFeedServer, type FeedServer } from '../support/feed-server.ts';
import { snowflake } from '../support/snowflake.ts';

const migrationFolder = fileURLToPath(new URL('../../migrations', import.meta.url));
const config = loadConfig({ FEED_ALLOW_PRIVATE_NETWORK: 'true', FEED_TIMEOUT_SECONDS: '5' }, { dotenv: false });

interface Ctx {
  t: TestDb;
  feeds: FeedServer;
  discord: FakeDiscord;
  jobs: FakeJobs;
  guildId: string;
  textId: string;
}

const svc = (c: Ctx, t: TestDb = c.t) => ({ db: t.db, discord: c.discord, jobs: c.jobs, config, log: createLogger('silent') });

const item = (key: string, over: Partial<PostContent> = {}): PostContent => ({
  key,
  url: `https://blog.example/${key}`,
  title: `Post ${key}`,
  author: null,
  publishedAt: '2026-11-20T10:00:00.000Z',
  summaryHtml: null,
  searchText: `Post ${key}`,
  imageUrl: null,
  contentHash: `h-${key}`,
  ...over,
});

/** `n` failed posts of a feed in one statement, published from `from` on, an hour apart. */
async function failedPosts(t: TestDb, feed: Feed, n: number, from: number): Promise<void> {
  const at = new Date().toISOString();
  const rows = Array.from({ length: n }, (_, i) => ({
    id: `${feed.id}-f${i}`,
    feed_id: feed.id,
    guild_id: feed.guildId,
    guid: `urn:failed:${i}`,
    title: `Failed ${i}`,
    published_at: new Date(from + i * 3600_000).toISOString(),
    content_hash: `h${i}`,
    search_text: '',
    publish_attempts: 1,
    publish_state: 'failed',
    failure_reason: `reason ${i}`,
    discovered_at: at,
    updated_at: at,
  }));
  for (let i = 0; i < rows.length; i += 100)
    await t.db.kysely
      .insertInto('posts')
      .values(rows.slice(i, i + 100))
      .execute();
}

const hookRows = async (t: TestDb) => (await t.db.kysely.selectFrom('feed_hooks').selectAll().orderBy('feed_id').execute()).map((r) => ({ ...r }));

for (const dialect of DIALECTS) {
  const test = suite<Ctx>(`/feed status and /feed list reads on ${dialect}`, {} as Ctx);

  test.before(async (c) => {
    c.t = await createTestDb(dialect);
    c.feeds = await startFeedServer({ items: [1, 2, 3].map((n) => feedItem(n)).reverse() });
    c.discord = new FakeDiscord();
    c.jobs = new FakeJobs();
  });
  test.after(async (c) => {
    await c.feeds?.close();
    await c.t?.close();
  });
  test.before.each((c) => {
    c.guildId = snowflake();
    c.textId = c.discord.addChannel(c.guildId, ChannelType.GuildText);
  });

  const aFeed = async (c: Ctx) => (await upsertFeed(c.t.db, { guildId: c.guildId, url: `https://blog.example/feed-${snowflake()}`, channelId: c.textId })).feed;

  test('countFeedPostsByState: several feeds in one query, known posts split by reason, a feed without posts gets {}', async (c) => {
    const [a, b, empty] = [await aFeed(c), await aFeed(c), await aFeed(c)];
    for (const [key, state] of [
      ['p1', 'pending'],
      ['p2', 'pending'],
      ['k1', 'known'],
      ['k2', 'known'],
      ['k3', 'known'],
      ['s1', 'skipped'],
    ] as const) {
      await upsertPostFromFeed(c.t.db, a, item(key), state === 'known' ? 'known' : state, state === 'skipped' ? 'exclude: title:draft' : null);
    }
    const posts = await c.t.db.kysely.selectFrom('posts').select(['id', 'guid']).where('feed_id', '=', a.id).execute();
    const id = (guid: string) => posts.find((p) => p.guid === guid)!.id;
    await setPublishState(c.t.db, id('p2'), { state: 'published' });
    await setPublishState(c.t.db, id('k1'), { state: 'known', knownReason: 'flood' });
    await setPublishState(c.t.db, id('k2'), { state: 'known', knownReason: 'added' });
    await upsertPostFromFeed(c.t.db, b, item('x'), 'pending');
    const counts = await countFeedPostsByState(c.t.db, [a.id, b.id, empty.id]);
    assert.equal(counts.get(a.id), { pending: 1, published: 1, 'known:flood': 1, 'known:added': 1, known: 1, skipped: 1 });
    assert.equal(counts.get(b.id), { pending: 1 });
    assert.equal(counts.get(empty.id), {});
    assert.equal(await countFeedPostsByState(c.t.db, []), new Map());
    // /feed list and /feed status read the same counts.
    const summary = (await listFeedSummaries(svc(c), c.guildId)).find((s) => s.feed.id === a.id)!;
    assert.equal(summary.counts, counts.get(a.id));
    assert.equal((await feedStatus(svc(c), c.guildId, a.id)).counts, counts.get(a.id));
  });

  test('a feed’s failed posts are found by the feed, also behind 250 newer failed posts of another feed of the server', async (c) => {
    const [busy, quiet] = [await aFeed(c), await aFeed(c)];
    await failedPosts(c.t, busy, 250, Date.UTC(2026, 10, 10));
    await failedPosts(c.t, quiet, 5, Date.UTC(2026, 0, 1));
    const failed = await listFailedFeedPosts(c.t.db, quiet.id, 3);
    assert.equal(
      failed.map((p) => p.title),
      ['Failed 4', 'Failed 3', 'Failed 2'],
      'newest first, only this feed',
    );
    const status = await feedStatus(svc(c), c.guildId, quiet.url);
    assert.equal(
      status.failed.map((p) => [p.feedId, p.failureReason]),
      [
        [quiet.id, 'reason 4'],
        [quiet.id, 'reason 3'],
        [quiet.id, 'reason 2'],
      ],
    );
    assert.is(status.counts.failed, 5);
    const list = await listFeedSummaries(svc(c), c.guildId);
    assert.equal(
      list.find((s) => s.feed.id === quiet.id)!.failed.map((p) => p.title),
      ['Failed 4', 'Failed 3', 'Failed 2'],
    );
    assert.equal(
      list.find((s) => s.feed.id === busy.id)!.failed.map((p) => p.title),
      ['Failed 249', 'Failed 248', 'Failed 247'],
    );
    assert.equal(await listFailedFeedPosts(c.t.db, snowflake(), 3), [], 'an unknown feed has none');
  });

  test('the failed posts of a feed are read through posts_feed_state_idx', async (c) => {
    if (dialect === 'sqlite') {
      const plan = await sql<{ detail: string }>`explain query plan select * from posts where feed_id = ${'x'} and publish_state = 'failed'`.execute(
        c.t.db.kysely,
      );
      assert.match(plan.rows.map((r) => r.detail).join('\n'), /posts_feed_state_idx/);
    } else {
      const rows = await sql<{
        indexdef: string;
      }>`select indexdef from pg_indexes where indexname = 'posts_feed_state_idx' and schemaname = current_schema()`.execute(c.t.db.kysely);
      assert.match(rows.rows[0]?.indexdef ?? '', /\(feed_id, publish_state, known_reason\)/);
    }
  });

  test('/feed add makes the publish hook token with the feed; status shows it and writes nothing; rotate-hook replaces it', async (c) => {
    const added = await addFeed(svc(c), { guildId: c.guildId, url: c.feeds.url('/rss'), channelId: c.textId });
    const hook = await getFeedHook(c.t.db, added.feed.id);
    assert.ok(hook && hook.token.length >= 32, 'made by /feed add');
    const before = await hookRows(c.t);
    const status = await feedStatus(svc(c), c.guildId, added.feed.id);
    assert.equal(status.push.hook, { url: null, token: hook.token, lastCallAt: null });
    assert.equal(await hookRows(c.t), before, 'status wrote nothing');
    // Adding it again keeps the token (a blog may already call it).
    await addFeed(svc(c), { guildId: c.guildId, url: c.feeds.url('/rss'), channelId: c.textId });
    assert.is((await getFeedHook(c.t.db, added.feed.id))!.token, hook.token);
    const rotated = await rotateHookToken(svc(c), added.feed.id);
    assert.is.not(rotated.token, hook.token);
    assert.is((await feedStatus(svc(c), c.guildId, added.feed.id)).push.hook!.token, rotated.token);
  });

  test('a feed saved without /feed add has no hook: status says nothing of one and creates none', async (c) => {
    const feed = await aFeed(c);
    const status = await feedStatus(svc(c), c.guildId, feed.id);
    assert.is(status.push.hook, null);
    assert.is((await pushStatus(svc(c), feed.id)).hookToken, null);
    assert.is(await getFeedHook(c.t.db, feed.id), null, 'nothing written');
  });

  test('the hook token is saved in the feed’s transaction: when it cannot be saved, neither is the feed nor its posts', async (c) => {
    const t2 = await createTestDb(dialect);
    try {
      await t2.db.kysely.schema.dropTable('feed_hooks').execute();
      await rejects(
        () => addFeed(svc(c, t2), { guildId: c.guildId, url: c.feeds.url('/rss'), channelId: c.textId }),
        /Nothing was saved: no feed and no posts/,
      );
      assert.equal(await t2.db.kysely.selectFrom('feeds').selectAll().execute(), []);
      assert.equal(await t2.db.kysely.selectFrom('posts').selectAll().execute(), []);
    } finally {
      await t2.close();
    }
  });

  test('the Mention Everyone check of a ping is asked for the channel the feed posts to, only for a role that needs it', async (c) => {
    const other = c.discord.addChannel(c.guildId, ChannelType.GuildText);
    const asked: string[] = [];
    const allowIn = (allowed: string) => async (channelId: string) => (asked.push(channelId), channelId === allowed);
    const secret = { id: snowflake(), name: 'Secret', mentionable: false };
    const url = c.feeds.url('/rss');
    await rejects(
      () => addFeed(svc(c), { guildId: c.guildId, url, channelId: c.textId, options: { ping: secret, mentionEveryoneIn: allowIn(other) } }),
      /may not mention the role \*\*Secret\*\*: it is not mentionable and blogcord lacks the Mention Everyone permission in the channel the feed posts to/,
    );
    assert.equal(asked.splice(0), [c.textId]);
    assert.is(await aFeedId(c, url), null, 'nothing saved');
    const added = await addFeed(svc(c), { guildId: c.guildId, url, channelId: other, options: { ping: secret, mentionEveryoneIn: allowIn(other) } });
    assert.equal(asked.splice(0), [other]);
    assert.is(added.feed.options.pingRoleId, secret.id);
    // edit: the feed's channel when none is given, else the new one; nothing changes when refused.
    await rejects(
      () => editFeed(svc(c), c.guildId, added.feed.id, { channelId: c.textId, ping: secret, mentionEveryoneIn: allowIn(other) }),
      /lacks the Mention Everyone permission in the channel the feed posts to/,
    );
    assert.equal(asked.splice(0), [c.textId]);
    const unchanged = (await getFeed(c.t.db, added.feed.id))!;
    assert.equal([unchanged.channelId, unchanged.options.pingRoleId], [other, secret.id]);
    const another = { ...secret, id: snowflake(), name: 'Another' };
    const edited = await editFeed(svc(c), c.guildId, added.feed.id, { ping: another, mentionEveryoneIn: allowIn(other) });
    assert.equal(asked.splice(0), [other]);
    assert.equal(edited.changed, ['ping']);
    // Moving the feed (edit, or add again elsewhere) checks the role it pings in the new channel, as if given again.
    const roleOf = async (id: string) => (id === another.id ? another : null);
    for (const move of [
      () => editFeed(svc(c), c.guildId, added.feed.id, { channelId: c.textId, mentionEveryoneIn: allowIn(other), roleOf }),
      () => addFeed(svc(c), { guildId: c.guildId, url, channelId: c.textId, options: { mentionEveryoneIn: allowIn(other), roleOf } }),
    ]) {
      await rejects(move, /may not mention the role \*\*Another\*\*: .* in the channel the feed posts to/);
      assert.equal(asked.splice(0), [c.textId]);
      const row = (await getFeed(c.t.db, added.feed.id))!;
      assert.equal([row.channelId, row.options.pingRoleId], [other, another.id], 'nothing changed');
    }
    const gone = await editFeed(svc(c), c.guildId, added.feed.id, { channelId: c.textId, clearPing: true, mentionEveryoneIn: allowIn(other), roleOf });
    assert.equal(gone.changed, ['channel', 'ping'], 'clear-ping moves it without a ping');
    assert.equal(asked.splice(0), []);
    await editFeed(svc(c), c.guildId, added.feed.id, { channelId: other });
    const readers = { id: snowflake(), name: 'Readers', mentionable: true };
    await editFeed(svc(c), c.guildId, added.feed.id, { channelId: c.textId, ping: readers, mentionEveryoneIn: allowIn(other) });
    assert.equal(asked, [], 'a mentionable role needs no permission: not asked');
  });

  test('migration 013 gives every older feed a token of its own (kept when it had one); 014 adds the index; both go down', async () => {
    const t2 = await createTestDb(dialect, { migrate: false });
    try {
      const schema = dialect === 'postgres' ? (await sql<{ s: string }>`select current_schema() as s`.execute(t2.db.kysely)).rows[0]!.s : undefined;
      const migrator = new Migrator({
        db: t2.db.kysely,
        provider: new FileMigrationProvider({ fs, path, migrationFolder }),
        ...(schema ? { migrationTableSchema: schema } : {}),
      });
      assert.not.ok((await migrator.migrateTo('2026-12-03_012_digest_rollups')).error);
      const g = snowflake();
      const feeds: Feed[] = [];
      for (const n of [1, 2, 3]) feeds.push((await upsertFeed(t2.db, { guildId: g, url: `https://blog.example/${n}/feed`, channelId: snowflake() })).feed);
      await saveFeedHook(t2.db, feeds[0]!.id, 'kept-token', 'kept-hash', false);
      assert.not.ok((await migrator.migrateTo('2026-12-03_014_posts_feed_state_index')).error);
      const rows = await hookRows(t2);
      assert.is(rows.length, 3);
      assert.equal(rows.find((r) => r.feed_id === feeds[0]!.id)!.token, 'kept-token');
      const made = rows.filter((r) => r.feed_id !== feeds[0]!.id);
      const { createHash } = await import('node:crypto');
      for (const r of made) {
        assert.match(r.token, /^[A-Za-z0-9_-]{32}$/);
        assert.is(r.token_hash, createHash('sha256').update(r.token).digest('hex'));
        assert.is(r.last_called_at, null);
      }
      assert.is.not(made[0]!.token, made[1]!.token);
      assert.not.ok((await migrator.migrateTo('2026-12-03_012_digest_rollups')).error, 'down');
      assert.is((await hookRows(t2)).length, 3, 'the tokens stay');
      assert.not.ok((await migrator.migrateTo('2026-12-03_014_posts_feed_state_index')).error, 'and up again');
      assert.equal(await hookRows(t2), rows, 'nothing new: every feed has its token');
    } finally {
      await t2.close();
    }
  });

  test.run();
}

async function aFeedId(c: Ctx, url: string): Promise<string | null> {
  const row = await c.t.db.kysely.selectFrom('feeds').select('id').where('guild_id', '=', c.guildId).where('url', '=', url).executeTakeFirst();
  return row?.id ?? null;
}
