/**
 * Consent before the web, and deleted means deleted (issue 16, the server's part), on both databases:
 * a feed is served by the HTTP API only after its server enabled it (404 like an unknown post otherwise, the list
 * needs `guild`); a deleted message keeps only its place in the tree (in the rows themselves and in the export);
 * a deleted announcement or thread closes the discussion on the web; migration 007 erases what was kept before.
 * Run alone: npx tsx test/web/web-consent.test.ts
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { FileMigrationProvider, Migrator, sql } from 'kysely';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { webChangeReply, webStatusReply } from '../../commands/web.ts';
import { loadConfig } from '../../src/config.ts';
import { validateMessagePayload } from '../../src/render/limits.ts';
import { renderFallback, renderPostMessage, webHost, webNoticeLine } from '../../src/render/post.ts';
import { VERSION } from '../../src/context.ts';
import { createHttpServer } from '../../src/http/server.ts';
import { createLogger } from '../../src/logger.ts';
import { catchUpThread } from '../../src/services/catch-up.ts';
import { applyOps, CommentWriter } from '../../src/services/comment-writer.ts';
import { DiscordRequestError } from '../../src/services/discord-port.ts';
import { Mirror, PostThreadCache } from '../../src/services/mirror.ts';
import { listComments, markCommentsDeleted, upsertComments, type CommentInput } from '../../src/repositories/comments.ts';
import { DEFAULT_FEED_OPTIONS, getFeed, removeFeed, setFeedWeb, upsertFeed } from '../../src/repositories/feeds.ts';
import { closeDiscussions, getPost, setPublishState, upsertPostFromFeed } from '../../src/repositories/posts.ts';
import { setRating } from '../support/ratings.ts';
import { exportData } from '../../src/services/export.ts';
import { ChannelType } from 'discord-api-types/v10';
import { UserError } from '../../src/errors.ts';
import { announcementPayload } from '../../src/services/announcement.ts';
import { addFeed } from '../../src/services/feeds.ts';
import { setWeb } from '../../src/services/web.ts';
import { DIALECTS, createTestDb, type TestDb } from '../support/db.ts';
import { FakeDiscord, FakeJobs } from '../support/fakes.ts';
import { feedItem, startFeedServer } from '../support/feed-server.ts';
import { seedDiscussion, SEED_URL } from '../support/fixtures.ts';
import { snowflake } from '../support/snowflake.ts';

const log = createLogger('silent');
const migrationFolder = fileURLToPath(new URL('../../migrations', import.meta.url));

const api = (db: TestDb['db']) =>
  createHttpServer(
    { config: loadConfig({}, { dotenv: false }), log, db, version: VERSION, redisHealth: async () => {} },
    { rateLimit: { max: 10_000, timeWindowMs: 60_000 } },
  );

/** A published post of its own feed (web off, as every new feed) with one reply. */
async function aPost(db: TestDb['db'], guildId: string, url: string) {
  const { feed } = await upsertFeed(db, { guildId, url: `${new URL(url).origin}/feed-${snowflake()}`, channelId: snowflake() });
  const { post } = await upsertPostFromFeed(
    db,
    feed,
    {
      key: url,
      url,
      title: `Post at ${url}`,
      author: null,
      publishedAt: '2026-11-30T10:00:00.000Z',
      summaryHtml: '<p>s</p>',
      searchText: 's',
      imageUrl: null,
      contentHash: 'h',
    },
    'pending',
  );
  const messageId = snowflake();
  const threadId = snowflake();
  await setPublishState(db, post.id, { state: 'published', channelId: feed.channelId, messageId, threadId });
  const comment: CommentInput = {
    id: snowflake(),
    postId: post.id,
    threadId,
    authorId: snowflake(),
    authorName: 'Rosa',
    content: 'a reply on the web',
    replyToId: null,
    attachments: [],
    createdAt: new Date().toISOString(),
    editedAt: null,
  };
  await upsertComments(db, [comment]);
  return { feed, post: (await getPost(db, post.id))!, comment, messageId, threadId };
}

const render = suite('the announcement says when its discussion is on the web');

render('GIVEN a feed on the web THEN one short line names the blog and /privacy; off the web, no line', () => {
  const post = {
    title: 'A post',
    url: 'https://www.example.com/a',
    author: null,
    publishedAt: null,
    summaryHtml: '<p>Hi</p>',
    contentHtml: null,
    imageUrl: null,
  };
  const stats = { rating: { average: 0, count: 0 }, replies: 0 };
  const on = renderPostMessage(post, stats, { host: webHost(post.url)! });
  assert.equal(on.embeds![0]!.fields!.at(-1), {
    name: 'On the web',
    value: 'Replies in this thread appear on example.com. `/privacy` chooses how you appear there.',
    inline: false,
  });
  assert.not.ok(JSON.stringify(renderPostMessage(post, stats)).includes('On the web'));
  assert.match(renderFallback(post, { host: 'example.com' }).content!, /\nReplies in this thread appear on example\.com\./);
  assert.is(webHost(null, 'https://blog.example/feed'), 'blog.example', 'the feed’s host when the post has no link');
  assert.is(webHost('javascript:alert(1)', null), null);
});

render('property: any post link and title give a valid announcement whose web line escapes markdown and mentions', () => {
  fc.assert(
    fc.property(fc.oneof(fc.webUrl(), fc.string()), fc.string({ maxLength: 300 }), (url, title) => {
      const host = webHost(url, 'https://fallback.example/feed') ?? 'fallback.example';
      const payload = renderPostMessage(
        { title, url, author: null, publishedAt: null, summaryHtml: null, contentHtml: null, imageUrl: null },
        { rating: { average: 0, count: 0 }, replies: 0 },
        { host },
      );
      assert.equal(validateMessagePayload(payload), []);
      const line = webNoticeLine({ host });
      assert.ok(line.length < 300 && !line.includes('@everyone'));
      assert.ok(JSON.stringify(payload).includes('/privacy'));
    }),
    { numRuns: 150 },
  );
});

render('the /web answers fit a Discord message however many feeds a server follows', () => {
  const feed = (i: number, on: boolean) => ({
    id: `f${i}`,
    guildId: '1',
    url: `https://blog${i}.example/${'x'.repeat(1500)}`,
    channelId: '2',
    title: `Feed *${i}*`,
    etag: null,
    lastModified: null,
    state: 'active' as const,
    consecutiveFailures: 0,
    lastError: null,
    lastPolledAt: null,
    lastSuccessAt: null,
    webEnabled: on,
    options: DEFAULT_FEED_OPTIONS,
    lastPoll: null,
    identity: false,
    webhookId: null,
    identityNote: null,
    createdAt: '',
  });
  const feeds = Array.from({ length: 60 }, (_, i) => feed(i, i % 2 === 0));
  const text = webStatusReply({ feeds, origins: ['https://blog.example'], httpPort: 8787 }, '123456789012345678');
  assert.ok(text.length <= 2000, `${text.length} characters`);
  assert.match(text, /HTTP_CORS_ORIGINS/);
  assert.ok(text.includes('data-guild="123456789012345678"'));
  assert.match(webStatusReply({ feeds: [], origins: [], httpPort: 8787 }, '1'), /follows no feeds yet/);
  assert.match(
    webStatusReply({ feeds: [feed(1, false)], origins: [], httpPort: 0 }, '1'),
    /HTTP_PORT=0[\s\S]*On the web:\*\* none[\s\S]*set HTTP_CORS_ORIGINS/,
  );
  assert.ok(webChangeReply({ feed: feed(1, true), changed: true, refreshed: 3 }).length <= 2000);
  assert.match(webChangeReply({ feed: feed(1, true), changed: true, refreshed: 3 }), /3 announcements are being updated/);
  assert.match(webChangeReply({ feed: feed(1, false), changed: false, refreshed: 0 }), /was not on the web; nothing changed/);
});

render.run();

const bytesOf = async (file: string): Promise<Buffer> =>
  Buffer.concat(await Promise.all([file, `${file}-wal`].map((f) => fs.readFile(f).catch(() => Buffer.alloc(0)))));

const sqliteFile = suite('deleted means deleted: the SQLite file itself');

sqliteFile('GIVEN a deleted comment THEN its text and name are gone from the database file and its WAL after a checkpoint', async () => {
  const dir = await fs.mkdtemp(path.join((await import('node:os')).tmpdir(), 'blogcord-erase-'));
  const file = path.join(dir, 'erase.sqlite');
  const t = await createTestDb('sqlite', { file });
  try {
    const { post, threadId } = await aPost(t.db, snowflake(), 'https://file.example/p');
    const marker = `unforgettable-${snowflake()}`;
    const id = snowflake();
    await upsertComments(t.db, [
      {
        id,
        postId: post.id,
        threadId,
        authorId: snowflake(),
        authorName: `Name-${marker}`,
        content: `words ${marker} `.repeat(40),
        replyToId: null,
        attachments: [{ url: `https://cdn.example/${marker}.png`, name: `${marker}.png`, contentType: null }],
        createdAt: new Date().toISOString(),
        editedAt: null,
      },
    ]);
    const checkpoint = () => sql`pragma wal_checkpoint(TRUNCATE)`.execute(t.db.kysely);
    await checkpoint();
    assert.ok((await bytesOf(file)).includes(marker), 'the text is in the file while the message lives');
    await markCommentsDeleted(t.db, [id], new Date().toISOString());
    await checkpoint();
    assert.not.ok((await bytesOf(file)).includes(marker), 'no byte of the deleted message is left');
  } finally {
    await t.close();
    await fs.rm(dir, { recursive: true, force: true });
  }
});

sqliteFile.run();

for (const dialect of DIALECTS) {
  const test = suite<{ t: TestDb; app: FastifyInstance }>(`web consent and deletion (${dialect})`);

  test.before(async (ctx) => {
    ctx.t = await createTestDb(dialect);
    ctx.app = await api(ctx.t.db);
  });
  test.after(async (ctx) => {
    await ctx.app?.close();
    await ctx.t?.close();
  });

  test('GIVEN a new feed THEN it is off the web; /feed add web:true and setFeedWeb turn it on and off', async ({ t }) => {
    const guildId = snowflake();
    const { feed } = await upsertFeed(t.db, { guildId, url: 'https://a.example/feed', channelId: snowflake() });
    assert.is(feed.webEnabled, false, 'new feeds start disabled');
    assert.is(await setFeedWeb(t.db, feed.id, true), true);
    assert.is(await setFeedWeb(t.db, feed.id, true), false, 'enabling twice changes nothing');
    assert.is((await getFeed(t.db, feed.id))!.webEnabled, true);
    // Adding the feed again (moving it to another channel) keeps the choice unless `web` is given.
    assert.is((await upsertFeed(t.db, { guildId, url: 'https://a.example/feed', channelId: snowflake() })).feed.webEnabled, true);
    assert.is((await upsertFeed(t.db, { guildId, url: 'https://a.example/feed', channelId: snowflake(), web: false })).feed.webEnabled, false);
    const made = await upsertFeed(t.db, { guildId, url: 'https://b.example/feed', channelId: snowflake(), web: true });
    assert.is(made.feed.webEnabled, true, 'web:true enables in one step');
    // A removed feed leaves the web (it is no longer in /web status, so it cannot stay public unseen); added again, it starts off.
    assert.ok(await removeFeed(t.db, made.feed.id));
    assert.is((await getFeed(t.db, made.feed.id))!.webEnabled, false);
    assert.is((await upsertFeed(t.db, { guildId, url: 'https://b.example/feed', channelId: snowflake() })).feed.webEnabled, false);
  });

  test('GIVEN a feed that is not public THEN its post is the same 404 as an unknown post, by id and by URL, and absent from the list', async ({ t, app }) => {
    const guildId = snowflake();
    const { feed, post } = await aPost(t.db, guildId, 'https://private.example/p1');
    const unknownById = await app.inject({ method: 'GET', url: '/api/posts/AAAAAAAAAAAAAAAAAAAAAA' });
    const unknownByUrl = await app.inject({ method: 'GET', url: `/api/posts?url=${encodeURIComponent('https://nowhere.example/p')}` });
    const byId = await app.inject({ method: 'GET', url: `/api/posts/${post.id}` });
    const byIdInGuild = await app.inject({ method: 'GET', url: `/api/posts/${post.id}?guild=${guildId}` });
    const byUrl = await app.inject({ method: 'GET', url: `/api/posts?url=${encodeURIComponent(post.url!)}` });
    for (const [res, like] of [
      [byId, unknownById],
      [byIdInGuild, unknownById],
      [byUrl, unknownByUrl],
    ] as const) {
      assert.is(res.statusCode, 404);
      assert.is(res.body, like.body, 'no oracle: the same answer as an unknown post');
      assert.equal(res.headers['cache-control'], like.headers['cache-control']);
    }
    const list = (await app.inject({ method: 'GET', url: `/api/posts?guild=${guildId}` })).json();
    assert.equal(list.posts, []);

    await setFeedWeb(t.db, feed.id, true);
    const served = await app.inject({ method: 'GET', url: `/api/posts/${post.id}` });
    assert.is(served.statusCode, 200, 'served once the server enabled the feed');
    assert.is(served.json().discussion, 'open');
    assert.is(served.json().comments[0].content, 'a reply on the web');
    assert.is((await app.inject({ method: 'GET', url: `/api/posts?url=${encodeURIComponent(post.url!)}` })).statusCode, 200);
    assert.equal(
      (await app.inject({ method: 'GET', url: `/api/posts?guild=${guildId}` })).json().posts.map((p: { id: string }) => p.id),
      [post.id],
    );

    await setFeedWeb(t.db, feed.id, false);
    assert.is((await app.inject({ method: 'GET', url: `/api/posts/${post.id}` })).body, unknownById.body, 'disabled again: gone at once');
  });

  test('GIVEN /feed add web: and /web enable|disable THEN the setting changes and every announcement of the feed is refreshed to say so; a refused change changes nothing', async ({
    t,
  }) => {
    const feeds = await startFeedServer({ items: [feedItem(1)] });
    try {
      const discord = new FakeDiscord();
      const jobs = new FakeJobs();
      const guildId = snowflake();
      const channelId = discord.addChannel(guildId, ChannelType.GuildText);
      const ctx = { db: t.db, discord, log, config: loadConfig({ FEED_ALLOW_PRIVATE_NETWORK: 'true', FEED_TIMEOUT_SECONDS: '2' }, { dotenv: false }) };
      const url = feeds.url('/rss');
      const added = await addFeed({ ...ctx, jobs: jobs }, { guildId, url, channelId, backfill: 1 });
      assert.is(added.feed.webEnabled, false, 'without web: off the web');
      const postId = jobs.published[0]!;
      await setPublishState(t.db, postId, { state: 'published', channelId, messageId: snowflake(), threadId: snowflake() });
      const line = async () =>
        JSON.stringify(await announcementPayload(t.db, (await getPost(t.db, postId))!)).includes('Replies in this thread appear on blog.example');
      assert.not.ok(await line());

      const again = await addFeed({ ...ctx, jobs: jobs }, { guildId, url, channelId, web: true });
      assert.is(again.feed.webEnabled, true);
      assert.equal(jobs.refreshed, [postId], '/feed add web:True refreshes the announcements');
      assert.ok(await line(), 'the announcement now says where the replies appear');

      const refused = async (p: Promise<unknown>) =>
        p.then(
          () => null,
          (e: unknown) => e,
        );
      const unknownFeed = await refused(setWeb({ ...ctx, jobs: jobs }, guildId, 'https://nowhere.example/feed', false));
      assert.ok(unknownFeed instanceof UserError && /does not follow https:\/\/nowhere\.example\/feed/.test(unknownFeed.message), String(unknownFeed));
      assert.ok((await refused(setWeb({ ...ctx, jobs: jobs }, snowflake(), url, false))) instanceof UserError, 'another server cannot change it');
      assert.is((await getFeed(t.db, added.feed.id))!.webEnabled, true, 'refused: nothing changed');

      const off = await setWeb({ ...ctx, jobs: jobs }, guildId, url, false);
      assert.equal([off.changed, off.refreshed, off.feed.webEnabled], [true, 1, false]);
      assert.not.ok(await line());
      assert.equal((await setWeb({ ...ctx, jobs: jobs }, guildId, added.feed.id, false)).changed, false, 'by id (autocomplete) and idempotent');

      const down = { refreshAnnouncement: async () => Promise.reject(new Error('Redis is away')) };
      const on = await setWeb({ ...ctx, jobs: down }, guildId, url, true);
      assert.equal([on.changed, on.queueError], [true, 'Redis is away'], 'the setting is saved even when the queue is away');
      assert.ok((await getFeed(t.db, added.feed.id))!.webEnabled);
    } finally {
      await feeds.close();
    }
  });

  test('GIVEN the same article in two servers, one public THEN the URL lookup finds the public one only', async ({ t, app }) => {
    const url = `https://shared.example/${snowflake()}`;
    const hidden = await aPost(t.db, snowflake(), url);
    const shown = await aPost(t.db, snowflake(), url);
    await setFeedWeb(t.db, shown.feed.id, true);
    const res = await app.inject({ method: 'GET', url: `/api/posts?url=${encodeURIComponent(url)}` });
    assert.is(res.json().id, shown.post.id);
    assert.is((await app.inject({ method: 'GET', url: `/api/posts?url=${encodeURIComponent(url)}&guild=${hidden.post.guildId}` })).statusCode, 404);
  });

  test('GIVEN no guild THEN the list is a 400 naming it', async ({ app }) => {
    const res = await app.inject({ method: 'GET', url: '/api/posts' });
    assert.is(res.statusCode, 400);
    assert.is(res.json().error.code, 'bad_request');
    assert.match(res.json().error.message, /guild/);
  });

  test('GIVEN a deleted message THEN only its id, parent and times stay in the row; the export shows nulls', async ({ t }) => {
    const guildId = snowflake();
    const { post, comment, threadId } = await aPost(t.db, guildId, 'https://erase.example/p');
    const reply: CommentInput = {
      ...comment,
      id: snowflake(),
      replyToId: comment.id,
      authorName: 'Sam',
      content: 'secret words to forget',
      attachments: [{ url: 'https://cdn.example/x.png', name: 'x.png', contentType: 'image/png' }],
      editedAt: null,
    };
    await upsertComments(t.db, [reply]);
    await upsertComments(t.db, [{ ...reply, content: 'secret words, edited', editedAt: new Date(Date.now() + 1000).toISOString() }]);
    await applyOps(t.db, [{ kind: 'delete', postId: post.id, threadId, ids: [reply.id], at: '2026-12-01T00:00:00.000Z' }]);
    const row = await t.db.kysely.selectFrom('comments').selectAll().where('id', '=', reply.id).executeTakeFirstOrThrow();
    assert.equal(
      { content: row.content, author_id: row.author_id, author_name: row.author_name, attachments: row.attachments, edited_at: row.edited_at },
      { content: '', author_id: '', author_name: '', attachments: '[]', edited_at: null },
      'erased in the row itself',
    );
    assert.equal(
      [row.reply_to_id, row.created_at, row.deleted_at, row.thread_id],
      [comment.id, reply.createdAt, '2026-12-01T00:00:00.000Z', threadId],
      'the tree keeps its shape',
    );
    const hits = await sql<{ n: number }>`select count(*) as n from comments where content like ${'%secret words%'} or author_name = ${'Sam'}`.execute(
      t.db.kysely,
    );
    assert.is(Number(hits.rows[0]!.n), 0);
    // A late copy of the message (catch-up read before the delete) does not bring anything back.
    await upsertComments(t.db, [reply]);
    const exported = (await exportData(t.db, { guildId })).posts.find((p) => p.id === post.id)!;
    const gone = exported.comments.find((c) => c.id === reply.id)!;
    assert.equal(
      { content: gone.content, authorName: gone.authorName, authorId: gone.authorId, attachments: gone.attachments, editedAt: gone.editedAt },
      { content: null, authorName: null, authorId: null, attachments: [], editedAt: null },
    );
    assert.is(gone.replyToId, comment.id);
    assert.is(exported.comments.find((c) => c.id === comment.id)!.content, 'a reply on the web', 'the others are untouched');
  });

  test('GIVEN a deleted thread THEN every comment of it is erased and the discussion is closed', async ({ t, app }) => {
    const { feed, post, threadId } = await aPost(t.db, snowflake(), 'https://thread.example/p');
    await setFeedWeb(t.db, feed.id, true);
    await setRating(t.db, post.id, snowflake(), 4, new Date().toISOString());
    await applyOps(t.db, [{ kind: 'deleteThread', postId: post.id, threadId, at: '2026-12-01T00:00:00.000Z' }]);
    assert.equal(
      (await listComments(t.db, post.id)).map((c) => [c.content, c.authorName, c.authorId]),
      [['', '', '']],
    );
    assert.equal(await closeDiscussions(t.db, { threadIds: [threadId] }, '2026-12-01T00:00:01.000Z'), [post.id]);
    assert.equal(await closeDiscussions(t.db, { threadIds: [threadId] }, '2026-12-01T00:00:02.000Z'), [], 'closed once; the first time stays');
    const res = await app.inject({ method: 'GET', url: `/api/posts/${post.id}` });
    assert.is(res.statusCode, 200, 'the post row stays so the blog link still resolves');
    const view = res.json();
    assert.equal([view.discussion, view.comments, view.replies, view.discord], ['closed', [], 0, { threadUrl: null, messageUrl: null }]);
    assert.is(view.rating.count, 1);
  });

  test('GIVEN a deleted announcement THEN the discussion is closed on the web while the comments stay in the export', async ({ t, app }) => {
    const { feed, post, messageId } = await aPost(t.db, snowflake(), 'https://announce.example/p');
    await setFeedWeb(t.db, feed.id, true);
    assert.equal(await closeDiscussions(t.db, { messageIds: [messageId, snowflake()] }, '2026-12-01T00:00:00.000Z'), [post.id]);
    const view = (await app.inject({ method: 'GET', url: `/api/posts?url=${encodeURIComponent(post.url!)}` })).json();
    assert.equal([view.discussion, view.comments.length], ['closed', 0]);
    const list = (await app.inject({ method: 'GET', url: `/api/posts?guild=${post.guildId}` })).json();
    assert.equal([list.posts[0].replies, list.posts[0].discord.threadUrl], [0, null]);
    const exported = (await exportData(t.db, { guildId: post.guildId })).posts[0]!;
    assert.is(exported.comments[0]!.content, 'a reply on the web', 'the operator’s export keeps the live replies');
  });

  test('GIVEN the mirror THEN a deleted announcement (text channel, bulk, forum starter) or thread closes the discussion; other deletions do not', async ({
    t,
  }) => {
    const writer = new CommentWriter(t.db, null);
    const m = new Mirror(
      writer,
      new PostThreadCache(t.db),
      log,
      async () => {},
      (by, at) => closeDiscussions(t.db, by, at),
    );
    try {
      const a = await aPost(t.db, snowflake(), 'https://mirror.example/a');
      const b = await aPost(t.db, snowflake(), 'https://mirror.example/b');
      const c = await aPost(t.db, snowflake(), 'https://mirror.example/c');
      const d = await aPost(t.db, snowflake(), 'https://mirror.example/d');
      assert.is(await m.announcementsDeleted([snowflake()]), 'ignored', 'a message of no post closes nothing');
      assert.is(await m.announcementsDeleted([a.messageId]), 'closed');
      assert.is(await m.announcementsDeleted([snowflake(), b.messageId]), 'closed', 'a bulk delete holding an announcement');
      // A forum post: the announcement is the starter message inside the thread.
      await setPublishState(t.db, c.post.id, { state: 'published', channelId: c.threadId, messageId: c.threadId, threadId: c.threadId });
      assert.is(await m.messagesDeleted(c.threadId, [c.threadId]), 'deleted');
      assert.is(await m.messagesDeleted(d.threadId, [d.comment.id]), 'deleted', 'a comment deleted in the thread');
      await writer.flush({ timeoutMs: 5000 });
      const closed = async (id: string) => (await getPost(t.db, id))!.discussionClosedAt !== null;
      assert.equal([await closed(a.post.id), await closed(b.post.id), await closed(c.post.id), await closed(d.post.id)], [true, true, true, false]);
      assert.equal(
        (await listComments(t.db, d.post.id)).map((x) => [x.content, x.authorName, x.deletedAt !== null]),
        [['', '', true]],
        'the comment is erased at once',
      );
      const e = await aPost(t.db, snowflake(), 'https://mirror.example/e');
      assert.is(await m.threadDeleted(e.threadId), 'deleted');
      await writer.flush({ timeoutMs: 5000 });
      assert.ok(await closed(e.post.id));
      assert.equal(
        (await listComments(t.db, e.post.id)).map((x) => x.content),
        [''],
      );
    } finally {
      await m.close();
    }
  });

  test('GIVEN a thread deleted while the bot was away THEN catch-up erases it and closes the discussion', async ({ t }) => {
    const { post, threadId } = await aPost(t.db, snowflake(), 'https://away.example/p');
    const discord = { listMessages: async () => Promise.reject(new DiscordRequestError('Unknown Channel', 10003, 404)) };
    const r = await catchUpThread({ db: t.db, discord }, { postId: post.id, threadId, messageId: post.messageId });
    assert.equal([r.status, r.deleted], ['gone', 1]);
    assert.ok((await getPost(t.db, post.id))!.discussionClosedAt);
    assert.equal(
      (await listComments(t.db, post.id)).map((x) => [x.content, x.authorId]),
      [['', '']],
    );
  });

  test('migration 007: feeds start off the web; comments deleted before it lose text, author and attachments; down keeps the rows', async () => {
    const t2 = await createTestDb(dialect, { migrate: false });
    try {
      const schema = dialect === 'postgres' ? (await sql<{ s: string }>`select current_schema() as s`.execute(t2.db.kysely)).rows[0]!.s : undefined;
      const migrator = new Migrator({
        db: t2.db.kysely,
        provider: new FileMigrationProvider({ fs, path, migrationFolder }),
        ...(schema ? { migrationTableSchema: schema } : {}),
      });
      assert.not.ok((await migrator.migrateTo('2026-11-29_006_canonical_links')).error);
      const db = t2.db.kysely as unknown as import('kysely').Kysely<any>;
      const at = '2026-11-30T10:00:00.000Z';
      await db
        .insertInto('feeds')
        .values({
          id: 'f1',
          guild_id: '1',
          url: 'https://m.example/feed',
          channel_id: '2',
          state: 'active',
          consecutive_failures: 0,
          created_at: at,
          updated_at: at,
        })
        .execute();
      await db
        .insertInto('posts')
        .values({
          id: 'p1',
          feed_id: 'f1',
          guild_id: '1',
          guid: 'g',
          url: 'https://m.example/p',
          canonical_link: 'm.example/p',
          title: 'T',
          search_text: 'T',
          content_hash: 'h',
          publish_state: 'published',
          publish_attempts: 1,
          discovered_at: at,
          updated_at: at,
        })
        .execute();
      const row = (id: string, deleted: string | null, replyTo: string | null = null) => ({
        id,
        post_id: 'p1',
        guild_id: '1',
        thread_id: '3',
        author_id: `u${id}`,
        author_name: `name ${id}`,
        content: `text of ${id}`,
        reply_to_id: replyTo,
        attachments: JSON.stringify([{ url: 'https://cdn.example/a.png', name: 'a.png', contentType: null }]),
        created_at: at,
        edited_at: at,
        deleted_at: deleted,
      });
      await db
        .insertInto('comments')
        .values([row('10', '2026-11-30T11:00:00.000Z'), row('11', null, '10')])
        .execute();
      assert.not.ok((await migrator.migrateTo('2026-12-03_007_web_consent')).error);
      const rows = await db.selectFrom('comments').selectAll().orderBy('id').execute();
      assert.equal(
        rows.map((r) => [r.id, r.content, r.author_id, r.author_name, r.attachments, r.edited_at, r.reply_to_id, r.deleted_at]),
        [
          ['10', '', '', '', '[]', null, null, '2026-11-30T11:00:00.000Z'],
          ['11', 'text of 11', 'u11', 'name 11', row('11', null).attachments, at, '10', null],
        ],
      );
      assert.equal(
        (await db.selectFrom('feeds').select('web_enabled').execute()).map((r) => Number(r.web_enabled)),
        [0],
      );
      assert.is((await db.selectFrom('posts').select('discussion_closed_at').executeTakeFirstOrThrow()).discussion_closed_at, null);
      assert.not.ok((await migrator.migrateTo('2026-11-29_006_canonical_links')).error);
      assert.is((await db.selectFrom('comments').selectAll().execute()).length, 2, 'down keeps the rows');
      assert.not.ok((await migrator.migrateToLatest()).error, 'and up again');
    } finally {
      await t2.close();
    }
  });

  test('the seed post served once public: its 22 replies, and a deleted one is a tombstone without text', async ({ t, app }) => {
    const seed = await seedDiscussion(t.db, snowflake());
    assert.is((await app.inject({ method: 'GET', url: `/api/posts/${seed.post.id}` })).statusCode, 404);
    await setFeedWeb(t.db, seed.post.feedId, true);
    const gone = [...seed.idOf.values()][0]!;
    await markCommentsDeleted(t.db, [gone], new Date().toISOString());
    const view = (await app.inject({ method: 'GET', url: `/api/posts?url=${encodeURIComponent(SEED_URL)}&guild=${seed.guildId}` })).json();
    assert.is(view.replies, 21);
    assert.equal(view.comments[0], { id: gone, deleted: true, createdAt: view.comments[0].createdAt, replies: view.comments[0].replies });
  });

  test.run();
}
