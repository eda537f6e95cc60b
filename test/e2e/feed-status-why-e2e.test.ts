/**
 * /feed status, /feed why and /feed add identity:True end to end (issue 18, part B): the real bot process against the
 * Discord emulator and a local feed server, on SQLite (a file) and PostgreSQL. Status shows the last poll (outcome,
 * HTTP status, duration, items seen), the next poll, the push placeholder, failures and the last error, the posts by
 * state (published, known before the feed was added, held by the flood guard, failed) within 2000 characters; why tells
 * every story (announced with its link, known when added, held by the flood guard, failed with reason and attempts, a
 * link never seen with the closest posts by link and title) by URL and by the title autocomplete; identity posts as
 * the blog through a webhook, with thread and reactions.
 * Run alone: npx tsx test/feed-status-why-e2e.test.ts
 */
import { PermissionFlagsBits as P, type APIMessage } from 'discord-api-types/v10';
import * as assert from 'uvu/assert';
import { eventually } from '../support/assert.ts';
import type { BotProcess } from '../support/bot.ts';
import { DIALECTS } from '../support/db.ts';
import { e2eSuite, isCompleteAnnouncement, startE2eBot, type E2eContext } from '../support/e2e.ts';
import { DEFAULT_BOT_PERMISSIONS, DEFAULT_EVERYONE_PERMISSIONS } from '../../emulator/index.ts';
import { feedItem, startFeedServer, type FeedServer } from '../support/feed-server.ts';

interface Ctx extends E2eContext {
  feeds: FeedServer;
  other: FeedServer;
  bot: BotProcess;
}

const PERMS = DEFAULT_BOT_PERMISSIONS | P.ManageWebhooks;

for (const dialect of DIALECTS) {
  const e2e = e2eSuite<Ctx>(`/feed status, /feed why and identity through the emulator with the real bot (${dialect})`, {
    dialect,
    emulator: {
      guilds: [{ name: 'blog', channels: [{ name: 'posts' }, { name: 'other' }, { name: 'general' }], botPermissions: PERMS }],
      users: [{ username: 'alice', manageGuild: true }],
    },
    commands: true,
  });

  e2e.before(async (ctx) => {
    ctx.feeds = await startFeedServer({ items: [1, 2, 3, 4].map((n) => feedItem(n)).reverse() });
    ctx.other = await startFeedServer({
      title: 'Other Blog',
      items: [1, 2].map((n) => feedItem(n, { id: `urn:other:${n}`, title: `Other post ${n}`, link: `https://other.example/posts/${n}` })).reverse(),
    });
    ctx.bot = await startE2eBot(ctx, { env: { FEED_POLL_INTERVAL_SECONDS: '1', FEED_TIMEOUT_SECONDS: '2', ANNOUNCEMENT_REFRESH_MS: '200' } });
    await ctx.discord.waitForReady({ timeout: 15_000 });
  });

  e2e.after(async (ctx) => {
    await ctx.feeds?.close();
    await ctx.other?.close();
  });

  const run = (ctx: Ctx, sub: string, options: Record<string, string | number | boolean>) =>
    ctx.discord.runCommand('alice', 'general', 'feed', { subcommand: sub, options, timeout: 15_000 });
  const status = async (ctx: Ctx, url = ctx.feeds.url('/rss')) => {
    const res = await run(ctx, 'status', { feed: url });
    assert.ok(res.ephemeral);
    assert.ok(res.content.length <= 2000, `${res.content.length} characters`);
    return res.content;
  };
  const why = async (ctx: Ctx, post: string) => {
    const res = await run(ctx, 'why', { post });
    assert.ok(res.ephemeral);
    assert.ok(res.content.length <= 2000);
    return res.content;
  };
  const complete = (ctx: Ctx, m: APIMessage) => isCompleteAnnouncement(ctx.discord, m);

  e2e('status after /feed add backfill:1: last poll, next poll, push placeholder, published and known-before-added counts', async (ctx) => {
    const add = await run(ctx, 'add', { url: ctx.feeds.url('/rss'), channel: 'posts', backfill: 1 });
    assert.match(add.content, /Now following/);
    await eventually(() => ctx.discord.messages('posts').length === 1 && complete(ctx, ctx.discord.messages('posts')[0]!), {
      timeout: 15_000,
      message: 'the backfilled announcement',
    });
    const text = await eventually(
      async () => {
        const t = await status(ctx);
        return /published: 1/.test(t) ? t : null;
      },
      { timeout: 10_000, message: 'status with the published post' },
    );
    assert.match(text!, /\*\*The Test Blog\*\*/);
    assert.match(text!, /Last poll: <t:\d+:R> \(<t:\d+:f>\) · ✅ (ok · HTTP 200 · \d+ ms · 4 items seen|not modified · HTTP 304 · \d+ ms)/);
    assert.match(text!, /Next poll: <t:\d+:R>/);
    assert.match(text!, /Push: off — PUBLIC_URL is not set/);
    assert.match(text!, /No failed poll since the last success/);
    assert.match(text!, /known before the feed was added: 3/);
    assert.match(text!, /Channel: <#\d+> · ✅ active/);
    assert.match(text!, /Identity: the bot’s own/);
    const unknown = await run(ctx, 'status', { feed: 'https://nowhere.example/feed' });
    assert.match(unknown.content, /does not follow https:\/\/nowhere\.example\/feed/);
  });

  e2e('a flood held back and a failing feed show in status; failed polls give the HTTP status and the last error', async (ctx) => {
    ctx.feeds.items.unshift(...Array.from({ length: 12 }, (_, i) => feedItem(16 - i)));
    await eventually(async () => /held by the flood guard: 12/.test(await status(ctx)), { timeout: 15_000, message: 'the flood in status' });
    ctx.feeds.failWith = 500;
    const failing = await eventually(
      async () => {
        const t = await status(ctx);
        return /❌ failed · HTTP 500/.test(t) ? t : null;
      },
      { timeout: 15_000, message: 'a failed poll in status' },
    );
    ctx.feeds.failWith = null;
    assert.match(failing!, /\d+ failed polls? in a row/);
    assert.match(failing!, /Last error: .*500/);
    assert.match(failing!, /Next poll: <t:\d+:R> \(backing off after \d+ failed polls?\)/);
    await eventually(async () => /No failed poll since the last success/.test(await status(ctx)), { timeout: 20_000, message: 'the feed recovered' });
  });

  e2e('why: announced with its link, known when added, held by the flood guard, failed with reason and attempts', async (ctx) => {
    const published = await why(ctx, 'https://blog.example/posts/4/?utm_source=rss');
    assert.match(published, /\*\*Post number 4\*\*/);
    assert.match(published, /First seen <t:\d+:f>/);
    assert.match(published, /Announced <t:\d+:f> · https:\/\/discord\.com\/channels\/\d+\/\d+\/\d+/);
    const added = await why(ctx, 'https://blog.example/posts/2');
    assert.match(added, /Known when the feed was added/);
    assert.match(added, /`\/publish url:https:\/\/blog\.example\/posts\/2` announces it now/);
    const held = await why(ctx, 'https://blog.example/posts/10');
    assert.match(held, /Held by the flood guard on <t:\d+:f>/);

    // A post that fails for good: neither the bot's role nor @everyone may send messages in the channel.
    const guild = ctx.discord.guild('blog');
    await ctx.discord.setBotPermissions('blog', PERMS & ~P.SendMessages);
    await ctx.discord.actions.setRolePermissions(guild.id, guild.everyoneRoleId, DEFAULT_EVERYONE_PERMISSIONS & ~P.SendMessages);
    let last = '';
    try {
      ctx.feeds.items.unshift(feedItem(17));
      await eventually(async () => /failed: 1/.test((last = await status(ctx))), { timeout: 20_000, message: 'the failed post in status' }).catch(
        (e: Error) => {
          throw new Error(`${e.message}\n${last}`);
        },
      );
    } finally {
      await ctx.discord.setBotPermissions('blog', PERMS);
      await ctx.discord.actions.setRolePermissions(guild.id, guild.everyoneRoleId, DEFAULT_EVERYONE_PERMISSIONS);
    }
    const failed = await why(ctx, 'https://blog.example/posts/17');
    assert.match(failed, /Failed: announcing: blogcord lacks a permission .*\(1 attempt\)/);
    assert.match(failed, /What to do: fix the cause, then `\/publish url:https:\/\/blog\.example\/posts\/17` tries again/);
    assert.match(await status(ctx), /❌ Post number 17: announcing: blogcord lacks a permission/);
  });

  e2e('why: a link never seen gets the closest posts by link and title; the autocomplete finds posts by title', async (ctx) => {
    const unknown = await why(ctx, 'https://blog.example/posts/number-4-draft');
    assert.match(unknown, /is not a post of any feed this server follows/);
    assert.match(unknown, /The closest posts blogcord knows:\n• \*\*Post number 4\*\*/, unknown);
    assert.match(unknown, /`\/publish url:`/);
    const nothing = await why(ctx, 'https://elsewhere.example/zzz');
    assert.match(nothing, /No post blogcord knows comes close to it/);
    const choices = await ctx.discord.autocomplete('alice', 'general', 'feed', { subcommand: 'why', focused: 'post', value: 'number 1' });
    const names = choices.map((c) => c.name);
    assert.ok(
      names.some((n) => /^Post number 1 \(known\)$/.test(n)),
      names.join(', '),
    );
    assert.ok(names.some((n) => /^Post number 1[0-6] \(known\)$/.test(n)));
    const story = await why(ctx, String(choices.find((c) => c.name === 'Post number 1 (known)')!.value));
    assert.match(story, /\*\*Post number 1\*\*/);
    assert.match(story, /Known when the feed was added/);
  });

  e2e('/feed add identity:True posts as the blog through a channel webhook, with thread and reactions; status says so', async (ctx) => {
    const add = await run(ctx, 'add', { url: ctx.other.url('/rss'), channel: 'other', backfill: 1, identity: true });
    assert.match(add.content, /Identity: posts go out as \*\*Other Blog\*\*, through a webhook of <#\d+>/);
    await eventually(() => ctx.discord.messages('other').length === 1 && complete(ctx, ctx.discord.messages('other')[0]!), {
      timeout: 15_000,
      message: 'the announcement through the webhook',
    });
    const [m] = ctx.discord.messages('other');
    assert.ok(m!.webhook_id);
    assert.is(m!.author.username, 'Other Blog');
    assert.is(ctx.discord.webhooks('other').length, 1);
    const text = await status(ctx, ctx.other.url('/rss'));
    assert.match(text, /Identity: the blog’s \(a channel webhook named after it\)/);
    assert.not.ok(text.includes(ctx.discord.webhookToken(m!.webhook_id!)));
    const story = await why(ctx, 'https://other.example/posts/2');
    assert.match(story, /Announced <t:\d+:f> · https:\/\/discord\.com\/channels\//);
  });

  e2e.run();
}
