// Issue 5 end to end: replies in a post's thread in the local Discord emulator → comments stored by the real
// bot process (`blogcord start`): the seed discussion's reply tree, edits, deletions, bulk deletes, what is
// not a comment, catch-up after downtime, a gateway drop, the reply count on the announcement.
import type { APIMessage } from 'discord-api-types/v10';
import * as assert from 'uvu/assert';
import { listComments, type Comment } from '../../src/repositories/comments.ts';
import { eventually } from '../support/assert.ts';
import { exportJson, type BotProcess } from '../support/bot.ts';
import { announcedPost, e2eSuite, startE2eBot, type E2eContext } from '../support/e2e.ts';
import type { DiscordEmulator } from '../../emulator/index.ts';
import { loadSeed, type SeedComment } from '../support/fixtures.ts';

/** A 1×1 PNG: the emulator, like Discord, refuses an image/png upload that is not one. */
const ONE_PIXEL_PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');

const REFRESH_MS = 1000;
const seed = loadSeed();
const AUTHORS = [...new Set(seed.comments.map((c) => c.author))];
const userOf = (author: string) => `author${AUTHORS.indexOf(author)}`;

interface PostThread {
  postId: string;
  threadId: string;
  announcement: APIMessage;
  announcementChannelId: string;
}

interface Ctx extends E2eContext {
  bot: BotProcess;
  seedPost: PostThread;
  /** fixture id → Discord message id */
  idOf: Map<string, string>;
}

const test = e2eSuite<Ctx>('discussion mirror, end to end', {
  emulator: {
    guilds: [{ name: 'blog', channels: [{ name: 'posts' }, { name: 'forum', type: 'forum' }, { name: 'chat' }] }],
    users: [
      ...AUTHORS.map((author, i) => ({ username: `author${i}`, globalName: author })),
      { username: 'alice', globalName: 'Alice' },
      { username: 'bob' },
      { username: 'otherbot', bot: true },
    ],
  },
});

const botEnv = { ANNOUNCEMENT_REFRESH_MS: String(REFRESH_MS), SYNC_INTERVAL_SECONDS: '3600', RECOUNT_INTERVAL_SECONDS: '3600' };

async function start(ctx: Ctx): Promise<BotProcess> {
  const bot = await startE2eBot(ctx, { env: botEnv });
  await bot.waitForOutput(/connected to Discord/);
  return bot;
}

/** A published post as the publish pipeline leaves it: the bot's announcement with a thread (or a forum post), and the row. */
async function publishPost(ctx: Ctx, key: string, where: 'posts' | 'forum'): Promise<PostThread> {
  const p = await announcedPost(ctx, key, { channel: where });
  return { postId: p.postId, threadId: p.threadId!, announcement: p.announcement, announcementChannelId: p.channelId };
}

const comments = (ctx: Ctx, postId: string) => listComments(ctx.t.db, postId);
const byId = async (ctx: Ctx, postId: string) => new Map((await comments(ctx, postId)).map((c) => [c.id, c]));
const discussionField = (d: DiscordEmulator, messageId: string) => d.message(messageId)?.embeds?.[0]?.fields?.find((f) => f.name === 'Discussion')?.value;
const announcementEdits = (d: DiscordEmulator, p: PostThread) =>
  d.requests.filter(
    (r) => r.method === 'PATCH' && r.route === 'PATCH /channels/{channel_id}/messages/{message_id}' && r.params.message_id === p.announcement.id,
  ).length;

async function waitForComments(ctx: Ctx, postId: string, pred: (rows: Comment[]) => boolean, what: string, timeout = 10_000): Promise<Comment[]> {
  return eventually(
    async () => {
      const rows = await comments(ctx, postId);
      return pred(rows) ? rows : null;
    },
    { timeout, message: what },
  ) as Promise<Comment[]>;
}

test('the seed discussion replayed as Discord replies gives the same 22-comment tree; the export has the documented shape', async (ctx) => {
  const d = ctx.discord;
  ctx.bot = await start(ctx);
  const p = await publishPost(ctx, 'what-do-wechat-and-lord-of-the-rings-have-in-common', 'posts');
  ctx.seedPost = p;
  ctx.idOf = new Map();
  const started = Date.now();
  for (const [i, c] of seed.comments.entries()) {
    let m: APIMessage;
    if (c.replyTo) m = await d.say(userOf(c.author), p.threadId, c.text, { replyTo: ctx.idOf.get(c.replyTo)! });
    else if (i === 0) {
      // A reply to the announcement (in the parent channel) is a top-level comment.
      m = await d.say(userOf(c.author), p.threadId, {
        content: c.text,
        message_reference: { message_id: p.announcement.id, channel_id: p.announcementChannelId, fail_if_not_exists: false },
      });
    } else m = await d.say(userOf(c.author), p.threadId, c.text);
    ctx.idOf.set(c.id, m.id);
  }
  await waitForComments(ctx, p.postId, (rows) => rows.length === 22, '22 comments stored');
  const burstMs = Date.now() - started;

  const exported = (await exportJson(ctx.t.url)).posts.find((x) => x.id === p.postId);
  assert.ok(exported, 'the post is exported');
  // The export shape of docs/operations.md#export.
  for (const key of ['id', 'guildId', 'feedUrl', 'guid', 'url', 'title', 'author', 'publishedAt', 'discord', 'rating', 'ratings', 'comments'])
    assert.ok(key in exported, `post.${key}`);
  assert.equal(exported.discord, { channelId: d.channel('posts').id, messageId: p.announcement.id, threadId: p.threadId });
  assert.is(exported.comments.length, 22);
  for (const c of exported.comments) {
    assert.equal(Object.keys(c).sort(), ['attachments', 'authorId', 'authorName', 'content', 'createdAt', 'deletedAt', 'editedAt', 'id', 'replyToId'].sort());
    assert.match(c.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.is(c.editedAt, null);
    assert.is(c.deletedAt, null);
    assert.equal(c.attachments, []);
  }
  // Exactly the same tree: every comment's parent, author and text.
  const fixtureOf = new Map([...ctx.idOf].map(([f, discordId]) => [discordId, f]));
  const bySeedId = new Map(seed.comments.map((c) => [c.id, c]));
  for (const c of exported.comments) {
    const f = bySeedId.get(fixtureOf.get(c.id)!)! as SeedComment;
    assert.ok(f, `comment ${c.id} is one of the fixture's`);
    assert.is(c.replyToId ? fixtureOf.get(c.replyToId) : null, f.replyTo, `parent of ${f.id}`);
    assert.is(c.content, f.text);
    assert.is(c.authorName, f.author);
    assert.is(c.authorId, d.user(userOf(f.author)).id);
  }
  const top = exported.comments.filter((c: { replyToId: string | null }) => c.replyToId === null);
  const replies = exported.comments.filter((c: { replyToId: string | null }) => c.replyToId !== null);
  const replyIds = new Set(replies.map((c: { id: string }) => c.id));
  assert.is(top.length, 11);
  assert.is(replies.length, 11);
  assert.is(replies.filter((c: { replyToId: string }) => replyIds.has(c.replyToId)).length, 1, 'one reply to a reply');
  assert.equal(
    exported.comments.map((c: { id: string }) => c.id),
    seed.comments.map((c) => ctx.idOf.get(c.id)),
    'oldest first',
  );

  // The announcement shows the reply count, edited a bounded number of times (debounced per post).
  await eventually(() => discussionField(d, p.announcement.id) === '💬 22 replies', { timeout: 10_000, message: 'the announcement shows 💬 22 replies' });
  const edits = announcementEdits(d, p);
  const bound = Math.ceil((Date.now() - started) / REFRESH_MS) + 2;
  assert.ok(edits >= 1 && edits <= bound, `${edits} edits of the announcement (bound ${bound})`);
  console.log(`  seed replay: 22 replies stored in ${burstMs} ms; announcement edited ${edits} time(s)`);
});

test('edit, delete, bulk delete, attachments; bots, webhooks-less system messages and other channels are not stored (forum post)', async (ctx) => {
  const d = ctx.discord;
  const p = await publishPost(ctx, 'a-forum-post', 'forum');
  const first = await d.say('alice', p.threadId, 'first!', { attachments: [{ filename: 'chart.png', data: ONE_PIXEL_PNG, contentType: 'image/png' }] });
  const reply = await d.say('bob', p.threadId, 'a reply', { replyTo: first });
  const toStarter = await d.say('bob', p.threadId, 'replying to the post itself', { replyTo: p.announcement });
  await d.say(d.botUser, p.threadId, 'the bot speaks');
  await d.say('otherbot', p.threadId, 'another bot');
  await d.say('alice', 'chat', 'not a post thread');
  await d.say('alice', 'posts', 'in the announcement channel');
  const purge = [await d.say('alice', p.threadId, 'spam 1'), await d.say('alice', p.threadId, 'spam 2'), await d.say('bob', p.threadId, 'spam 3')];
  await waitForComments(ctx, p.postId, (rows) => rows.length === 6, 'six comments');

  await d.edit(first, 'first! (edited)');
  await d.delete(reply);
  await d.bulkDelete(
    p.threadId,
    purge.map((m) => m.id),
  );
  const rows = await waitForComments(
    ctx,
    p.postId,
    (r) => r.find((c) => c.id === first.id)?.content === 'first! (edited)' && r.filter((c) => c.deletedAt).length === 4,
    'the edit and four tombstones',
  );
  const m = new Map(rows.map((c) => [c.id, c]));
  assert.is(rows.length, 6, 'tombstones keep their rows; bots and other channels are not stored');
  assert.ok(m.get(first.id)!.editedAt, 'editedAt set');
  assert.is(m.get(first.id)!.deletedAt, null);
  assert.is(m.get(first.id)!.authorName, 'Alice');
  assert.equal(
    m.get(first.id)!.attachments.map((a) => [a.name, a.contentType]),
    [['chart.png', 'image/png']],
  );
  assert.match(m.get(first.id)!.attachments[0]!.url, /\/chart\.png\?ex=[0-9a-f]+&is=[0-9a-f]+&hm=[0-9a-f]{64}&$/, 'stored as Discord signed it');
  assert.equal(
    [m.get(reply.id)!.content, m.get(reply.id)!.authorName, m.get(reply.id)!.authorId],
    ['', '', ''],
    'a tombstone keeps no text and no author (deleted means deleted)',
  );
  assert.ok(m.get(reply.id)!.deletedAt);
  assert.is(m.get(reply.id)!.replyToId, first.id);
  assert.is(m.get(toStarter.id)!.replyToId, null, 'a reply to the forum starter is top-level');
  assert.is(m.get(toStarter.id)!.authorName, 'bob', 'no global name: the username');
  for (const x of purge) assert.ok(m.get(x.id)!.deletedAt, 'bulk deleted');
  assert.not.ok(m.has(p.announcement.id), 'the starter message is not a comment');

  const exported = (await exportJson(ctx.t.url)).posts.find((x) => x.id === p.postId);
  assert.equal(exported.comments.find((c: { id: string }) => c.id === first.id).attachments, [
    { url: m.get(first.id)!.attachments[0]!.url, name: 'chart.png' },
  ]);
  await eventually(() => discussionField(d, p.announcement.id) === '💬 2 replies', { timeout: 10_000, message: 'the forum announcement shows 💬 2 replies' });

  // Deleting the thread turns every comment into a tombstone.
  await d.deleteChannel(p.threadId);
  await waitForComments(ctx, p.postId, (r) => r.every((c) => c.deletedAt), 'all tombstones after the thread was deleted');
});

test('with the bot stopped: 10 replies, 1 edit and 1 delete are in the export within a minute after start', async (ctx) => {
  const d = ctx.discord;
  const p = ctx.seedPost;
  assert.is(await ctx.bot.stop(), 0, 'graceful shutdown');
  const editedId = ctx.idOf.get('c02')!;
  const deletedId = ctx.idOf.get('c22')!; // the newest stored comment
  const added: APIMessage[] = [];
  for (let i = 0; i < 10; i++)
    added.push(await d.say(i % 2 ? 'alice' : 'bob', p.threadId, `while you were away ${i}`, i % 3 === 0 ? { replyTo: ctx.idOf.get('c04')! } : {}));
  await d.edit(editedId, 'Interesting comparison Rink! (edited while the bot was away)');
  await d.delete(deletedId);

  const started = Date.now();
  ctx.bot = await start(ctx);
  const readyMs = Date.now() - started;
  await eventually(
    async () => {
      const rows = await byId(ctx, p.postId);
      return added.every((m) => rows.has(m.id)) && rows.get(editedId)!.editedAt !== null && rows.get(deletedId)!.deletedAt !== null;
    },
    { timeout: 60_000, interval: 50, message: 'the changes made while the bot was away' },
  );
  const ms = Date.now() - started;
  const exported = (await exportJson(ctx.t.url)).posts.find((x) => x.id === p.postId);
  const exportMs = Date.now() - started;
  const c = new Map<string, any>(exported.comments.map((x: { id: string }) => [x.id, x]));
  assert.is(exported.comments.length, 32);
  for (const m of added) assert.is(c.get(m.id).content, m.content);
  assert.is(c.get(added[0]!.id).replyToId, ctx.idOf.get('c04'));
  assert.is(c.get(added[1]!.id).replyToId, null);
  assert.match(c.get(editedId).content, /edited while the bot was away/);
  assert.ok(c.get(editedId).editedAt);
  assert.ok(c.get(deletedId).deletedAt);
  assert.equal(
    [c.get(deletedId).content, c.get(deletedId).authorName, c.get(deletedId).attachments],
    [null, null, []],
    'deleted while away: erased by catch-up',
  );
  console.log(
    `  catch-up after downtime: stored ${ms} ms after the bot was started (process up and connected after ${readyMs} ms), in the export after ${exportMs} ms`,
  );
  assert.ok(exportMs < 60_000);
  await eventually(() => discussionField(d, p.announcement.id) === '💬 31 replies', { timeout: 10_000, message: 'the announcement shows 💬 31 replies' });
});

test('a gateway drop in the middle of a stream of replies loses none', async (ctx) => {
  const d = ctx.discord;
  const p = await publishPost(ctx, 'gateway-drop', 'posts');
  const sent: APIMessage[] = [];
  for (let i = 0; i < 60; i++) {
    if (i === 20) void d.dropGateway();
    if (i === 40) void d.dropGateway({ code: 1006 });
    sent.push(await d.say(i % 2 ? 'alice' : 'bob', p.threadId, `stream ${i}`));
  }
  const rows = await waitForComments(ctx, p.postId, (r) => r.length === 60, '60 replies despite two gateway drops', 20_000);
  assert.equal(new Set(rows.map((r) => r.id)), new Set(sent.map((m) => m.id)));
  await ctx.bot.waitForOutput(/gateway resumed/, 5000);
});

test.run();
