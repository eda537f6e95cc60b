// Issue 4 at the service level, on SQLite and PostgreSQL: the publishing state machine (with an in-memory
// DiscordPort fake, to inject failures precisely), adding/polling/removing feeds against a local feed server,
// the pause after repeated failures, and /publish.
import { ChannelType, type RESTPostAPIChannelMessageJSONBody } from 'discord-api-types/v10';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { loadConfig } from '../../src/config.ts';
import { feedJobs, pollSchedulerId, registerFeedPolls } from '../../src/jobs/feeds.ts';
import { enqueuePublish, publishJobId, requeueUnfinishedPosts } from '../../src/jobs/publish.ts';
import { closeQueues, createQueues, type Queues } from '../../src/jobs/queues.ts';
import { createProducerRedis, createRedis } from '../../src/redis.ts';
import { Worker } from 'bullmq';
import { createDiscordClient } from '../../src/discord/client.ts';
import { RestDiscordPort } from '../../src/discord/rest-port.ts';
import { startDiscordEmulator } from '../../emulator/index.ts';
import { UserError } from '../../src/errors.ts';
import { createLogger } from '../../src/logger.ts';
import { getFeed, listFeeds, type Feed } from '../../src/repositories/feeds.ts';
import { getPost, listPosts, setPublishState, upsertPostFromFeed, type PublishState } from '../../src/repositories/posts.ts';
import { DiscordRequestError } from '../../src/services/discord-port.ts';
import { addFeed, listFeedSummaries, removeFeed } from '../../src/services/feeds.ts';
import { backoffMs, PAUSE_AFTER_FAILURES, pollFeed } from '../../src/services/feed-poll.ts';
import { publishNow } from '../../src/services/publish.ts';
import { announcementNonce, classifyPublishError, publishPost } from '../../src/services/publish.ts';
import { eventually, rejects } from '../support/assert.ts';
import { REDIS_URL, runBlogcord } from '../support/bot.ts';
import { createTestDb, DIALECTS, type TestDb } from '../support/db.ts';
import { FakeDiscord, FakeJobs } from '../support/fakes.ts';
import { feedItem, startFeedServer, type FeedServer } from '../support/feed-server.ts';
import { snowflake } from '../support/snowflake.ts';

const config = loadConfig(
  { FEED_ALLOW_PRIVATE_NETWORK: 'true', FEED_TIMEOUT_SECONDS: '2', FEED_POLL_INTERVAL_SECONDS: '60', FEED_MAX_BYTES: String(1024 * 1024) },
  { dotenv: false },
);
const log = createLogger('silent');
const discordError = (code: number, status: number, message = 'error') => new DiscordRequestError(`${message} (${code})`, code, status);

interface Ctx {
  t: TestDb;
  feeds: FeedServer;
  discord: FakeDiscord;
  jobs: FakeJobs;
  guildId: string;
  textId: string;
  forumId: string;
}

const ctxOf = (c: Ctx) => ({ db: c.t.db, discord: c.discord, log, config, jobs: c.jobs });

/** A feed row with one pending post, without fetching (for the state machine tests). */
async function seedPost(c: Ctx, channelId: string, over: { title?: string; state?: PublishState } = {}) {
  const { upsertFeed } = await import('../../src/repositories/feeds.ts');
  const { feed } = await upsertFeed(c.t.db, { guildId: c.guildId, url: `https://blog.example/${snowflake()}/feed`, channelId, title: 'Blog' });
  const { post } = await upsertPostFromFeed(
    c.t.db,
    feed,
    {
      key: 'k1',
      url: 'https://blog.example/p/1',
      title: over.title ?? 'Hello @everyone **bold**',
      author: 'Rink',
      publishedAt: '2026-11-20T10:00:00.000Z',
      summaryHtml: '<p>Hi <@123> there</p>',
      searchText: 'Hello',
      imageUrl: null,
      contentHash: 'h1',
    },
    over.state === 'known' ? 'known' : 'pending',
  );
  return { feed, post };
}

for (const dialect of DIALECTS) {
  const test = suite<Ctx>(`publish (services) on ${dialect}`, {} as Ctx);

  test.before(async (c) => {
    try {
      c.t = await createTestDb(dialect);
      c.feeds = await startFeedServer();
    } catch (error) {
      // uvu swallows a failing `before` hook silently (the suite just shows 0 passed): say why.
      console.error(`publish (services) on ${dialect}: setup failed:`, error);
      throw error;
    }
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
    c.forumId = c.discord.addChannel(c.guildId, ChannelType.GuildForum);
    c.feeds.items = [1, 2, 3, 4].map((n) => feedItem(n)).reverse();
    c.feeds.failWith = null;
    c.feeds.title = 'The Test Blog';
  });

  test('text channel: announcement with nonce and no mentions, thread, five reactions; a rerun does nothing', async (c) => {
    const { post } = await seedPost(c, c.textId);
    const r = await publishPost(ctxOf(c), post.id);
    assert.is(r.state, 'published');
    const create = c.discord.calls.find((x) => x.method === 'createMessage')!;
    const body = create.args[1] as RESTPostAPIChannelMessageJSONBody;
    assert.is(create.args[0], c.textId);
    assert.equal(body.allowed_mentions, { parse: [] });
    assert.is(body.enforce_nonce, true);
    assert.is(body.nonce, announcementNonce(post.id));
    assert.ok(String(body.nonce).length <= 25, 'Discord nonces are at most 25 characters');
    assert.ok(body.embeds?.[0]?.title?.includes('Hello'), 'the announcement embed');
    assert.is(c.discord.count('startThread'), 1);
    assert.equal(
      c.discord.calls.filter((x) => x.method === 'addReaction').map((x) => x.args[2]),
      ['1️⃣', '2️⃣', '3️⃣', '4️⃣', '5️⃣'],
    );
    const stored = (await getPost(c.t.db, post.id))!;
    assert.is(stored.publishState, 'published');
    assert.is(stored.channelId, c.textId);
    assert.ok(stored.messageId && stored.threadId === stored.messageId);
    assert.is(stored.publishAttempts, 1);
    const before = c.discord.calls.length;
    assert.is((await publishPost(ctxOf(c), post.id)).state, 'published');
    assert.is(c.discord.calls.length, before, 'a finished post makes no Discord call');
  });

  test('a retried step continues where the last attempt stopped (one announcement)', async (c) => {
    const { post } = await seedPost(c, c.textId);
    c.discord.failNext('startThread', discordError(0, 503, 'Service Unavailable'));
    await rejects(() => publishPost(ctxOf(c), post.id), /Service Unavailable/);
    assert.is((await getPost(c.t.db, post.id))!.publishState, 'announced');
    c.discord.failNext('addReaction', discordError(0, 500, 'Internal Server Error'));
    await rejects(() => publishPost(ctxOf(c), post.id), /Internal Server Error/);
    assert.is((await getPost(c.t.db, post.id))!.publishState, 'threaded');
    assert.is((await publishPost(ctxOf(c), post.id)).state, 'published');
    assert.is(c.discord.count('createMessage'), 1, 'exactly one announcement');
    assert.is(c.discord.count('startThread'), 2);
    assert.is((await getPost(c.t.db, post.id))!.publishAttempts, 3);
  });

  test('errors that will not heal fail the post for good with a readable reason; transient ones on the last attempt too', async (c) => {
    const cases: Array<[string, Error, RegExp]> = [
      ['createMessage', discordError(50013, 403, 'Missing Permissions'), /announcing: .*Missing Permissions.*Add Reactions/],
      ['createMessage', discordError(50001, 403, 'Missing Access'), /cannot see the channel/],
      ['createMessage', discordError(50035, 400, 'Invalid Form Body'), /refused the announcement as invalid/],
      ['startThread', discordError(10008, 404, 'Unknown Message'), /starting the thread: .*deleted/],
      ['addReaction', discordError(50013, 403, 'Missing Permissions'), /adding the rating reactions: .*Missing Permissions/],
    ];
    for (const [method, error, reason] of cases) {
      const { post } = await seedPost(c, c.textId);
      c.discord.failNext(method, error);
      const r = await publishPost(ctxOf(c), post.id);
      assert.is(r.state, 'failed', method);
      const stored = (await getPost(c.t.db, post.id))!;
      assert.is(stored.publishState, 'failed');
      assert.match(stored.failureReason ?? '', reason);
    }
    // The channel is gone.
    const gone = await seedPost(c, snowflake());
    assert.is((await publishPost(ctxOf(c), gone.post.id)).state, 'failed');
    assert.match((await getPost(c.t.db, gone.post.id))!.failureReason ?? '', /no longer exists/);
    // A transient failure on the last attempt.
    const last = await seedPost(c, c.textId);
    c.discord.failNext('createMessage', discordError(0, 503, 'Service Unavailable'));
    assert.is((await publishPost(ctxOf(c), last.post.id, { lastAttempt: true })).state, 'failed');
    assert.match((await getPost(c.t.db, last.post.id))!.failureReason ?? '', /503.*gave up after the last attempt/);
    // A voice channel is not a place for announcements.
    const voice = await seedPost(c, c.discord.addChannel(c.guildId, ChannelType.GuildVoice));
    assert.is((await publishPost(ctxOf(c), voice.post.id)).state, 'failed');
    assert.match((await getPost(c.t.db, voice.post.id))!.failureReason ?? '', /neither a text channel nor a forum/);
  });

  test('classifyPublishError: rate limits and 5xx heal, 4xx and known codes do not', () => {
    assert.is(classifyPublishError(discordError(0, 429)).permanent, false);
    assert.is(classifyPublishError(discordError(0, 502)).permanent, false);
    assert.is(classifyPublishError(new Error('connect ECONNREFUSED')).permanent, false);
    assert.is(classifyPublishError(discordError(10003, 404)).permanent, true);
    assert.is(classifyPublishError(discordError(40005, 413)).permanent, true);
  });

  test('forum channel: a forum post with the announcement as its starter message, reactions on it', async (c) => {
    const { post } = await seedPost(c, c.forumId, { title: 'A forum post' });
    assert.is((await publishPost(ctxOf(c), post.id)).state, 'published');
    assert.is(c.discord.count('createMessage'), 0);
    assert.is(c.discord.count('startThread'), 0);
    const create = c.discord.calls.find((x) => x.method === 'createForumPost')!;
    assert.is(create.args[0], c.forumId);
    assert.is(create.args[1], 'A forum post');
    assert.equal((create.args[2] as RESTPostAPIChannelMessageJSONBody).allowed_mentions, { parse: [] });
    const stored = (await getPost(c.t.db, post.id))!;
    assert.ok(stored.threadId && stored.channelId === stored.threadId && stored.messageId === stored.threadId);
    const reactions = c.discord.calls.filter((x) => x.method === 'addReaction');
    assert.is(reactions.length, 5);
    assert.ok(reactions.every((x) => x.args[0] === stored.threadId));
  });

  test('/feed add: fetch + parse first, backfill the newest N oldest first, the rest known; schedules polls', async (c) => {
    const r = await addFeed(ctxOf(c), { guildId: c.guildId, url: c.feeds.url('/rss'), channelId: c.textId, backfill: 2 });
    assert.ok(r.created);
    assert.is(r.items, 4);
    assert.is(r.parsed.title, 'The Test Blog');
    assert.equal(
      r.queued.map((p) => p.title),
      ['Post number 3', 'Post number 4'],
    );
    assert.equal(
      c.jobs.published,
      r.queued.map((p) => p.id),
    );
    assert.equal(c.jobs.scheduled, [r.feed.id]);
    const posts = await listPosts(c.t.db, { guildId: c.guildId });
    assert.equal(
      posts.map((p) => [p.title, p.publishState]),
      [
        ['Post number 4', 'pending'],
        ['Post number 3', 'pending'],
        ['Post number 2', 'known'],
        ['Post number 1', 'known'],
      ],
    );
    const feed = (await getFeed(c.t.db, r.feed.id))!;
    assert.ok(feed.etag && feed.lastSuccessAt, 'validators stored for conditional GETs');
    // Adding it again changes nothing and republishes nothing.
    const again = await addFeed(ctxOf(c), { guildId: c.guildId, url: c.feeds.url('/rss'), channelId: c.textId, backfill: 0 });
    assert.not.ok(again.created);
    assert.is(again.queued.length, 0);
  });

  test('/feed add refuses bad input clearly and saves nothing', async (c) => {
    const add = (url: string, extra: { backfill?: number; channelId?: string } = {}) =>
      addFeed(ctxOf(c), { guildId: c.guildId, url, channelId: extra.channelId ?? c.textId, backfill: extra.backfill });
    const cases: Array<[() => Promise<unknown>, RegExp]> = [
      [() => add(c.feeds.url('/rss'), { backfill: 11 }), /backfill .* 0 to 10/],
      [() => add(c.feeds.url('/rss'), { backfill: -1 }), /backfill/],
      [() => add('ftp://blog.example/feed'), /Only http and https/],
      [() => add('not a url'), /not a valid URL/],
      [() => add(c.feeds.url('/rss'), { channelId: snowflake() }), /cannot find the channel/],
      [() => add(c.feeds.url('/rss'), { channelId: c.discord.addChannel(c.guildId, ChannelType.GuildVoice) }), /neither a text channel nor a forum/],
      [() => add(c.feeds.url('/rss'), { channelId: c.discord.addChannel(snowflake(), ChannelType.GuildText) }), /cannot find the channel/],
      [() => add(c.feeds.url('/bad/404')), /answered HTTP 404/],
      [() => add(c.feeds.url('/bad/malformed')), /not valid/],
      [() => add(c.feeds.url('/bad/entity-bomb')), /declares its own XML entities/],
      [() => add(c.feeds.url('/bad/html')), /HTML page, not a feed\. Did you mean http:\/\/127\.0\.0\.1:\d+\/rss/],
      [() => add(c.feeds.url('/bad/huge')), /larger than 1 MB/],
      [() => add(c.feeds.url('/bad/hang')), /longer than 2 s/],
    ];
    for (const [run, pattern] of cases) {
      const err = await rejects(run, pattern);
      assert.ok(err instanceof UserError, `${err.message} should be a UserError`);
    }
    assert.is((await listFeeds(c.t.db, c.guildId)).length, 0, 'no feed saved');
    assert.is(c.jobs.scheduled.length, 0);
  });

  test('polling: a new item is queued once, re-polls (304 or 200) queue nothing, edits refresh, old items stay known', async (c) => {
    const { feed } = await addFeed(ctxOf(c), { guildId: c.guildId, url: c.feeds.url('/rss'), channelId: c.textId, backfill: 0 });
    assert.equal(c.jobs.published, []);
    assert.equal(await pollFeed(ctxOf(c), feed.id), { status: 'not-modified' });
    c.feeds.items.unshift(feedItem(5));
    const r = await pollFeed(ctxOf(c), feed.id);
    assert.equal(r, { status: 'ok', items: 5, new: 1, changed: 0, relinked: 0, held: 0 });
    assert.is(c.jobs.published.length, 1);
    assert.is((await getPost(c.t.db, c.jobs.published[0]!))!.title, 'Post number 5');
    assert.equal(await pollFeed(ctxOf(c), feed.id), { status: 'not-modified' });
    // Without the ETag match (another title invalidates it) nothing is queued either.
    c.feeds.title = 'Renamed blog';
    assert.equal(await pollFeed(ctxOf(c), feed.id), { status: 'ok', items: 5, new: 0, changed: 0, relinked: 0, held: 0 });
    assert.is(c.jobs.published.length, 1, 'a poll never republishes');
    // Edit post 5 (announced) and post 1 (known, never announced): only the announced one is refreshed.
    const p5 = c.jobs.published[0]!;
    await setPublishState(c.t.db, p5, { state: 'published', channelId: c.textId, messageId: snowflake() });
    c.feeds.items = c.feeds.items.map((i) => (i.id.endsWith('-5') || i.id.endsWith('-1') ? { ...i, title: `${i.title} (edited)` } : i));
    assert.equal(await pollFeed(ctxOf(c), feed.id), { status: 'ok', items: 5, new: 0, changed: 2, relinked: 0, held: 0 });
    assert.equal(c.jobs.refreshed, [p5]);
    assert.is((await getPost(c.t.db, p5))!.title, 'Post number 5 (edited)');
    // A new item with an old date (drafted long ago, published now) is still a new post.
    c.feeds.items.push(feedItem(-9000));
    assert.equal(await pollFeed(ctxOf(c), feed.id), { status: 'ok', items: 6, new: 1, changed: 0, relinked: 0, held: 0 });
    assert.is((await getPost(c.t.db, c.jobs.published[1]!))!.title, 'Post number -9000');
  });

  test('a failing feed backs off, then pauses with exactly one notice; /feed add resumes it', async (c) => {
    const { feed } = await addFeed(ctxOf(c), { guildId: c.guildId, url: c.feeds.url('/rss'), channelId: c.textId });
    const forumFeed = await addFeed(ctxOf(c), { guildId: c.guildId, url: c.feeds.url('/atom'), channelId: c.forumId });
    c.feeds.failWith = 500;
    const first = await pollFeed(ctxOf(c), feed.id);
    assert.equal(first, { status: 'failed', error: (first as { error: string }).error, paused: false });
    assert.match((first as { error: string }).error, /500/);
    assert.equal(await pollFeed(ctxOf(c), feed.id), { status: 'skipped', reason: 'backing-off' });
    assert.is(backoffMs(60, 1), 60_000);
    assert.is(backoffMs(60, 3), 240_000);
    assert.is(backoffMs(1, 40), 6 * 3600 * 1000);
    for (let i = 2; i <= PAUSE_AFTER_FAILURES; i++) {
      const r = await pollFeed(ctxOf(c), feed.id, { force: true });
      assert.is((r as { paused: boolean }).paused, i === PAUSE_AFTER_FAILURES);
    }
    assert.is((await getFeed(c.t.db, feed.id))!.state, 'paused');
    assert.equal(await pollFeed(ctxOf(c), feed.id, { force: true }), { status: 'skipped', reason: 'not-active' });
    const notices = c.discord.calls.filter((x) => x.method === 'createMessage');
    assert.is(notices.length, 1, 'one notice');
    const notice = notices[0]!.args[1] as RESTPostAPIChannelMessageJSONBody;
    assert.is(notices[0]!.args[0], c.textId);
    assert.match(notice.content ?? '', /stopped checking/);
    assert.match(notice.content ?? '', /500/);
    assert.match(notice.content ?? '', /\/feed add/);
    assert.equal(notice.allowed_mentions, { parse: [] });
    assert.equal(c.jobs.unscheduled, [feed.id]);
    const [summary] = await listFeedSummaries({ db: c.t.db }, c.guildId);
    // A forum feed's notice is a forum post (a forum takes no plain messages).
    for (let i = 1; i <= PAUSE_AFTER_FAILURES; i++) await pollFeed(ctxOf(c), forumFeed.feed.id, { force: true });
    const forumNotice = c.discord.calls.filter((x) => x.method === 'createForumPost');
    assert.is(forumNotice.length, 1);
    assert.is(forumNotice[0]!.args[0], c.forumId);
    assert.is(forumNotice[0]!.args[1], 'Feed paused: The Test Blog');
    assert.match((forumNotice[0]!.args[2] as RESTPostAPIChannelMessageJSONBody).content ?? '', /stopped checking/);
    assert.is(c.discord.calls.filter((x) => x.method === 'createMessage').length, 1, 'no plain message in the forum');
    assert.is(summary!.feed.state, 'paused');
    assert.match(summary!.feed.lastError ?? '', /500/);
    // Resume: posts that appeared while it was paused are published, nothing old is.
    c.feeds.failWith = null;
    c.feeds.items.unshift(feedItem(10, { date: new Date(Date.now() + 60_000).toISOString() }));
    const resumed = await addFeed(ctxOf(c), { guildId: c.guildId, url: c.feeds.url('/rss'), channelId: c.textId });
    assert.ok(resumed.resumed);
    assert.is(resumed.feed.state, 'active');
    assert.is(resumed.feed.consecutiveFailures, 0);
    assert.equal(
      resumed.queued.map((p) => p.title),
      ['Post number 10'],
    );
  });

  test('/feed remove keeps the posts and stops the polls; pending posts of a removed feed are not announced', async (c) => {
    const { feed } = await addFeed(ctxOf(c), { guildId: c.guildId, url: c.feeds.url('/atom'), channelId: c.textId, backfill: 1 });
    const pending = c.jobs.published[0]!;
    await rejects(() => removeFeed(ctxOf(c), c.guildId, 'https://nothing.example/feed'), /does not follow/);
    const removed = await removeFeed(ctxOf(c), c.guildId, c.feeds.url('/atom'));
    assert.is(removed.state, 'removed');
    assert.equal(c.jobs.unscheduled, [feed.id]);
    assert.is((await listFeeds(c.t.db, c.guildId)).length, 0);
    assert.is((await listPosts(c.t.db, { guildId: c.guildId })).length, 4, 'posts are kept');
    assert.is((await publishPost(ctxOf(c), pending)).state, 'skipped');
    assert.is((await getPost(c.t.db, pending))!.publishState, 'known');
    await rejects(() => publishNow(ctxOf(c), c.guildId, 'https://blog.example/posts/4'), /no longer follows/);
    assert.is(c.discord.count('createMessage'), 0);
    assert.equal(await pollFeed(ctxOf(c), feed.id), { status: 'skipped', reason: 'not-active' });
    await rejects(() => removeFeed(ctxOf(c), c.guildId, c.feeds.url('/atom')), /does not follow/);
  });

  test('/publish: a known post is published on demand, a published one answers with its link, a failed one retries', async (c) => {
    await addFeed(ctxOf(c), { guildId: c.guildId, url: c.feeds.url('/rss'), channelId: c.textId });
    const url = 'https://blog.example/posts/2';
    const r = await publishNow(ctxOf(c), c.guildId, url);
    assert.is(r.status, 'queued');
    assert.is(r.post.publishState, 'pending');
    assert.equal(c.jobs.published, [r.post.id]);
    assert.is((await publishPost(ctxOf(c), r.post.id)).state, 'published');
    const again = await publishNow(ctxOf(c), c.guildId, `${url}/`);
    assert.is(again.status, 'already-published');
    const post = (await getPost(c.t.db, r.post.id))!;
    assert.is((again as { link: string }).link, `https://discord.com/channels/${c.guildId}/${c.textId}/${post.messageId}`);
    // A failed post starts over (its message is gone) with its attempts reset.
    await setPublishState(c.t.db, post.id, { state: 'failed', failureReason: 'x', messageId: snowflake() });
    const retried = await publishNow(ctxOf(c), c.guildId, url);
    assert.is(retried.status, 'queued');
    assert.is(retried.post.publishState, 'pending');
    assert.is(retried.post.messageId, null);
    assert.is(retried.post.publishAttempts, 0);
    // An item the poller has not stored yet is found in the feed.
    c.feeds.items.unshift(feedItem(7));
    const fresh = await publishNow(ctxOf(c), c.guildId, 'https://blog.example/posts/7');
    assert.is(fresh.status, 'queued');
    assert.is(fresh.post.title, 'Post number 7');
    await rejects(() => publishNow(ctxOf(c), c.guildId, 'https://elsewhere.example/x'), /not a post of any feed this server follows/);
    await rejects(() => publishNow(ctxOf(c), c.guildId, 'hello'), /not a post URL/);
    // Counts for /feed list.
    const [summary] = await listFeedSummaries({ db: c.t.db }, c.guildId);
    assert.equal(summary!.counts, { 'known:added': 3, pending: 2 }, 'known posts split by why, as in /feed status');
  });

  test.run();
}

const cli = suite<{ feeds: FeedServer }>('blogcord feed check (CLI, no Discord)', {} as { feeds: FeedServer });
cli.before(async (c) => {
  c.feeds = await startFeedServer({ items: [1, 2, 3, 4].map((n) => feedItem(n, n === 4 ? { title: 'Fourth @everyone *post*' } : {})).reverse() });
});
cli.after(async (c) => {
  await c.feeds?.close();
});

cli('prints the feed and the newest items as they would be posted', async (c) => {
  const r = await runBlogcord(['feed', 'check', c.feeds.url('/rss')], { FEED_ALLOW_PRIVATE_NETWORK: 'true' });
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Feed: {4}The Test Blog$/m);
  assert.match(r.stdout, /^Format: {2}rss$/m);
  assert.match(r.stdout, /^Items: {3}4$/m);
  assert.match(r.stdout, /── 1\. Fourth @everyone \*post\*[\s\S]*── 2\. Post number 3[\s\S]*── 3\. Post number 2/);
  assert.not.match(r.stdout, /── 4\./);
  assert.match(r.stdout, /Thread: {2}Fourth @everyone \*post\*/);
  assert.match(r.stdout, /\[relative link\]\(http:\/\/127\.0\.0\.1:\d+\/about\)/, 'relative links made absolute');
  assert.is(c.feeds.requests.length, 1);
});

cli('a bad feed exits 1 with the reason; a private address is refused by default', async (c) => {
  let r = await runBlogcord(['feed', 'check', c.feeds.url('/bad/404')], { FEED_ALLOW_PRIVATE_NETWORK: 'true' });
  assert.is(r.code, 1);
  assert.match(r.stderr, /answered HTTP 404/);
  assert.not.match(r.stderr, /\n\s+at /, 'a message, not a stack trace');
  r = await runBlogcord(['feed', 'check', c.feeds.url('/rss')], {});
  assert.is(r.code, 1);
  assert.match(r.stderr, /private|loopback/i);
  r = await runBlogcord(['feed', 'check'], {});
  assert.is(r.code, 1);
  assert.match(r.stderr, /usage: blogcord feed check URL/);
});

cli.run();

// The queue side over real Redis: deterministic publish job ids, re-queueing at worker start, poll schedulers.
const jobsSuite = suite<{ t: TestDb; queues: Queues; prefix: string; redis: ReturnType<typeof createProducerRedis> }>('publish jobs (Redis)', {} as never);
jobsSuite.before(async (c) => {
  c.t = await createTestDb('sqlite');
  c.redis = createProducerRedis(REDIS_URL);
  c.prefix = `t${randomBytes(5).toString('hex')}`;
  c.queues = createQueues(c.redis, c.prefix);
});
jobsSuite.after(async (c) => {
  if (c.queues) {
    for (const q of Object.values(c.queues)) await q.obliterate({ force: true }).catch(() => {});
    await closeQueues(c.queues);
  }
  await c.redis?.quit();
  await c.t?.close();
});

jobsSuite('one publish job per post; a finished one is replaced; unfinished posts are queued again at start', async (c) => {
  await enqueuePublish(c.queues, 'p1');
  await enqueuePublish(c.queues, 'p1');
  assert.is(await c.queues.publish.count(), 1, 'the deterministic id dedupes');
  const job = (await c.queues.publish.getJob(publishJobId('p1')))!;
  assert.equal(job.data, { postId: 'p1' });
  // A completed job with that id would swallow a later add: it is replaced, so the post is queued again.
  const connection = createRedis(REDIS_URL);
  const worker = new Worker('publish', async () => 'done', { connection, prefix: c.prefix });
  await eventually(async () => (await c.queues.publish.getJobState(publishJobId('p1'))) === 'completed', { message: 'the job completed' });
  await worker.close();
  await connection.quit();
  await enqueuePublish(c.queues, 'p1');
  assert.is(await c.queues.publish.getJobState(publishJobId('p1')), 'waiting');

  const guildId = snowflake();
  const { upsertFeed } = await import('../../src/repositories/feeds.ts');
  const { feed } = await upsertFeed(c.t.db, { guildId, url: 'https://blog.example/feed', channelId: snowflake() });
  const item = (key: string) => ({
    key,
    url: null,
    title: key,
    author: null,
    publishedAt: null,
    summaryHtml: null,
    searchText: key,
    imageUrl: null,
    contentHash: key,
  });
  const pending = (await upsertPostFromFeed(c.t.db, feed, item('a'), 'pending')).post;
  const half = (await upsertPostFromFeed(c.t.db, feed, item('b'), 'pending')).post;
  await setPublishState(c.t.db, half.id, { state: 'announced', channelId: snowflake(), messageId: snowflake() });
  const known = (await upsertPostFromFeed(c.t.db, feed, item('c'), 'known')).post;
  await c.queues.publish.obliterate({ force: true });
  const ctx = { db: c.t.db, queues: c.queues, log, config } as unknown as Parameters<typeof requeueUnfinishedPosts>[0];
  await requeueUnfinishedPosts(ctx);
  assert.ok(await c.queues.publish.getJob(publishJobId(pending.id)));
  assert.ok(await c.queues.publish.getJob(publishJobId(half.id)));
  assert.not.ok(await c.queues.publish.getJob(publishJobId(known.id)), 'known posts are not published');
  assert.is(await c.queues.publish.count(), 2);
});

jobsSuite('poll schedulers: one per active feed, with a stable jitter; paused and removed feeds lose theirs', async (c) => {
  const { upsertFeed, recordFeedFailure, removeFeed: removeFeedRow } = await import('../../src/repositories/feeds.ts');
  const guildId = snowflake();
  const feeds: Feed[] = [];
  for (const n of [1, 2, 3]) feeds.push((await upsertFeed(c.t.db, { guildId, url: `https://blog.example/${n}/feed`, channelId: snowflake() })).feed);
  const ctx = { db: c.t.db, queues: c.queues, log, config } as unknown as Parameters<typeof registerFeedPolls>[0];
  await registerFeedPolls(ctx);
  const ids = async () => (await c.queues.feeds.getJobSchedulers(0, -1)).map((s) => s.id ?? s.key).sort();
  const mine = (list: string[]) => list.filter((id) => feeds.some((f) => id === pollSchedulerId(f.id)));
  assert.is(mine(await ids()).length, 3);
  const scheduler = (await c.queues.feeds.getJobScheduler(pollSchedulerId(feeds[0]!.id)))!;
  assert.is(scheduler.every, config.feedPollIntervalSeconds * 1000);
  await recordFeedFailure(c.t.db, feeds[1]!.id, 'down', 1);
  await removeFeedRow(c.t.db, feeds[2]!.id);
  await registerFeedPolls(ctx);
  assert.equal(mine(await ids()), [pollSchedulerId(feeds[0]!.id)]);
  await feedJobs(ctx).unschedulePolls(feeds[0]!.id);
  assert.equal(mine(await ids()), []);
});

jobsSuite.run();

// The REST port over the gateway client's own REST (discord.js loads @discordjs/rest as CommonJS): Discord's
// error codes must survive, or 160004 "thread exists" and 10003 "unknown channel" are not recognised.
const portSuite = suite('RestDiscordPort over the discord.js client REST');
portSuite('error codes reach the services: 10003 → null, 160004 → done, 50008 → permanent', async () => {
  const discord = await startDiscordEmulator({ guilds: [{ name: 'blog', channels: [{ name: 'posts' }, { name: 'forum', type: 'forum' }] }] });
  const client = createDiscordClient({ discordApiUrl: discord.restUrl, shardIds: null, shardCount: null });
  try {
    client.rest.setToken(discord.token);
    const port = new RestDiscordPort(client.rest);
    assert.is(await port.getChannel(snowflake()), null, 'unknown channel');
    const channelId = discord.channel('posts').id;
    const message = await port.createMessage(channelId, { content: 'hello', allowed_mentions: { parse: [] } });
    assert.is(await port.startThread(channelId, message.id, 'Hello'), message.id);
    assert.is(await port.startThread(channelId, message.id, 'Hello'), message.id, '160004 counts as done');
    const err = await rejects(() => port.createMessage(discord.channel('forum').id, { content: 'x' }));
    assert.ok(err instanceof DiscordRequestError, String(err));
    assert.is((err as DiscordRequestError).code, 50008);
    assert.is(classifyPublishError(err).permanent, true);
  } finally {
    await client.destroy();
    await discord.stop();
  }
});
portSuite.run();
