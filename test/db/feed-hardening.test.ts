// Issue 14 at the service level, on SQLite and PostgreSQL: one hostile item or an unexpected error is never the
// feed's end. A poll that fails unexpectedly is counted with its reason; /feed add is all or nothing and says why
// it failed; a post whose HTML used to crash the renderer is published, not retried.
import { ChannelType } from 'discord-api-types/v10';
import { sql } from 'kysely';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfig } from '../../src/config.ts';
import { UserError } from '../../src/errors.ts';
import { createLogger } from '../../src/logger.ts';
import { findFeedByUrl, getFeed } from '../../src/repositories/feeds.ts';
import { listPosts } from '../../src/repositories/posts.ts';
import { addFeed, listFeedSummaries } from '../../src/services/feeds.ts';
import { pollFeed } from '../../src/services/feed-poll.ts';
import { feedCheckReport } from '../../src/services/feed-check.ts';
import { publishPost } from '../../src/services/publish.ts';
import { buildCommentTree, suggestPosts, summarizePosts } from '../../src/services/blog.ts';
import type { FetchFeedOptions } from '../../src/feeds/types.ts';
import { runBlogcord } from '../support/bot.ts';
import { createTestDb, DIALECTS, type TestDb } from '../support/db.ts';
import { FakeDiscord, FakeJobs } from '../support/fakes.ts';
import { feedItem, startFeedServer, type FeedServer } from '../support/feed-server.ts';
import { snowflake } from '../support/snowflake.ts';

const config = loadConfig(
  { FEED_ALLOW_PRIVATE_NETWORK: 'true', FEED_TIMEOUT_SECONDS: '5', FEED_POLL_INTERVAL_SECONDS: '60', FEED_MAX_BYTES: String(1024 * 1024) },
  { dotenv: false },
);
const log = createLogger('silent');

interface Ctx {
  t: TestDb;
  feeds: FeedServer;
  discord: FakeDiscord;
  jobs: FakeJobs;
  guildId: string;
  textId: string;
}

/** A config whose feed settings throw when read: an error blogcord does not know, raised inside the fetch. */
const brokenConfig = (): typeof config =>
  Object.defineProperty({ ...config }, 'feedMaxBytes', {
    get() {
      throw new TypeError('injected failure');
    },
  });

const deepHtml = `<p>Deep post</p>${'<div>'.repeat(6_000)}inside${'</div>'.repeat(6_000)}`;

for (const dialect of DIALECTS) {
  const test = suite<Ctx>(`feed hardening (services) on ${dialect}`, {} as Ctx);

  test.before(async (c) => {
    c.t = await createTestDb(dialect);
    c.feeds = await startFeedServer();
  });
  test.after(async (c) => {
    await c.feeds?.close();
    await c.t?.close();
  });
  test.before.each((c) => {
    c.discord = new FakeDiscord();
    c.jobs = new FakeJobs();
    c.guildId = snowflake();
    c.textId = c.discord.addChannel(c.guildId, ChannelType.GuildText);
    c.feeds.items = [1, 2, 3].map((n) => feedItem(n)).reverse();
    c.feeds.failWith = null;
  });

  test('an unexpected error in a poll is a counted failure with its reason, shown in /feed list', async (c) => {
    const ctx = { db: c.t.db, discord: c.discord, log, config };
    const added = await addFeed({ ...ctx, jobs: c.jobs }, { guildId: c.guildId, url: c.feeds.url('/rss'), channelId: c.textId });
    const r = await pollFeed({ ...ctx, config: brokenConfig(), jobs: c.jobs }, added.feed.id, { force: true });
    assert.is(r.status, 'failed');
    const feed = (await getFeed(c.t.db, added.feed.id))!;
    assert.is(feed.consecutiveFailures, 1);
    assert.match(feed.lastError ?? '', /could not process the feed \(TypeError: injected failure\)/);
    const [summary] = await listFeedSummaries(ctx, c.guildId);
    assert.match(summary!.feed.lastError ?? '', /injected failure/);
  });

  test('an item nested 6,000 levels deep: the poll stores it, publishing announces it (no retries)', async (c) => {
    const ctx = { db: c.t.db, discord: c.discord, log, config };
    const added = await addFeed({ ...ctx, jobs: c.jobs }, { guildId: c.guildId, url: c.feeds.url('/atom'), channelId: c.textId });
    c.feeds.items.unshift(feedItem(4, { description: deepHtml }));
    const r = await pollFeed({ ...ctx, jobs: c.jobs }, added.feed.id, { force: true });
    assert.is(r.status, 'ok');
    assert.is((r as { new: number }).new, 1);
    const [fresh] = await listPosts(c.t.db, { guildId: c.guildId, states: ['pending'] });
    const published = await publishPost(ctx, fresh!.id);
    assert.is(published.state, 'published');
    const message = c.discord.calls.find((x) => x.method === 'createMessage')!;
    const body = message.args[1] as { embeds?: Array<{ description?: string; fields?: unknown[] }> };
    assert.ok(body.embeds?.[0]?.fields?.length, 'the announcement with its rating field');
    assert.match(body.embeds![0]!.description ?? '', /Deep post/);
  });

  test('/feed add answers an unexpected failure with its reason, not "something went wrong"', async (c) => {
    const ctx = { db: c.t.db, discord: c.discord, log, config: brokenConfig() };
    const url = c.feeds.url('/rss');
    try {
      await addFeed({ ...ctx, jobs: c.jobs }, { guildId: c.guildId, url, channelId: c.textId });
      assert.unreachable('addFeed should refuse');
    } catch (error) {
      assert.instance(error, UserError);
      assert.match((error as Error).message, /could not process the feed \(TypeError: injected failure\).*Nothing was saved/s);
    }
    assert.is(await findFeedByUrl(c.t.db, c.guildId, url), null);
  });

  test('/feed add is all or nothing: a failure while storing items leaves no feed and no pending post', async (c) => {
    const ctx = { db: c.t.db, discord: c.discord, log, config };
    // The database refuses the second item (as PostgreSQL refused a title with NUL): a failure half-way.
    c.feeds.items = [feedItem(3), feedItem(2, { title: 'REFUSED BY THE DATABASE' }), feedItem(1)];
    if (dialect === 'sqlite') {
      await sql`create trigger refuse_item before insert on posts when new.title = 'REFUSED BY THE DATABASE' begin select raise(abort, 'the database refused the item'); end`.execute(
        c.t.db.kysely,
      );
    } else {
      await sql`create or replace function refuse_item() returns trigger language plpgsql as $$ begin if new.title = 'REFUSED BY THE DATABASE' then raise exception 'the database refused the item'; end if; return new; end $$`.execute(
        c.t.db.kysely,
      );
      await sql`create trigger refuse_item before insert on posts for each row execute function refuse_item()`.execute(c.t.db.kysely);
    }
    const url = c.feeds.url('/rss');
    try {
      await addFeed({ ...ctx, jobs: c.jobs }, { guildId: c.guildId, url, channelId: c.textId, backfill: 3 });
      assert.unreachable('addFeed should refuse');
    } catch (error) {
      assert.instance(error, UserError);
      assert.match((error as Error).message, /could not save .*the database refused the item.*Nothing was saved/s);
    } finally {
      await sql`drop trigger refuse_item${sql.raw(dialect === 'postgres' ? ' on posts' : '')}`.execute(c.t.db.kysely);
    }
    assert.is(await findFeedByUrl(c.t.db, c.guildId, url), null, 'no half-stored feed');
    assert.equal(await listPosts(c.t.db, { guildId: c.guildId }), [], 'no pending posts');
    assert.equal(c.jobs.published, []);
    assert.equal(c.jobs.scheduled, []);
    // And once the database takes it, the same add works.
    const ok = await addFeed({ ...ctx, jobs: c.jobs }, { guildId: c.guildId, url, channelId: c.textId, backfill: 3 });
    assert.is(ok.queued.length, 3);
  });

  test('the web API answer never shows bidi overrides in titles, authors or comment author names', async (c) => {
    const ctx = { db: c.t.db, discord: c.discord, log, config };
    const bidi = '\u202e\u2066';
    c.feeds.items = [feedItem(1, { title: `Report${bidi}gpj.exe`, author: `Mal${bidi}lory` })];
    await addFeed({ ...ctx, jobs: c.jobs }, { guildId: c.guildId, url: c.feeds.url('/rss'), channelId: c.textId, backfill: 1 });
    const posts = await listPosts(c.t.db, { guildId: c.guildId });
    const [view] = await summarizePosts(c.t.db, posts);
    assert.is(view!.title, 'Reportgpj.exe');
    assert.is(view!.author, 'Mallory');
    const tree = buildCommentTree([
      {
        id: '1',
        postId: posts[0]!.id,
        threadId: 't',
        authorId: 'u',
        authorName: `ev${bidi}e`,
        content: 'hi',
        replyToId: null,
        attachments: [],
        createdAt: '2026-12-01T00:00:00.000Z',
        editedAt: null,
        deletedAt: null,
      },
    ]);
    assert.is((tree[0] as { author: string }).author, 'eve');
    const [choice] = await suggestPosts(c.t.db, c.guildId, 'Report');
    if (choice) assert.not.match(choice.name, /[\u202a-\u202e\u2066-\u2069]/);
  });

  test.run();
}

const check = suite<{ feeds: FeedServer }>('blogcord feed check: one line on any failure', {} as { feeds: FeedServer });
check.before(async (c) => {
  c.feeds = await startFeedServer({ items: [feedItem(2, { description: deepHtml }), feedItem(1)] });
});
check.after(async (c) => {
  await c.feeds?.close();
});

check('an unexpected error is one line and not ok (no stack trace)', async (c) => {
  const opts = Object.defineProperty({ allowPrivateNetwork: true, timeoutMs: 5_000, userAgent: 'test' }, 'maxBytes', {
    get() {
      throw new TypeError('injected failure\n    at somewhere (file.ts:1:1)');
    },
  }) as FetchFeedOptions;
  const r = await feedCheckReport(c.feeds.url('/rss'), opts);
  assert.is(r.ok, false);
  assert.is(r.text, 'blogcord could not check the feed: TypeError: injected failure at somewhere (file.ts:1:1)');
});

check('the CLI prints a feed whose item nests 6,000 levels deep (it printed a RangeError stack)', async (c) => {
  const r = await runBlogcord(['feed', 'check', c.feeds.url('/rss')], { FEED_ALLOW_PRIVATE_NETWORK: 'true' });
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /Deep post/);
  assert.not.match(r.stdout + r.stderr, /RangeError|\n\s+at /);
});

check.run();
