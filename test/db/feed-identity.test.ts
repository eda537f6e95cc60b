// A blog that changes its guid scheme (a move to another platform) must not flood its channel: on SQLite and
// PostgreSQL, a stored post is recognised by its link under a new guid (same id, ratings and comments kept, an
// edit when its text changed), and a poll that finds too many new items at once announces none of them; nor does
// /feed add resuming a paused feed (it continues like a poll), while a removed feed added again starts afresh.
import { ChannelType, type RESTPostAPIChannelMessageJSONBody } from 'discord-api-types/v10';
import { pino } from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfig } from '../../src/config.ts';
import { canonicalLink } from '../../src/feeds/canonical-link.ts';
import { listComments, upsertComments } from '../../src/repositories/comments.ts';
import { upsertFeed } from '../../src/repositories/feeds.ts';
import { getFeedPostByKey, getPost, listPosts, rekeyPost, setPublishState, upsertPostFromFeed } from '../../src/repositories/posts.ts';
import { getRatingSummary, listRatings } from '../../src/repositories/ratings.ts';
import { setRating } from '../support/ratings.ts';
import { addFeedReply, removeFeedReply } from '../../commands/feed.ts';
import { addFeed, removeFeed, type AddFeedResult } from '../../src/services/feeds.ts';
import { FLOOD_LIMIT, isFlood, PAUSE_AFTER_FAILURES, pollFeed, type PollResult } from '../../src/services/feed-poll.ts';
import { floodNotice } from '../../src/render/feed-notices.ts';
import { createTestDb, DIALECTS, type TestDb } from '../support/db.ts';
import { FakeDiscord, FakeJobs } from '../support/fakes.ts';
import { feedItem, startFeedServer, type FeedServer, type TestFeedItem } from '../support/feed-server.ts';
import { snowflake } from '../support/snowflake.ts';

// ------------------------------------------------------------------ pure rules

const rules = suite('feed identity rules');

rules('canonicalLink: host case, http/https, fragment, trailing slash and tracking parameters do not matter', () => {
  const base = canonicalLink('https://blog.example/posts/4');
  assert.is(base, 'blog.example/posts/4');
  for (const same of [
    'https://blog.example/posts/4/',
    'HTTPS://Blog.EXAMPLE/posts/4',
    'http://blog.example/posts/4',
    'https://blog.example:443/posts/4',
    'https://blog.example/posts/4#comments',
    'https://blog.example/posts/4/?utm_source=rss&utm_medium=feed&UTM_Campaign=x',
    'https://blog.example/posts/4?fbclid=abc&gclid=def&mc_cid=1&mc_eid=2',
    '  https://blog.example/posts/4//  ',
  ]) {
    assert.is(canonicalLink(same), base, same);
  }
  // Other query parameters are kept (in a stable order): they may name the page.
  assert.is(canonicalLink('https://blog.example/?p=12&lang=en'), canonicalLink('https://blog.example/?lang=en&utm_source=x&p=12'));
  assert.is.not(canonicalLink('https://blog.example/?p=12'), canonicalLink('https://blog.example/?p=13'));
  assert.is(canonicalLink('https://blog.example/?p=12'), 'blog.example?p=12');
});

rules('canonicalLink: different articles stay different; what is not an http(s) URL has no canonical link', () => {
  assert.is.not(canonicalLink('https://blog.example/Posts/4'), canonicalLink('https://blog.example/posts/4'), 'paths keep their case');
  assert.is.not(canonicalLink('https://blog.example/posts/4'), canonicalLink('https://www.blog.example/posts/4'), 'another host');
  assert.is.not(canonicalLink('https://blog.example:8443/posts/4'), canonicalLink('https://blog.example/posts/4'), 'another port');
  assert.is.not(canonicalLink('https://blog.example/posts/4'), canonicalLink('https://blog.example/posts/40'));
  assert.is.not(canonicalLink('https://blog.example/posts/4?ref=a'), canonicalLink('https://blog.example/posts/4'), 'only known tracking parameters go');
  for (const bad of [null, undefined, '', 'not a url', '/posts/4', 'ftp://blog.example/posts/4', 'mailto:rink@blog.example', 'urn:uuid:1234']) {
    assert.is(canonicalLink(bad), null, String(bad));
  }
});

rules(`isFlood: more than ${FLOOD_LIMIT} new items, or more than half of a feed of at least ${FLOOD_LIMIT}`, () => {
  assert.not.ok(isFlood(0, 0));
  assert.not.ok(isFlood(2, 10), 'two new posts are a normal poll');
  assert.not.ok(isFlood(9, 9), 'a small feed that is all new is not a flood (at most 9 posts)');
  assert.not.ok(isFlood(5, 10), 'exactly half');
  assert.ok(isFlood(6, 10));
  assert.not.ok(isFlood(10, 50), 'the limit itself');
  assert.ok(isFlood(11, 50));
  assert.ok(isFlood(11, 11));
  assert.ok(isFlood(20, 20));
});

rules('the flood notice fits a Discord message, escapes titles and names the newest held posts', () => {
  const held = Array.from({ length: 40 }, (_, i) => ({
    title: `@everyone *Post* ${i} ${'long '.repeat(60)}`,
    url: `https://blog.example/posts/${i}?${'x'.repeat(300)}`,
  }));
  const text = floodNotice('https://blog.example/feed', held);
  assert.ok(text.length <= 2000, `${text.length} characters`);
  assert.match(text, /found 40 new posts at once in <https:\/\/blog\.example\/feed>/);
  assert.match(text, /\/publish url:/);
  assert.match(text, /Post\\\* 39/, 'newest first, markdown escaped');
  assert.not.match(text, /(^|[^\u200b])@everyone/, 'no ping');
  assert.match(text, /…and \d+ more/);
  const one = floodNotice('https://blog.example/feed', [{ title: 'Only', url: null }]);
  assert.match(one, /found 1 new posts at once[\s\S]*• Only$/);
});

rules('a backfill published from a flood is named in the notice; the /feed add answer says what was held back', () => {
  const held = Array.from({ length: 10 }, (_, i) => ({ title: `Post ${i}`, url: `https://blog.example/posts/${i}` }));
  const text = floodNotice('https://blog.example/feed', held, 2);
  assert.match(text, /found 12 new posts at once in <https:\/\/blog\.example\/feed> and announced only the newest 2,/);
  assert.match(text, /The other 10 are saved and will not be announced later/);
  const result = {
    feed: { url: 'https://blog.example/feed', channelId: '123' },
    created: false,
    resumed: true,
    parsed: { title: 'A *blog*', format: 'rss' },
    items: 14,
    queued: [{}, {}],
    held,
  } as unknown as AddFeedResult;
  const reply = addFeedReply(result);
  assert.ok(reply.startsWith('Resumed **A \\*blog\\*** (<https://blog.example/feed>) in <#123>.'), reply);
  assert.match(reply, /2 are being published now/);
  assert.ok(
    reply.includes(
      '⚠️ 10 new posts appeared at once, too many to announce: they are saved and will not be announced (a notice in <#123> lists the newest). `/publish url:` announces one.',
    ),
    reply,
  );
  assert.not.match(addFeedReply({ ...result, held: [] }), /⚠️/, 'nothing held, nothing said');
  assert.ok(reply.length <= 2000);
  // A feed URL may be as long as the option allows (2,000 characters): the replies still fit in a message.
  const long = `https://blog.example/feed?${'x'.repeat(1970)}`;
  for (const text of [addFeedReply({ ...result, feed: { ...result.feed, url: long } } as AddFeedResult), removeFeedReply(long)]) {
    assert.ok(text.length <= 2000, `${text.length} characters`);
    assert.ok(text.includes('`https://blog.example/feed?xxx'), 'the URL is shown, cut');
  }
  assert.ok(removeFeedReply('https://blog.example/feed').startsWith('Stopped following <https://blog.example/feed>.'));
});

rules.run();

// ------------------------------------------------------------------ polling, on both databases

interface Ctx {
  t: TestDb;
  feeds: FeedServer;
  discord: FakeDiscord;
  jobs: FakeJobs;
  guildId: string;
  textId: string;
  forumId: string;
  logs: Array<{ level: number; msg: string; [k: string]: unknown }>;
}

const config = loadConfig({ FEED_ALLOW_PRIVATE_NETWORK: 'true', FEED_TIMEOUT_SECONDS: '2', FEED_POLL_INTERVAL_SECONDS: '60' }, { dotenv: false });

function ctxOf(c: Ctx) {
  const log = pino({ level: 'info' }, { write: (line: string) => void c.logs.push(JSON.parse(line)) });
  return { db: c.t.db, discord: c.discord, log, config, jobs: c.jobs };
}

/** The same posts under another platform's guids (and, unless told otherwise, the same links). */
const migrated = (items: readonly TestFeedItem[], over: (i: TestFeedItem) => Partial<TestFeedItem> = () => ({})): TestFeedItem[] =>
  items.map((i) => ({ ...i, id: `https://newplatform.example/?p=${i.id.replace(/\D/g, '')}`, ...over(i) }));

/** What the bot sent or changed in Discord (reads such as getChannel left out). */
const sent = (c: Pick<Ctx, 'discord'>) => c.discord.calls.filter((x) => x.method !== 'getChannel' && x.method !== 'getMessage').map((x) => x.method);

const ok = (r: PollResult) => {
  assert.is(r.status, 'ok', JSON.stringify(r));
  return r as Extract<PollResult, { status: 'ok' }>;
};

for (const dialect of DIALECTS) {
  const test = suite<Ctx>(`feed identity (guid changes, floods) on ${dialect}`, {} as Ctx);

  test.before(async (c) => {
    try {
      c.t = await createTestDb(dialect);
      c.feeds = await startFeedServer();
    } catch (error) {
      console.error(`feed identity on ${dialect}: setup failed:`, error);
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
    c.logs = [];
    c.guildId = snowflake();
    c.textId = c.discord.addChannel(c.guildId, ChannelType.GuildText);
    c.forumId = c.discord.addChannel(c.guildId, ChannelType.GuildForum);
    c.feeds.items = [1, 2, 3, 4].map((n) => feedItem(n)).reverse();
    c.feeds.failWith = null;
    c.feeds.title = `The Test Blog ${snowflake()}`;
  });

  /** Follows the test feed (nothing published), then announces post 4 with two ratings and a reply, as Discord would. */
  async function followWithDiscussion(c: Ctx, channelId = c.textId) {
    const { feed } = await addFeed(ctxOf(c), { guildId: c.guildId, url: c.feeds.url('/rss'), channelId, backfill: 0 });
    const [p4] = (await listPosts(c.t.db, { guildId: c.guildId })).filter((p) => p.title === 'Post number 4');
    const messageId = snowflake();
    await setPublishState(c.t.db, p4!.id, { state: 'published', channelId, messageId, threadId: messageId });
    await setRating(c.t.db, p4!.id, snowflake(), 5, new Date().toISOString());
    await setRating(c.t.db, p4!.id, snowflake(), 4, new Date().toISOString());
    const commentId = snowflake();
    await upsertComments(c.t.db, [
      {
        id: commentId,
        postId: p4!.id,
        threadId: messageId,
        authorId: snowflake(),
        authorName: 'Bram',
        content: 'Great post',
        replyToId: null,
        attachments: [],
        createdAt: new Date().toISOString(),
        editedAt: null,
      },
    ]);
    return { feed, post: (await getPost(c.t.db, p4!.id))!, commentId };
  }

  test('a guid-scheme change with identical links publishes nothing; ratings and comments stay on the same post', async (c) => {
    const { feed, post, commentId } = await followWithDiscussion(c);
    const before = await listPosts(c.t.db, { guildId: c.guildId });
    c.feeds.items = migrated(c.feeds.items);
    const r = ok(await pollFeed(ctxOf(c), feed.id));
    assert.equal(r, { status: 'ok', items: 4, new: 0, changed: 0, relinked: 4, held: 0 });
    assert.equal(c.jobs.published, [], 'nothing published');
    assert.equal(c.jobs.refreshed, [], 'nothing edited: the text is the same');
    assert.equal(sent(c), [], 'not a word in Discord');
    const after = await listPosts(c.t.db, { guildId: c.guildId });
    assert.equal(
      after.map((p) => [p.id, p.publishState, p.messageId]),
      before.map((p) => [p.id, p.publishState, p.messageId]),
      'same posts, same ids, same states',
    );
    const moved = (await getPost(c.t.db, post.id))!;
    assert.is(moved.guid, 'https://newplatform.example/?p=4', 'the post now carries the new guid');
    assert.is(moved.messageId, post.messageId);
    assert.is((await getRatingSummary(c.t.db, post.id)).count, 2);
    assert.is((await listRatings(c.t.db, post.id)).length, 2);
    assert.equal(
      (await listComments(c.t.db, post.id)).map((x) => x.id),
      [commentId],
    );
    assert.ok(c.logs.some((l) => l.msg.includes('recognised by their link') && l.relinked === 4));
    // The next poll finds the posts by their new guids directly.
    c.feeds.title = 'Renamed blog';
    assert.equal(ok(await pollFeed(ctxOf(c), feed.id)), { status: 'ok', items: 4, new: 0, changed: 0, relinked: 0, held: 0 });
    assert.is((await getFeedPostByKey(c.t.db, feed.id, 'https://newplatform.example/?p=4'))?.id, post.id);
    // And a real new post under the new scheme is published as usual.
    c.feeds.items.unshift({ ...feedItem(5), id: 'https://newplatform.example/?p=5' });
    assert.equal(ok(await pollFeed(ctxOf(c), feed.id)), { status: 'ok', items: 5, new: 1, changed: 0, relinked: 0, held: 0 });
    assert.is((await getPost(c.t.db, c.jobs.published[0]!))!.title, 'Post number 5');
  });

  test('a changed title under the new guid is an edit of the announced post, never a new post', async (c) => {
    const { feed, post } = await followWithDiscussion(c);
    c.feeds.items = migrated(c.feeds.items, (i) => (i.id.endsWith('-4') ? { title: 'Post number 4, revised' } : {}));
    const r = ok(await pollFeed(ctxOf(c), feed.id));
    assert.equal([r.new, r.changed, r.relinked, r.held], [0, 1, 4, 0]);
    assert.equal(c.jobs.published, []);
    assert.equal(c.jobs.refreshed, [post.id], 'the announcement and thread name are brought up to date');
    const edited = (await getPost(c.t.db, post.id))!;
    assert.is(edited.title, 'Post number 4, revised');
    assert.is(edited.publishState, 'published');
    assert.is((await getRatingSummary(c.t.db, post.id)).count, 2);
  });

  test('a link with utm parameters, a trailing slash, a fragment, another host case and http matches', async (c) => {
    const { feed, post } = await followWithDiscussion(c);
    c.feeds.items = migrated(c.feeds.items, (i) => ({
      link: `${i.link.replace('https://blog.example', 'http://BLOG.example')}/?utm_source=rss&utm_medium=feed#comments`,
    }));
    const r = ok(await pollFeed(ctxOf(c), feed.id));
    assert.equal([r.new, r.relinked, r.held], [0, 4, 0]);
    assert.equal(c.jobs.published, []);
    // The link itself changed, so announced posts are refreshed (an edit), never reposted.
    assert.equal(c.jobs.refreshed, [post.id]);
    assert.is((await getPost(c.t.db, post.id))!.guid, 'https://newplatform.example/?p=4');
  });

  test('a feed that keys by link moving to guids is recognised too; adding the feed again stores nothing twice', async (c) => {
    c.feeds.items = c.feeds.items.map((i) => ({ ...i, id: '' }));
    // Without a guid the item's key is its link.
    const { feed } = await addFeed(ctxOf(c), { guildId: c.guildId, url: c.feeds.url('/atom'), channelId: c.textId, backfill: 1 });
    const [p4] = c.jobs.published;
    assert.ok(p4);
    c.feeds.items = [1, 2, 3, 4].map((n) => feedItem(n, { id: `tag:blog.example,2026:${n}` })).reverse();
    // /feed add again (to resume or move the feed) recognises the posts as well.
    const again = await addFeed(ctxOf(c), { guildId: c.guildId, url: c.feeds.url('/atom'), channelId: c.textId, backfill: 0 });
    assert.is(again.queued.length, 0);
    assert.is((await listPosts(c.t.db, { guildId: c.guildId })).length, 4, 'no post stored twice');
    assert.is((await getPost(c.t.db, p4))!.guid, 'tag:blog.example,2026:4');
    c.feeds.title = 'Renamed';
    assert.equal(ok(await pollFeed(ctxOf(c), feed.id)).relinked, 0);
    assert.equal(c.jobs.published, [p4]);
  });

  test('not the same post: the old item still in the feed, dates weeks apart, another query, or no link', async (c) => {
    const { feed } = await followWithDiscussion(c);
    const weeksLater = new Date(Date.parse(feedItem(3).date) + 30 * 24 * 3600_000).toISOString();
    c.feeds.items = [
      // A second item linking post 4's page while post 4 is still in the feed: two live items.
      feedItem(40, { link: 'https://blog.example/posts/4/', title: 'A follow-up with the same link' }),
      // Post 3's link again, a month later (a link blog links one page twice); post 3 itself left the feed.
      feedItem(30, { link: 'https://blog.example/posts/3', date: weeksLater, title: 'Linked again' }),
      // The same path with another page parameter.
      feedItem(21, { link: 'https://blog.example/posts/2?page=2', title: 'Page two' }),
      feedItem(50, { link: '', title: 'No link at all' }),
      feedItem(4),
    ];
    const r = ok(await pollFeed(ctxOf(c), feed.id));
    assert.equal([r.new, r.changed, r.relinked, r.held], [4, 0, 0, 0]);
    const titles = await Promise.all(c.jobs.published.map(async (id) => (await getPost(c.t.db, id))!.title));
    assert.equal(titles.sort(), ['A follow-up with the same link', 'Linked again', 'No link at all', 'Page two']);
  });

  test('a key that moved away and comes back for another item gets a post (and an id) of its own', async (c) => {
    const { feed } = await upsertFeed(c.t.db, { guildId: c.guildId, url: `https://blog.example/${snowflake()}/feed`, channelId: c.textId });
    const item = (key: string, url: string) => ({
      key,
      url,
      title: key,
      author: null,
      publishedAt: null,
      summaryHtml: null,
      searchText: key,
      imageUrl: null,
      contentHash: key,
    });
    const a = await upsertPostFromFeed(c.t.db, feed, item('A', 'https://blog.example/a'), 'known');
    assert.ok(await rekeyPost(c.t.db, a.post.id, feed.id, 'B'));
    assert.not.ok(await rekeyPost(c.t.db, a.post.id, feed.id, 'B'), 'moving to a key the feed holds changes nothing');
    const other = await upsertPostFromFeed(c.t.db, feed, item('C', 'https://blog.example/c'), 'known');
    assert.not.ok(await rekeyPost(c.t.db, other.post.id, feed.id, 'B'), 'a key is never taken from another post');
    // Key A is free again, but the id derived from it belongs to the moved post.
    const again = await upsertPostFromFeed(c.t.db, feed, item('A', 'https://blog.example/another'), 'pending');
    assert.is(again.status, 'new');
    assert.is.not(again.post.id, a.post.id);
    assert.is(again.post.url, 'https://blog.example/another');
    assert.is((await getPost(c.t.db, a.post.id))!.guid, 'B');
    assert.is((await upsertPostFromFeed(c.t.db, feed, item('A', 'https://blog.example/another'), 'pending')).status, 'unchanged');
    assert.is((await upsertPostFromFeed(c.t.db, feed, { ...item('B', 'https://blog.example/a'), title: 'moved, then edited' }, 'pending')).status, 'changed');
    assert.is((await getPost(c.t.db, a.post.id))!.title, 'moved, then edited');
  });

  test('a flood of genuinely new items is stored, not announced, warned about and noticed once', async (c) => {
    const { feed } = await followWithDiscussion(c);
    // A move to another domain: new guids and new links, the whole archive of 15 posts at once.
    c.feeds.items = Array.from({ length: 15 }, (_, i) => feedItem(i + 1, { id: `new-${i + 1}`, link: `https://blog.new.example/${i + 1}` })).reverse();
    const r = ok(await pollFeed(ctxOf(c), feed.id));
    assert.equal(r, { status: 'ok', items: 15, new: 0, changed: 0, relinked: 0, held: 15 });
    assert.equal(c.jobs.published, [], 'none announced');
    const stored = (await listPosts(c.t.db, { guildId: c.guildId })).filter((p) => p.url?.startsWith('https://blog.new.example/'));
    assert.is(stored.length, 15);
    assert.ok(
      stored.every((p) => p.publishState === 'known'),
      'stored as known: never published later',
    );
    const warning = c.logs.find((l) => l.level === 40 && l.msg.includes('flood guard'));
    assert.ok(warning, 'a warning');
    assert.is(warning!.count, 15);
    assert.is(warning!.feedId, feed.id);
    assert.is(warning!.url, feed.url);
    const notices = c.discord.calls.filter((x) => x.method === 'createMessage');
    assert.is(notices.length, 1, 'one notice');
    assert.is(notices[0]!.args[0], c.textId);
    const body = notices[0]!.args[1] as RESTPostAPIChannelMessageJSONBody;
    assert.match(body.content ?? '', /found 15 new posts at once/);
    assert.match(body.content ?? '', /Post number 15 <https:\/\/blog\.new\.example\/15>[\s\S]*Post number 11/);
    assert.equal(body.allowed_mentions, { parse: [] });
    assert.is(body.enforce_nonce, true);
    assert.ok(String(body.nonce).length <= 25);
    // The next polls announce nothing and say nothing more; a real new post afterwards goes out as usual.
    c.feeds.title = 'Renamed';
    assert.equal(ok(await pollFeed(ctxOf(c), feed.id)), { status: 'ok', items: 15, new: 0, changed: 0, relinked: 0, held: 0 });
    c.feeds.items.unshift(feedItem(16, { id: 'new-16', link: 'https://blog.new.example/16' }));
    assert.equal(ok(await pollFeed(ctxOf(c), feed.id)), { status: 'ok', items: 16, new: 1, changed: 0, relinked: 0, held: 0 });
    assert.is(c.discord.calls.filter((x) => x.method === 'createMessage').length, 1);
  });

  test('a flood in a forum feed is noticed with a forum post; a notice Discord refuses is logged, the poll still succeeds', async (c) => {
    const { feed } = await followWithDiscussion(c, c.forumId);
    c.feeds.items = Array.from({ length: 12 }, (_, i) => feedItem(i + 100)).reverse();
    ok(await pollFeed(ctxOf(c), feed.id));
    const posts = c.discord.calls.filter((x) => x.method === 'createForumPost');
    assert.is(posts.length, 1);
    assert.is(posts[0]!.args[0], c.forumId);
    assert.match(String(posts[0]!.args[1]), /^Feed held back: /);
    assert.match((posts[0]!.args[2] as RESTPostAPIChannelMessageJSONBody).content ?? '', /found 12 new posts at once/);
    // Discord refusing the notice does not fail the poll (the posts are stored either way).
    c.feeds.items = Array.from({ length: 12 }, (_, i) => feedItem(i + 200)).reverse();
    c.discord.failNext('createForumPost', new Error('Missing Access'));
    const r = ok(await pollFeed(ctxOf(c), feed.id));
    assert.is(r.held, 12);
    assert.ok(c.logs.some((l) => l.msg.includes('could not post a notice')));
    assert.equal(c.jobs.published, []);
  });

  test('a normal poll with 2 new items is unaffected; a feed never polled publishes its first poll (backfill governs /feed add)', async (c) => {
    const { feed } = await addFeed(ctxOf(c), { guildId: c.guildId, url: c.feeds.url('/rss'), channelId: c.textId, backfill: 0 });
    c.feeds.items.unshift(feedItem(5), feedItem(6));
    assert.equal(ok(await pollFeed(ctxOf(c), feed.id)), { status: 'ok', items: 6, new: 2, changed: 0, relinked: 0, held: 0 });
    assert.is(c.jobs.published.length, 2);
    assert.equal(sent(c), [], 'no notice');
    assert.not.ok(
      c.logs.some((l) => l.level >= 40),
      'no warning',
    );
    // A feed row that was never polled (not added by /feed add) is not guarded: its first poll is what it is.
    c.feeds.items = Array.from({ length: 12 }, (_, i) => feedItem(i + 300)).reverse();
    const { feed: fresh } = await upsertFeed(c.t.db, { guildId: c.guildId, url: c.feeds.url('/atom'), channelId: c.textId });
    const first = ok(await pollFeed(ctxOf(c), fresh.id));
    assert.equal([first.new, first.held], [12, 0]);
    // /feed add itself: backfill decides, whatever the size of the feed.
    c.feeds.items = Array.from({ length: 30 }, (_, i) => feedItem(i + 400)).reverse();
    const added = await addFeed(ctxOf(c), { guildId: c.guildId, url: `${c.feeds.url('/rss')}?again`, channelId: c.textId, backfill: 3 });
    assert.is(added.queued.length, 3);
    assert.not.ok(
      c.logs.some((l) => l.level >= 40),
      'no warning',
    );
  });

  /** Fails the feed until it is paused (one pause notice), then lets it answer again. */
  async function pause(c: Ctx, feedId: string) {
    c.feeds.failWith = 500;
    for (let i = 0; i < PAUSE_AFTER_FAILURES; i++) await pollFeed(ctxOf(c), feedId, { force: true });
    c.feeds.failWith = null;
    assert.is(c.discord.count('createMessage'), 1, 'the pause notice');
  }

  const titles = async (c: Ctx, ids: readonly string[]) => Promise.all(ids.map(async (id) => (await getPost(c.t.db, id))!.title));
  /** The messages the bot sent: [channel, content]. */
  const notices = (c: Ctx) =>
    c.discord.calls
      .filter((x) => x.method === 'createMessage')
      .map((x) => [x.args[0] as string, (x.args[1] as RESTPostAPIChannelMessageJSONBody).content ?? ''] as const);

  test('/feed add resuming a paused feed publishes what appeared meanwhile, as a poll would (an old date too), oldest first', async (c) => {
    const { feed } = await addFeed(ctxOf(c), { guildId: c.guildId, url: c.feeds.url('/rss'), channelId: c.textId, backfill: 0 });
    await pause(c, feed.id);
    c.feeds.items.unshift(feedItem(6), feedItem(5), feedItem(-5, { title: 'Drafted long ago, published while paused' }));
    const r = await addFeed(ctxOf(c), { guildId: c.guildId, url: c.feeds.url('/rss'), channelId: c.textId });
    assert.ok(r.resumed);
    assert.is(r.feed.state, 'active');
    assert.equal(
      await titles(
        c,
        r.queued.map((p) => p.id),
      ),
      ['Drafted long ago, published while paused', 'Post number 5', 'Post number 6'],
    );
    assert.equal(
      c.jobs.published,
      r.queued.map((p) => p.id),
    );
    assert.equal(r.held, []);
    assert.is(notices(c).length, 1, 'no notice but the pause');
    assert.not.ok(c.logs.some((l) => l.msg.includes('flood guard')));
    // Resumed for good: the next poll is an ordinary conditional GET; a changed feed publishes nothing again.
    assert.equal(await pollFeed(ctxOf(c), feed.id), { status: 'not-modified' });
    c.feeds.title = 'Renamed';
    assert.equal(ok(await pollFeed(ctxOf(c), feed.id)), { status: 'ok', items: 7, new: 0, changed: 0, relinked: 0, held: 0 });
  });

  test('/feed add resuming a paused feed that comes back with a flood holds it back like a poll: nothing announced, a warning, one notice where the feed now goes', async (c) => {
    const { feed, post } = await followWithDiscussion(c);
    await pause(c, feed.id);
    // While paused the blog moved to a new domain (new guids, new links): its whole archive of 15 posts looks new.
    c.feeds.items = Array.from({ length: 15 }, (_, i) => feedItem(i + 1, { id: `moved-${i + 1}`, link: `https://blog.moved.example/${i + 1}` })).reverse();
    const otherId = c.discord.addChannel(c.guildId, ChannelType.GuildText);
    const r = await addFeed(ctxOf(c), { guildId: c.guildId, url: c.feeds.url('/rss'), channelId: otherId });
    assert.ok(r.resumed);
    assert.equal(r.queued, []);
    assert.equal(c.jobs.published, [], 'none announced');
    assert.is(r.held.length, 15);
    assert.equal(
      r.held.map((p) => p.publishState),
      Array(15).fill('known'),
      'stored as known: never published later',
    );
    const warning = c.logs.find((l) => l.level === 40 && l.msg.includes('flood guard'));
    assert.ok(warning, 'a warning');
    assert.equal([warning!.count, warning!.feedId, warning!.url], [15, feed.id, feed.url]);
    const [pauseNotice, floodNotice] = notices(c);
    assert.is(pauseNotice![0], c.textId);
    assert.is(floodNotice![0], otherId, 'in the channel the feed now announces in');
    assert.match(floodNotice![1], /found 15 new posts at once[\s\S]*and announced none of them[\s\S]*Post number 15 <https:\/\/blog\.moved\.example\/15>/);
    assert.match(addFeedReply(r), /15 new posts appeared at once/);
    assert.is((await getPost(c.t.db, post.id))!.messageId, post.messageId, 'the announced post is untouched');
    // The next polls are quiet; a real new post afterwards is announced as usual.
    c.feeds.title = 'Renamed';
    assert.equal(ok(await pollFeed(ctxOf(c), feed.id)), { status: 'ok', items: 15, new: 0, changed: 0, relinked: 0, held: 0 });
    c.feeds.items.unshift(feedItem(16, { id: 'moved-16', link: 'https://blog.moved.example/16' }));
    assert.equal(ok(await pollFeed(ctxOf(c), feed.id)), { status: 'ok', items: 16, new: 1, changed: 0, relinked: 0, held: 0 });
    assert.is(notices(c).length, 2, 'one flood notice, once');
  });

  test('/feed add resuming a paused feed with backfill: the newest of a flood are published, the rest held, and the notice says so', async (c) => {
    const { feed } = await addFeed(ctxOf(c), { guildId: c.guildId, url: c.feeds.url('/rss'), channelId: c.textId, backfill: 0 });
    await pause(c, feed.id);
    c.feeds.items = [...Array.from({ length: 12 }, (_, i) => feedItem(i + 100)).reverse(), ...c.feeds.items];
    const r = await addFeed(ctxOf(c), { guildId: c.guildId, url: c.feeds.url('/rss'), channelId: c.textId, backfill: 2 });
    assert.equal(await titles(c, c.jobs.published), ['Post number 110', 'Post number 111']);
    assert.is(r.held.length, 10);
    assert.match(notices(c)[1]![1], /found 12 new posts at once in <[^>]+> and announced only the newest 2,[\s\S]*The other 10 are saved/);
  });

  test('/feed add resuming a flood while Discord refuses the notice and the queue is down: the feed resumes, the posts are held, the backfill waits', async (c) => {
    const { feed } = await addFeed(ctxOf(c), { guildId: c.guildId, url: c.feeds.url('/rss'), channelId: c.textId, backfill: 0 });
    await pause(c, feed.id);
    c.feeds.items = Array.from({ length: 11 }, (_, i) => feedItem(i + 200)).reverse();
    c.discord.failNext('createMessage', new Error('Missing Access'));
    c.jobs.enqueuePublish = async () => {
      throw new Error('Connection is closed.');
    };
    const r = await addFeed(ctxOf(c), { guildId: c.guildId, url: c.feeds.url('/rss'), channelId: c.textId, backfill: 1 });
    assert.is(r.feed.state, 'active');
    assert.is(r.queueError, 'Connection is closed.');
    assert.equal(
      await titles(
        c,
        r.queued.map((p) => p.id),
      ),
      ['Post number 210'],
    );
    assert.is((await getPost(c.t.db, r.queued[0]!.id))!.publishState, 'pending', 'saved for the worker to pick up');
    assert.is(r.held.length, 10);
    assert.ok(c.logs.some((l) => l.msg.includes('could not post a notice')));
    assert.ok(c.logs.some((l) => l.level === 40 && l.msg.includes('flood guard') && l.count === 10 && l.announced === 1));
    assert.match(addFeedReply(r), /10 new posts appeared at once[\s\S]*job queue is unreachable/);
  });

  test('a removed feed added again starts afresh: what appeared while it was not followed is recorded, not announced; backfill decides; no flood notice', async (c) => {
    const { feed } = await addFeed(ctxOf(c), { guildId: c.guildId, url: c.feeds.url('/rss'), channelId: c.textId, backfill: 0 });
    await removeFeed(ctxOf(c), c.guildId, c.feeds.url('/rss'));
    c.feeds.items = [...Array.from({ length: 15 }, (_, i) => feedItem(i + 300)).reverse(), ...c.feeds.items];
    const r = await addFeed(ctxOf(c), { guildId: c.guildId, url: c.feeds.url('/rss'), channelId: c.textId, backfill: 1 });
    assert.ok(r.resumed);
    assert.is(r.feed.id, feed.id);
    assert.equal(await titles(c, c.jobs.published), ['Post number 314']);
    assert.equal(r.held, []);
    assert.equal(sent(c), [], 'no notice');
    assert.not.ok(
      c.logs.some((l) => l.level >= 40),
      'no warning',
    );
    const states = (await listPosts(c.t.db, { guildId: c.guildId })).filter((p) => p.title !== 'Post number 314').map((p) => p.publishState);
    assert.equal(states, Array(18).fill('known'));
  });

  test('an active feed added again (moved to another channel) publishes what appeared since its last poll instead of swallowing it', async (c) => {
    const { feed } = await addFeed(ctxOf(c), { guildId: c.guildId, url: c.feeds.url('/rss'), channelId: c.textId, backfill: 0 });
    c.feeds.items.unshift(feedItem(6), feedItem(5));
    const otherId = c.discord.addChannel(c.guildId, ChannelType.GuildText);
    const r = await addFeed(ctxOf(c), { guildId: c.guildId, url: c.feeds.url('/rss'), channelId: otherId });
    assert.not.ok(r.resumed);
    assert.is(r.feed.channelId, otherId);
    assert.equal(await titles(c, c.jobs.published), ['Post number 5', 'Post number 6']);
    c.feeds.title = 'Renamed';
    assert.equal(ok(await pollFeed(ctxOf(c), feed.id)), { status: 'ok', items: 6, new: 0, changed: 0, relinked: 0, held: 0 });
    assert.is(c.jobs.published.length, 2, 'published once');
  });

  test.run();
}
