import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { withTransaction } from '../../src/db/index.ts';
import {
  countReplies,
  listComments,
  markCommentsDeleted,
  markThreadCommentsDeleted,
  upsertComments,
  type CommentInput,
} from '../../src/repositories/comments.ts';
import { advanceCursor, getCursor } from '../../src/repositories/cursors.ts';
import { claimDigest, getDigest, listDigests, updateDigest } from '../../src/repositories/digest-runs.ts';
import { countFeeds, listFeeds, recordFeedFailure, recordFeedSuccess, removeFeed, upsertFeed } from '../../src/repositories/feeds.ts';
import { getGuildSettings, listKnownGuildIds, upsertGuildSettings } from '../../src/repositories/guilds.ts';
import { compareSnowflakes } from '../../src/domain/snowflake.ts';
import {
  countPosts,
  findGuildPostsByUrl,
  getPostByMessageId,
  getPostByThreadId,
  listAnnouncedPostsSince,
  listPosts,
  listUnfinishedPosts,
  setPublishState,
  upsertPostFromFeed,
  type PostContent,
} from '../../src/repositories/posts.ts';
import { getRatingSummaries, getRatingSummary, getRatingsOf, listRatings, removeRatings, writeRatings } from '../../src/repositories/ratings.ts';
import { getRating, setRating } from '../support/ratings.ts';
import { createTestDb, DIALECTS, type TestDb } from '../support/db.ts';
import { rejects } from '../support/assert.ts';
import { snowflake } from '../support/snowflake.ts';

const item = (key: string, over: Partial<PostContent> = {}): PostContent => ({
  key,
  url: `https://blog.example/${key}`,
  title: `Post ${key}`,
  author: 'Rink',
  publishedAt: '2026-11-20T10:00:00.000Z',
  summaryHtml: '<p>Hello</p>',
  searchText: `Post ${key} Hello`,
  imageUrl: null,
  contentHash: `h-${key}`,
  ...over,
});

for (const dialect of DIALECTS) {
  const test = suite<{ t: TestDb; guildId: string }>(`repositories on ${dialect}`, { t: undefined as never, guildId: '' });

  test.before(async (ctx) => {
    ctx.t = await createTestDb(dialect);
  });
  test.after(async (ctx) => {
    await ctx.t?.close();
  });
  test.before.each((ctx) => {
    ctx.guildId = snowflake();
  });

  async function aFeed(ctx: { t: TestDb; guildId: string }) {
    return (await upsertFeed(ctx.t.db, { guildId: ctx.guildId, url: `https://blog.example/feed-${snowflake()}`, channelId: snowflake() })).feed;
  }

  test('guild settings: defaults until changed, then an idempotent upsert', async ({ t, guildId }) => {
    const d = await getGuildSettings(t.db, guildId);
    assert.equal([d.digestDay, d.digestHour, d.digestTimezone, d.digestEnabled, d.digestEmpty], [1, 9, 'UTC', true, 'skip']);
    await upsertGuildSettings(t.db, guildId, { digestTimezone: 'Europe/Amsterdam', digestHour: 18 });
    await upsertGuildSettings(t.db, guildId, { digestEnabled: false });
    const s = await getGuildSettings(t.db, guildId);
    assert.equal([s.digestTimezone, s.digestHour, s.digestEnabled], ['Europe/Amsterdam', 18, false]);
    assert.ok((await listKnownGuildIds(t.db)).includes(guildId));
  });

  test('feeds: adding twice is one feed; failures pause it; success resets; remove keeps the rows', async (ctx) => {
    const { t, guildId } = ctx;
    const url = 'https://blog.example/feed.xml';
    const a = await upsertFeed(t.db, { guildId, url, channelId: snowflake() });
    const b = await upsertFeed(t.db, { guildId, url, channelId: snowflake() });
    assert.ok(a.created);
    assert.not.ok(b.created);
    assert.is(a.feed.id, b.feed.id);
    assert.is((await listFeeds(t.db, guildId)).length, 1);
    assert.equal([a.feed.state, a.feed.lastPolledAt], ['active', null], 'a new feed is active and never polled');
    await recordFeedFailure(t.db, a.feed.id, 'HTTP 500', 3);
    await recordFeedFailure(t.db, a.feed.id, 'HTTP 500', 3);
    let f = await recordFeedFailure(t.db, a.feed.id, 'HTTP 502', 3);
    assert.equal([f?.state, f?.consecutiveFailures, f?.lastError], ['paused', 3, 'HTTP 502']);
    f = (await upsertFeed(t.db, { guildId, url, channelId: snowflake() })).feed;
    assert.equal([f.state, f.consecutiveFailures], ['active', 0]);
    await recordFeedSuccess(t.db, f.id, { etag: '"v1"', lastModified: 'Wed, 21 Oct 2026 07:28:00 GMT', title: 'A blog' });
    const polled = (await listFeeds(t.db, guildId)).find((x) => x.id === f.id);
    assert.ok(polled?.lastPolledAt, 'a success records the poll');
    assert.ok(await removeFeed(t.db, f.id));
    assert.not.ok(await removeFeed(t.db, f.id), 'removing twice changes nothing');
    assert.is(await countFeeds(t.db, guildId), 0);
  });

  test('posts: the same item twice is one post; a new content hash is an edit, not a new post', async (ctx) => {
    const { t } = ctx;
    const feed = await aFeed(ctx);
    const first = await upsertPostFromFeed(t.db, feed, item('a'), 'pending');
    const again = await upsertPostFromFeed(t.db, feed, item('a'), 'pending');
    const edited = await upsertPostFromFeed(t.db, feed, item('a', { title: 'Post a (updated)', contentHash: 'h-a2' }), 'pending');
    assert.equal([first.status, again.status, edited.status], ['new', 'unchanged', 'changed']);
    assert.is(first.post.id, edited.post.id);
    assert.is(edited.post.title, 'Post a (updated)');
    assert.is(edited.post.publishState, 'pending', 'an edit keeps the publishing state');
    const old = await upsertPostFromFeed(t.db, feed, item('old'), 'known');
    assert.is(old.post.publishState, 'known');
    assert.is(await countPosts(t.db, feed.guildId), 1, 'known items are not counted as posts');
    assert.equal(
      (await listUnfinishedPosts(t.db)).filter((p) => p.feedId === feed.id).map((p) => p.id),
      [first.post.id],
    );
  });

  test('posts: publishing steps are recorded and found by message, thread and URL', async (ctx) => {
    const { t } = ctx;
    const feed = await aFeed(ctx);
    const { post } = await upsertPostFromFeed(t.db, feed, item('b'), 'pending');
    const messageId = snowflake();
    await setPublishState(t.db, post.id, { state: 'announced', channelId: feed.channelId, messageId });
    await setPublishState(t.db, post.id, { state: 'published', threadId: messageId });
    assert.is((await getPostByMessageId(t.db, messageId))?.id, post.id);
    assert.is((await getPostByThreadId(t.db, messageId))?.publishState, 'published');
    assert.equal(
      (await findGuildPostsByUrl(t.db, feed.guildId, 'HTTP://Blog.Example/b/?utm_source=x#top')).map((p) => p.id),
      [post.id],
      'a link naming the same article',
    );
    assert.ok((await listAnnouncedPostsSince(t.db, '2026-01-01T00:00:00.000Z', [feed.guildId])).some((p) => p.id === post.id));
    assert.equal(await listAnnouncedPostsSince(t.db, '2026-01-01T00:00:00.000Z', []), []);
    await setPublishState(t.db, post.id, { state: 'failed', failureReason: 'Missing Access (50001)' });
    const [listed] = await listPosts(t.db, { guildId: feed.guildId });
    assert.equal([listed?.publishState, listed?.failureReason], ['failed', 'Missing Access (50001)']);
  });

  test('comments: idempotent upserts, edits, tombstones, reply counts', async (ctx) => {
    const { t } = ctx;
    const feed = await aFeed(ctx);
    const { post } = await upsertPostFromFeed(t.db, feed, item('c'), 'pending');
    const thread = snowflake();
    const c = (content: string, over: Partial<CommentInput> = {}): CommentInput => ({
      id: snowflake(),
      postId: post.id,
      threadId: thread,
      authorId: snowflake(),
      authorName: 'Bram',
      content,
      replyToId: null,
      attachments: [],
      createdAt: new Date().toISOString(),
      editedAt: null,
      ...over,
    });
    const top = c('first');
    const reply = c('a reply', { replyToId: top.id, attachments: [{ url: 'https://cdn.example/a.png', name: 'a.png', contentType: 'image/png' }] });
    await upsertComments(t.db, [top, reply]);
    await upsertComments(t.db, [top, reply]);
    let list = await listComments(t.db, post.id);
    assert.is(list.length, 2);
    assert.is(list[1]?.replyToId, top.id);
    assert.equal(list[1]?.attachments, reply.attachments);
    await upsertComments(t.db, [{ ...top, content: 'first (edited)', editedAt: '2026-11-29T12:00:00.000Z' }]);
    await upsertComments(t.db, [top]); // a stale copy (catch-up page read before the edit) does not undo the edit
    list = await listComments(t.db, post.id);
    assert.equal([list[0]?.content, list[0]?.editedAt], ['first (edited)', '2026-11-29T12:00:00.000Z']);
    assert.is(await markCommentsDeleted(t.db, [reply.id], '2026-11-29T13:00:00.000Z'), 1);
    assert.is(await markCommentsDeleted(t.db, [reply.id], '2026-11-29T14:00:00.000Z'), 0, 'deleting twice keeps the first time');
    await upsertComments(t.db, [reply]); // a late create event does not resurrect a deleted comment
    list = await listComments(t.db, post.id);
    assert.is(list.length, 2, 'the deleted comment stays as a tombstone');
    assert.is(list[1]?.deletedAt, '2026-11-29T13:00:00.000Z');
    assert.is((await countReplies(t.db, [post.id])).get(post.id), 1);
    assert.is(await markThreadCommentsDeleted(t.db, post.id, thread, '2026-11-29T15:00:00.000Z'), 1);
    assert.is((await countReplies(t.db, [post.id, 'nope'])).get('nope'), 0);
  });

  test('comments: a batch of 2,000 lands in one call', async (ctx) => {
    const { t } = ctx;
    const feed = await aFeed(ctx);
    const { post } = await upsertPostFromFeed(t.db, feed, item('big'), 'pending');
    const thread = snowflake();
    const batch = Array.from({ length: 2000 }, (_, i) => ({
      id: snowflake(),
      postId: post.id,
      threadId: thread,
      authorId: String(i),
      authorName: `user ${i}`,
      content: `message ${i}`,
      replyToId: null,
      attachments: [],
      createdAt: new Date(Date.now() + i).toISOString(),
      editedAt: null,
    }));
    await withTransaction(t.db, (tx) => upsertComments(tx, batch));
    assert.is((await countReplies(t.db, [post.id])).get(post.id), 2000);
  });

  test('ratings: one per person, latest wins, removals, summary from one query', async (ctx) => {
    const { t } = ctx;
    const feed = await aFeed(ctx);
    const { post } = await upsertPostFromFeed(t.db, feed, item('r'), 'pending');
    const [alice, bob] = [snowflake(), snowflake()];
    await setRating(t.db, post.id, alice, 5, '2026-11-29T10:00:00.000Z');
    await setRating(t.db, post.id, bob, 5, '2026-11-29T10:00:01.000Z');
    assert.equal(await getRatingSummary(t.db, post.id), { average: 5, count: 2, distribution: { '1': 0, '2': 0, '3': 0, '4': 0, '5': 2 } });
    await setRating(t.db, post.id, alice, 3, '2026-11-29T10:00:02.000Z');
    assert.equal((await getRatingSummary(t.db, post.id)).average, 4);
    assert.is((await listRatings(t.db, post.id)).length, 2);
    const carol = snowflake();
    assert.equal(
      (
        await getRatingsOf(t.db, [
          { postId: post.id, userId: alice },
          { postId: post.id, userId: carol },
        ])
      ).map((r) => [r.userId, r.stars]),
      [[alice, 3]],
      'only the pairs that exist',
    );
    // A batch's final state: carol rated, alice's rating removed, bob's changed.
    await writeRatings(
      t.db,
      [
        { postId: post.id, userId: carol, stars: 2, updatedAt: '2026-11-29T10:00:02.500Z' },
        { postId: post.id, userId: bob, stars: 4, updatedAt: '2026-11-29T10:00:02.600Z' },
      ],
      [{ postId: post.id, userId: alice }],
    );
    assert.is(await getRating(t.db, post.id, alice), null);
    assert.equal(
      (await listRatings(t.db, post.id)).map((r) => [r.userId, r.stars, r.updatedAt]),
      [
        [carol, 2, '2026-11-29T10:00:02.500Z'],
        [bob, 4, '2026-11-29T10:00:02.600Z'],
      ],
    );
    await writeRatings(t.db, [{ postId: post.id, userId: bob, stars: 5, updatedAt: '2026-11-29T10:00:02.700Z' }], [{ postId: post.id, userId: carol }]);
    await setRating(t.db, post.id, alice, 1, '2026-11-29T10:00:03.000Z');
    assert.is(await removeRatings(t.db, post.id, 5), 1, 'remove-emoji clears one keycap');
    assert.is(await removeRatings(t.db, post.id), 1, 'remove-all clears the rest');
    assert.equal((await getRatingSummaries(t.db, [post.id])).get(post.id)?.count, 0);
    await rejects(() => setRating(t.db, post.id, alice, 6 as never, '2026-11-29T10:00:04.000Z'));
  });

  test('digests: a period is claimed once', async ({ t, guildId }) => {
    const input = {
      guildId,
      periodKey: '2026-W48',
      periodStart: '2026-11-23T00:00:00.000Z',
      periodEnd: '2026-11-30T00:00:00.000Z',
      channelId: snowflake(),
      nonce: 'n1',
    };
    const [a, b] = await Promise.all([claimDigest(t.db, input), claimDigest(t.db, { ...input, nonce: 'n2' })]);
    assert.is([a.claimed, b.claimed].filter(Boolean).length, 1);
    assert.is(b.digest.nonce, a.digest.nonce, 'the loser sees the winner’s nonce');
    await updateDigest(t.db, guildId, '2026-W48', { state: 'posted', messageId: snowflake(), postedAt: '2026-11-30T09:00:00.000Z' });
    assert.is((await getDigest(t.db, guildId, '2026-W48'))?.state, 'posted');
    assert.is((await listDigests(t.db, { guildId, states: ['posted'] })).length, 1);
  });

  test('cursors only move forward (compared as numbers, not text)', async (ctx) => {
    const { t } = ctx;
    const feed = await aFeed(ctx);
    const { post } = await upsertPostFromFeed(t.db, feed, item('cur'), 'pending');
    const thread = snowflake();
    await advanceCursor(t.db, thread, post.id, '100000000000000000');
    await advanceCursor(t.db, thread, post.id, '99999999999999999');
    assert.is(await getCursor(t.db, thread), '100000000000000000');
    await advanceCursor(t.db, thread, post.id, '100000000000000001');
    assert.is(await getCursor(t.db, thread), '100000000000000001');
    assert.is(compareSnowflakes('99', '100'), -1);
  });

  test.run();
}
