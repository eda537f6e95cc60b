// Issue 18, end to end: /feed add and /feed edit options (ping, template, filters, forum tags) and /feed preview with
// its Post it button, through the real bot (`blogcord start`) and the local Discord emulator, on SQLite and PostgreSQL.
import type { APIMessage } from 'discord-api-types/v10';
import * as assert from 'uvu/assert';
import { feedId, getFeed } from '../../src/repositories/feeds.ts';
import { listFeedPosts, type Post } from '../../src/repositories/posts.ts';
import { KEYCAPS } from '../../src/domain/rating.ts';
import { eventually } from '../support/assert.ts';
import type { BotProcess } from '../support/bot.ts';
import { DIALECTS } from '../support/db.ts';
import { botAnnouncements, e2eSuite, startE2eBot, type E2eContext } from '../support/e2e.ts';
import { feedItem, startFeedServer, type FeedServer } from '../support/feed-server.ts';

interface Ctx extends E2eContext {
  feeds: FeedServer;
  bot: BotProcess;
  readers: string;
}

for (const dialect of DIALECTS) {
  const e2e = e2eSuite<Ctx>(`feed options through the emulator with the real bot (${dialect})`, {
    dialect,
    emulator: {
      guilds: [
        {
          name: 'blog',
          channels: [{ name: 'posts' }, { name: 'forum', type: 'forum', tags: ['News', 'Cafe'], requireTag: true }, { name: 'general' }],
          roles: [{ name: 'Readers', mentionable: true }, { name: 'Secret' }],
        },
      ],
      users: [{ username: 'alice', manageGuild: true }, { username: 'carol', manageGuild: true }, { username: 'bob' }],
    },
    commands: true,
  });

  e2e.before(async (ctx) => {
    ctx.feeds = await startFeedServer({ items: [1, 2].map((n) => feedItem(n, { categories: ['News'] })).reverse() });
    ctx.readers = ctx.discord.role('blog', 'Readers').id;
    ctx.bot = await startE2eBot(ctx, { env: { FEED_POLL_INTERVAL_SECONDS: '1', FEED_TIMEOUT_SECONDS: '2', ANNOUNCEMENT_REFRESH_MS: '200' } });
    await ctx.discord.waitForReady({ timeout: 15_000 });
  });

  e2e.after(async (ctx) => {
    await ctx.feeds?.close();
  });

  const run = (ctx: Ctx, name: string, subcommand: string, options: Record<string, string | number | boolean>, user = 'alice') =>
    ctx.discord.runCommand(user, 'general', name, { subcommand, options, timeout: 20_000 });
  const bot = (ctx: Ctx) => ctx.discord.botUser.id;
  const announcements = (ctx: Ctx): APIMessage[] => botAnnouncements(ctx.discord, 'posts');
  const titled = (ctx: Ctx, title: string) => announcements(ctx).find((m) => m.embeds[0]?.title === title);
  const posts = async (ctx: Ctx): Promise<Post[]> => listFeedPosts(ctx.t.db, feedId(ctx.guildId, ctx.feeds.url('/rss')), 100);
  const postTitled = async (ctx: Ctx, title: string) => (await posts(ctx)).find((p) => p.title === title);

  e2e('a ping role blogcord may not mention is refused at add with the reason, and nothing is saved', async (ctx) => {
    const res = await run(ctx, 'feed', 'add', { url: ctx.feeds.url('/rss'), channel: 'posts', ping: 'Secret' });
    assert.ok(res.ephemeral);
    assert.match(res.content, /may not mention the role \*\*Secret\*\*: it is not mentionable and blogcord lacks the Mention Everyone permission/);
    assert.is(await getFeed(ctx.t.db, feedId(ctx.guildId, ctx.feeds.url('/rss'))), null);
    const bad = await run(ctx, 'feed', 'add', { url: ctx.feeds.url('/rss'), channel: 'posts', template: 'New {titel}' });
    assert.match(bad.content, /Unknown placeholder `\{titel\}`/);
  });

  e2e('add with ping, template and exclude: a new post pings only the role, a filtered one is skipped with its rule', async (ctx) => {
    const res = await run(ctx, 'feed', 'add', {
      url: ctx.feeds.url('/rss'),
      channel: 'posts',
      ping: 'Readers',
      template: '{ping} New on {feed}: **{title}** @everyone',
      exclude: 'title:draft',
    });
    assert.match(res.content, /Now following/);
    assert.match(res.content, /Ping: <@&\d+> · Template: `\{ping\} New on \{feed\}/);
    assert.match(res.content, /Exclude: `title:draft`/);
    ctx.feeds.items = [feedItem(4, { title: 'A draft we shipped' }), feedItem(3, { categories: ['News'] }), ...ctx.feeds.items];
    const m = (await eventually(() => titled(ctx, 'Post number 3'), { timeout: 20_000, message: 'post 3 announced' }))!;
    assert.is(m.content, `<@&${ctx.readers}> New on The Test Blog: **Post number 3** @\u200beveryone`);
    assert.equal(m.mention_roles, [ctx.readers], 'the role is pinged');
    assert.is(m.mention_everyone, false, '@everyone never pings');
    await eventually(async () => (await postTitled(ctx, 'A draft we shipped'))?.publishState === 'skipped', { timeout: 10_000, message: 'the draft skipped' });
    const skipped = (await postTitled(ctx, 'A draft we shipped'))!;
    assert.is(skipped.skipReason, 'exclude: title:draft');
    assert.not.ok(titled(ctx, 'A draft we shipped'), 'never announced');
    const create = ctx.discord.requests.find(
      (r) => r.method === 'POST' && r.path.endsWith('/messages') && (r.body as { content?: string })?.content === m.content,
    );
    assert.equal((create?.body as { allowed_mentions?: unknown }).allowed_mentions, { parse: [], roles: [ctx.readers] });
    const list = await run(ctx, 'feed', 'list', {});
    assert.match(list.embeds[0]!.description!, /skipped by filter: 1/);
  });

  e2e('edits of the announcement keep its content and never ping again', async (ctx) => {
    const m = titled(ctx, 'Post number 3')!;
    await eventually(() => KEYCAPS.every((e) => ctx.discord.reactions(m.id).get(e)?.includes(bot(ctx))), { timeout: 10_000, message: 'published' });
    await ctx.discord.react('bob', m, '4️⃣');
    const edited = (await eventually(() => (ctx.discord.message(m.id)?.embeds[0]?.fields?.[0]?.value.includes('4') ? ctx.discord.message(m.id) : undefined), {
      timeout: 10_000,
      message: 'the rating edit',
    }))!;
    assert.is(edited.content, m.content, 'content kept');
    assert.equal(edited.mention_roles, [], 'the edit pings no one');
    const patch = ctx.discord.requests.filter((r) => r.method === 'PATCH' && r.path.endsWith(`/messages/${m.id}`));
    assert.ok(patch.length > 0);
    for (const r of patch) assert.equal((r.body as { allowed_mentions?: unknown }).allowed_mentions, { parse: [] });
  });

  e2e('/feed edit changes options in place: nothing reposted, a bad template refused, the ping cleared', async (ctx) => {
    const before = announcements(ctx).length;
    const bad = await run(ctx, 'feed', 'edit', { feed: ctx.feeds.url('/rss'), template: '{title} {nope}' });
    assert.match(bad.content, /The template is not valid: Unknown placeholder `\{nope\}`/);
    const res = await run(ctx, 'feed', 'edit', { feed: ctx.feeds.url('/rss'), 'clear-ping': true, template: '{title} by {author}', include: 'category:news' });
    assert.match(res.content, /Changed ping, template, include of \*\*The Test Blog\*\*/);
    assert.match(res.content, /Nothing was reposted/);
    const feed = (await getFeed(ctx.t.db, feedId(ctx.guildId, ctx.feeds.url('/rss'))))!;
    assert.equal(feed.options, { pingRoleId: null, template: '{title} by {author}', include: 'category:news', exclude: 'title:draft', forumTags: false });
    await new Promise((r) => setTimeout(r, 2500));
    assert.is(announcements(ctx).length, before, 'changing options posts nothing old');
    ctx.feeds.items = [feedItem(6, { title: 'Off topic' }), feedItem(5, { categories: ['news'] }), ...ctx.feeds.items];
    const m = (await eventually(() => titled(ctx, 'Post number 5'), { timeout: 20_000, message: 'post 5 announced' }))!;
    assert.is(m.content, 'Post number 5 by Rink');
    assert.equal(m.mention_roles, []);
    await eventually(async () => (await postTitled(ctx, 'Off topic'))?.skipReason === 'include: none of category:news', {
      timeout: 10_000,
      message: 'off topic skipped',
    });
  });

  e2e('/feed preview shows a skipped post as it would be posted; Post it publishes it exactly once, whoever presses', async (ctx) => {
    const draft = (await postTitled(ctx, 'A draft we shipped'))!;
    const choices = await ctx.discord.autocomplete('alice', 'general', 'feed', {
      subcommand: 'preview',
      focused: 'item',
      value: 'draft',
      options: { feed: ctx.feeds.url('/rss') },
    });
    assert.equal(
      choices.map((c) => c.value),
      [draft.id],
    );
    const a = await run(ctx, 'feed', 'preview', { feed: ctx.feeds.url('/rss'), item: draft.id });
    const c = await run(ctx, 'feed', 'preview', { feed: ctx.feeds.url('/rss'), item: draft.id }, 'carol');
    assert.ok(a.ephemeral);
    assert.is(a.content, 'A draft we shipped by Rink', 'the template line, as it would be posted');
    assert.is(a.embeds[0]!.title, 'A draft we shipped');
    assert.match(a.embeds[1]!.description!, /A filter skipped it \(exclude: title:draft\)/);
    const presses = await Promise.all([
      ctx.discord.pressButton('alice', a.message!, `feed:post:${draft.id}`),
      ctx.discord.pressButton('alice', a.message!, `feed:post:${draft.id}`),
      ctx.discord.pressButton('carol', c.message!, `feed:post:${draft.id}`),
    ]);
    const said = presses.map((p) => p.content);
    // Alice's two presses edit the same preview message, so its last edit is what shows; someone was told it was already on its way.
    assert.ok(
      said.some((s) => /already on its way|already published/.test(s)),
      said.join(' | '),
    );
    await eventually(() => titled(ctx, 'A draft we shipped'), { timeout: 15_000, message: 'the draft announced' });
    await new Promise((r) => setTimeout(r, 1500));
    assert.is(announcements(ctx).filter((m) => m.embeds[0]?.title === 'A draft we shipped').length, 1, 'exactly one announcement');
    const cancel = await run(ctx, 'feed', 'preview', { feed: ctx.feeds.url('/rss') });
    const cancelled = await ctx.discord.pressButton('alice', cancel.message!, 'feed:cancel');
    assert.match(cancelled.content, /Cancelled: nothing was posted/);
  });

  e2e('forum tags: categories become the forum’s tags; a forum requiring a tag fails a post without one, with the reason in /feed list', async (ctx) => {
    const res = await run(ctx, 'feed', 'edit', { feed: ctx.feeds.url('/rss'), channel: 'forum', tags: true, include: 'none', template: 'none' });
    assert.match(res.content, /Changed channel, template, include, tags/);
    assert.match(res.content, /The forum requires a tag/);
    const forum = ctx.discord.channel('forum') as { available_tags: Array<{ id: string; name: string }> };
    const cafe = forum.available_tags.find((t) => t.name === 'Cafe')!.id;
    const news = forum.available_tags.find((t) => t.name === 'News')!.id;
    ctx.feeds.items = [feedItem(8, { categories: ['Elsewhere'] }), feedItem(7, { categories: ['CAFÉ', 'unknown', 'news'] }), ...ctx.feeds.items];
    const p7 = await eventually(async () => ((await postTitled(ctx, 'Post number 7'))?.threadId ? postTitled(ctx, 'Post number 7') : undefined), {
      timeout: 20_000,
      message: 'post 7 in the forum',
    });
    assert.equal((ctx.discord.channel(p7!.threadId!) as { applied_tags?: string[] }).applied_tags, [cafe, news]);
    const p8 = await eventually(
      async () => ((await postTitled(ctx, 'Post number 8'))?.publishState === 'failed' ? postTitled(ctx, 'Post number 8') : undefined),
      {
        timeout: 20_000,
        message: 'post 8 failed',
      },
    );
    assert.match(p8!.failureReason!, /requires a tag, and none of the post's categories \(Elsewhere\)/);
    const list = await run(ctx, 'feed', 'list', {});
    assert.match(list.embeds[0]!.description!, /❌ Post number 8: announcing: the forum requires a tag/);
  });

  e2e.run();
}
