// Issue 4 "Done when", end to end: the real bot process (`blogcord start`) against the local Discord emulator,
// following a feed served from 127.0.0.1 whose items the test changes.
import type { APIMessage } from 'discord-api-types/v10';
import * as assert from 'uvu/assert';
import { eventually } from '../support/assert.ts';
import type { BotProcess } from '../support/bot.ts';
import { botAnnouncements, e2eSuite, isCompleteAnnouncement, startE2eBot, type E2eContext } from '../support/e2e.ts';
import { DEFAULT_BOT_PERMISSIONS, DEFAULT_EVERYONE_PERMISSIONS, type DiscordEmulator } from '../../emulator/index.ts';
import { feedItem, startFeedServer, type FeedServer } from '../support/feed-server.ts';

interface Ctx extends E2eContext {
  feeds: FeedServer;
  bot: BotProcess;
}

const test = e2eSuite<Ctx>('Publish, end to end', {
  emulator: {
    guilds: [{ name: 'blog', channels: [{ name: 'posts' }, { name: 'forum', type: 'forum' }, { name: 'general' }] }],
    users: [{ username: 'alice', manageGuild: true }, { username: 'bob' }],
  },
  commands: true,
});

const botEnv = { FEED_POLL_INTERVAL_SECONDS: '1', FEED_TIMEOUT_SECONDS: '2', ANNOUNCEMENT_REFRESH_MS: '200' };

test.before(async (ctx) => {
  ctx.feeds = await startFeedServer({ items: [1, 2, 3, 4].map((n) => feedItem(n)).reverse() });
  ctx.bot = await startE2eBot(ctx, { env: botEnv });
  await ctx.discord.waitForReady();
});

test.after(async (ctx) => {
  await ctx.feeds?.close();
});

/** The bot's announcements in a text channel, oldest first. */
const announcements = (ctx: Ctx, channel = 'posts'): APIMessage[] => botAnnouncements(ctx.discord, channel);
const complete = (ctx: Ctx, m: APIMessage, threadId = m.id): boolean => isCompleteAnnouncement(ctx.discord, m, threadId);

const run = (ctx: Ctx, user: string, name: string, inv: Parameters<DiscordEmulator['runCommand']>[3]) =>
  ctx.discord.runCommand(user, 'general', name, { timeout: 15_000, ...inv });

test('/feed add backfill:3 gives exactly 3 announcements, oldest first, each with its thread and the 5 reactions', async (ctx) => {
  const res = await run(ctx, 'alice', 'feed', { subcommand: 'add', options: { url: ctx.feeds.url('/rss'), channel: 'posts', backfill: 3 } });
  assert.ok(res.ephemeral);
  assert.match(res.content, /Now following \*\*The Test Blog\*\*/);
  assert.match(res.content, /3 are being published now/);
  await eventually(() => announcements(ctx).length === 3 && announcements(ctx).every((m) => complete(ctx, m)), {
    timeout: 15_000,
    message: '3 complete announcements',
  });
  assert.equal(
    announcements(ctx).map((m) => m.embeds[0]!.title),
    ['Post number 2', 'Post number 3', 'Post number 4'],
  );
  for (const m of announcements(ctx)) {
    assert.is(ctx.discord.thread(m.id).name, m.embeds[0]!.title);
    assert.is(ctx.discord.reactions(m.id).size, 5);
  }
});

test('a new item gives exactly one more announcement; re-polls give none', async (ctx) => {
  ctx.feeds.items.unshift(feedItem(5, { title: 'Fifth @everyone **post**' }));
  await eventually(() => announcements(ctx).length === 4 && complete(ctx, announcements(ctx)[3]!), { timeout: 15_000, message: 'the 4th announcement' });
  const fifth = announcements(ctx)[3]!;
  assert.is(fifth.mention_everyone, false);
  assert.equal(fifth.mentions, []);
  // Several more polls (1 s apart) answer 304 and change nothing.
  const polls = ctx.feeds.requests.filter((r) => r.path === '/rss').length;
  await eventually(() => ctx.feeds.requests.filter((r) => r.path === '/rss').length >= polls + 3, { timeout: 10_000, message: 'three more polls' });
  assert.ok(
    ctx.feeds.requests.some((r) => r.path === '/rss' && r.status === 304 && r.ifNoneMatch),
    'conditional GETs answered 304',
  );
  assert.ok(
    ctx.feeds.requests.every((r) => /^blogcord\//.test(r.userAgent ?? '')),
    'the User-Agent names blogcord',
  );
  assert.is(announcements(ctx).length, 4);
});

test('an edited item edits its announcement and renames its thread; it is not reposted', async (ctx) => {
  const fifth = announcements(ctx)[3]!;
  ctx.feeds.items[0] = { ...ctx.feeds.items[0]!, title: 'Fifth post, edited', description: '<p>New text</p>' };
  await eventually(() => ctx.discord.message(fifth.id)?.embeds[0]?.title === 'Fifth post, edited', { timeout: 15_000, message: 'the edited announcement' });
  assert.match(ctx.discord.message(fifth.id)!.embeds[0]!.description ?? '', /New text/);
  await eventually(() => ctx.discord.thread(fifth.id).name === 'Fifth post, edited', { timeout: 5000, message: 'the renamed thread' });
  const edits = ctx.discord.requests.filter((r) => r.route === 'PATCH /channels/{channel_id}/messages/{message_id}' && r.params.message_id === fifth.id);
  assert.ok(edits.length >= 1);
  assert.ok(edits.every((r) => JSON.stringify((r.body as { allowed_mentions?: unknown }).allowed_mentions) === '{"parse":[]}'));
  assert.is(announcements(ctx).length, 4, 'never reposted');
});

test('a 429 and 5xx errors while publishing still give exactly one complete announcement', async (ctx) => {
  ctx.discord.failNext('POST /channels/{channel_id}/messages', { status: 429, retryAfter: 0.5 });
  // More 500s than the REST client retries: the publish job itself is retried and continues after the announcement.
  ctx.discord.failNext('POST /channels/{channel_id}/messages/{message_id}/threads', { status: 500, times: 5 });
  ctx.feeds.items.unshift(feedItem(6));
  await eventually(() => announcements(ctx).length === 5 && complete(ctx, announcements(ctx)[4]!), { timeout: 25_000, message: 'the 5th announcement' });
  const creates = ctx.discord.requests.filter((r) => r.route === 'POST /channels/{channel_id}/messages' && (r.body as { nonce?: string })?.nonce);
  const sixth = creates.filter((r) => (r.body as { embeds?: Array<{ title?: string }> }).embeds?.[0]?.title === 'Post number 6');
  assert.ok(
    sixth.some((r) => r.status === 429),
    'the create met a 429',
  );
  assert.is(sixth.filter((r) => r.status === 200).length >= 1, true);
  assert.is(new Set(sixth.map((r) => (r.body as { nonce: string }).nonce)).size, 1, 'one nonce for every try');
  assert.ok(ctx.discord.requests.some((r) => r.route === 'POST /channels/{channel_id}/messages/{message_id}/threads' && r.status === 500));
  await new Promise((r) => setTimeout(r, 1500));
  assert.is(announcements(ctx).length, 5, 'exactly one announcement for the post');
});

test('a forum channel gets forum posts with the announcement as the starter message and the reactions on it', async (ctx) => {
  const res = await run(ctx, 'alice', 'feed', { subcommand: 'add', options: { url: ctx.feeds.url('/atom'), channel: 'forum', backfill: 2 } });
  assert.match(res.content, /Now following/);
  const forumId = ctx.discord.channel('forum').id;
  const created = () =>
    ctx.discord.requests.filter((r) => r.route === 'POST /channels/{channel_id}/threads' && r.params.channel_id === forumId && r.status < 300);
  await eventually(() => created().length === 2 && created().every((r) => complete(ctx, ctx.discord.message((r.response as { id: string }).id)!)), {
    timeout: 15_000,
    message: '2 complete forum posts',
  });
  const names = created().map((r) => ctx.discord.thread((r.response as { id: string }).id).name);
  assert.equal(names, ['Fifth post, edited', 'Post number 6']);
  for (const r of created()) {
    const starter = ctx.discord.message((r.response as { id: string }).id)!;
    assert.ok(starter.embeds[0]?.title, 'the starter message is the announcement');
  }
});

test('every message the bot sent in a channel had mentions disabled', async (ctx) => {
  const creates = ctx.discord.requests.filter((r) => r.route === 'POST /channels/{channel_id}/messages');
  const forum = ctx.discord.requests.filter((r) => r.route === 'POST /channels/{channel_id}/threads');
  assert.ok(creates.length >= 6 && forum.length >= 2);
  for (const r of creates) assert.equal((r.body as { allowed_mentions?: unknown }).allowed_mentions, { parse: [] });
  for (const r of forum) assert.equal((r.body as { message: { allowed_mentions?: unknown } }).message.allowed_mentions, { parse: [] });
  for (const r of creates) assert.is((r.body as { enforce_nonce?: boolean }).enforce_nonce, true);
});

test('bad feeds each get a clear ephemeral error and the bot keeps serving', async (ctx) => {
  const cases: Array<[string, RegExp]> = [
    ['/bad/malformed', /The feed is not valid/],
    ['/bad/entity-bomb', /declares its own XML entities/],
    ['/bad/huge', /larger than 5 MB/],
    ['/bad/html', /HTML page, not a feed\. Did you mean http:\/\/127\.0\.0\.1:\d+\/rss/],
    ['/bad/404', /answered HTTP 404/],
    ['/bad/hang', /took longer than 2 s/],
  ];
  for (const [path, pattern] of cases) {
    const res = await run(ctx, 'alice', 'feed', { subcommand: 'add', options: { url: ctx.feeds.url(path), channel: 'posts' } });
    assert.ok(res.ephemeral, path);
    assert.match(res.content, pattern, path);
  }
  const list = await run(ctx, 'alice', 'feed', { subcommand: 'list' });
  assert.match(list.embeds[0]!.title ?? '', /Feeds followed here \(2\)/, 'no bad feed was saved');
  const status = await run(ctx, 'bob', 'status', {});
  assert.ok(status.embeds.length === 1, '/status still answers');
  assert.is(ctx.bot.child.exitCode, null);
});

test('a member without Manage Server is refused and nothing changes', async (ctx) => {
  const requests = ctx.feeds.requests.filter((r) => r.path === '/other').length;
  const res = await run(ctx, 'bob', 'feed', { subcommand: 'add', options: { url: ctx.feeds.url('/other'), channel: 'posts', backfill: 3 }, force: true });
  assert.ok(res.ephemeral);
  assert.match(res.content, /Manage Server/);
  assert.is(ctx.feeds.requests.filter((r) => r.path === '/other').length, requests, 'the feed was not even fetched');
  const pub = await run(ctx, 'bob', 'publish', { options: { url: 'https://blog.example/posts/1' }, force: true });
  assert.match(pub.content, /Manage Server/);
  const list = await run(ctx, 'alice', 'feed', { subcommand: 'list' });
  assert.match(list.embeds[0]!.title ?? '', /\(2\)/);
});

test('/feed list shows state, last poll and counts; /publish publishes a skipped post; /feed remove stops polling', async (ctx) => {
  let list = await run(ctx, 'alice', 'feed', { subcommand: 'list' });
  const text = list.embeds[0]!.description ?? '';
  assert.match(text, new RegExp(`<${ctx.feeds.url('/rss').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}>`));
  assert.match(text, /Posts published: 5 · failed: 0/);
  assert.match(text, /Posts published: 2 · failed: 0/);
  assert.match(text, /✅ active · last poll <t:\d+:R>/);

  const before = announcements(ctx).length;
  const pub = await run(ctx, 'alice', 'publish', { options: { url: 'https://blog.example/posts/1' } });
  assert.match(pub.content, /^Published: https:\/\/discord\.com\/channels\/\d+\/\d+\/\d+$/);
  assert.is(announcements(ctx).length, before + 1);
  const again = await run(ctx, 'alice', 'publish', { options: { url: 'https://blog.example/posts/1' } });
  assert.match(again.content, /already published: https:\/\/discord\.com\/channels\//);
  const unknown = await run(ctx, 'alice', 'publish', { options: { url: 'https://elsewhere.example/post' } });
  assert.match(unknown.content, /not a post of any feed this server follows/);

  const choices = await ctx.discord.autocomplete('alice', 'general', 'feed', { subcommand: 'remove', focused: 'url', value: 'rss' });
  assert.equal(
    choices.map((c) => c.value),
    [ctx.feeds.url('/rss')],
  );
  const removed = await run(ctx, 'alice', 'feed', { subcommand: 'remove', options: { url: String(choices[0]!.value) } });
  assert.match(removed.content, /Stopped following/);
  await new Promise((r) => setTimeout(r, 500));
  const polls = ctx.feeds.requests.filter((r) => r.path === '/rss').length;
  await new Promise((r) => setTimeout(r, 2500));
  assert.is(ctx.feeds.requests.filter((r) => r.path === '/rss').length, polls, 'a removed feed is not polled');
  list = await run(ctx, 'alice', 'feed', { subcommand: 'list' });
  assert.match(list.embeds[0]!.title ?? '', /\(1\)/);
  const bad = await run(ctx, 'alice', 'feed', { subcommand: 'remove', options: { url: ctx.feeds.url('/rss') } });
  assert.match(bad.content, /does not follow/);
});

test('a post left half-published when the process dies (and Redis lost its job) is finished after a restart, once', async (ctx) => {
  const res = await run(ctx, 'alice', 'feed', { subcommand: 'add', options: { url: ctx.feeds.url('/rss'), channel: 'posts' } });
  assert.match(res.content, /Resumed/);
  const before = announcements(ctx).length;
  ctx.discord.failNext('POST /channels/{channel_id}/messages/{message_id}/threads', { status: 500, times: 1000 });
  ctx.feeds.items.unshift(feedItem(8, { date: new Date().toISOString() }));
  await eventually(() => announcements(ctx).length === before + 1, { timeout: 10_000, message: 'the announcement' });
  await ctx.discord.waitForRequest((r) => r.route === 'POST /channels/{channel_id}/messages/{message_id}/threads' && r.status === 500, { timeout: 10_000 });
  await ctx.bot.kill();
  ctx.discord.rest.failures.length = 0;
  // A new queue prefix: the restarted process finds no job in Redis, only the post's state in the database.
  ctx.bot = await startE2eBot(ctx, { env: botEnv });
  await ctx.bot.waitForOutput(/queued unfinished posts again/);
  const last = () => announcements(ctx)[before]!;
  await eventually(() => complete(ctx, last()), { timeout: 15_000, message: 'the finished post' });
  assert.is(last().embeds[0]!.title, 'Post number 8');
  await new Promise((r) => setTimeout(r, 1500));
  assert.is(announcements(ctx).length, before + 1, 'not announced twice');
});

test('a post that cannot be published is kept as failed with its reason, shown in /feed list, and /publish retries it', async (ctx) => {
  const SEND_MESSAGES = 1n << 11n;
  const guild = ctx.discord.guild('blog');
  // Neither the bot's role nor @everyone may send messages any more.
  await ctx.discord.setBotPermissions('blog', DEFAULT_BOT_PERMISSIONS & ~SEND_MESSAGES);
  await ctx.discord.actions.setRolePermissions(guild.id, guild.everyoneRoleId, DEFAULT_EVERYONE_PERMISSIONS & ~SEND_MESSAGES);
  const before = announcements(ctx).length;
  ctx.feeds.items.unshift(feedItem(9, { date: new Date().toISOString() }));
  await ctx.discord.waitForRequest((r) => r.route === 'POST /channels/{channel_id}/messages' && r.status === 403, { timeout: 10_000 });
  const list = await eventually(
    async () => {
      const l = await run(ctx, 'alice', 'feed', { subcommand: 'list' });
      return /❌ Post number 9: announcing: .*Missing Permissions/.test(l.embeds[0]?.description ?? '') ? l : null;
    },
    { timeout: 10_000, interval: 500, message: 'the failed post in /feed list' },
  );
  assert.match(list!.embeds[0]!.description ?? '', /failed: 1/);
  assert.is(announcements(ctx).length, before);
  await ctx.discord.setBotPermissions('blog', DEFAULT_BOT_PERMISSIONS);
  await ctx.discord.actions.setRolePermissions(guild.id, guild.everyoneRoleId, DEFAULT_EVERYONE_PERMISSIONS);
  const pub = await run(ctx, 'alice', 'publish', { options: { url: 'https://blog.example/posts/9' } });
  // The RSS and the Atom feed both carry post 9 (one announces in #posts, one in the forum): one copy is published.
  const link = /^Published: https:\/\/discord\.com\/channels\/\d+\/(\d+)(?:\/(\d+))?$/.exec(pub.content);
  assert.ok(link, pub.content);
  const message = ctx.discord.message(link![2] ?? link![1]!)!;
  assert.is(message.embeds[0]?.title, 'Post number 9');
  assert.ok(complete(ctx, message), 'with its thread and reactions');
  const again = await run(ctx, 'alice', 'feed', { subcommand: 'list' });
  assert.match(again.embeds[0]!.description ?? '', /✅ active/);
});

test.run();
