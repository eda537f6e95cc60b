// Issue 19 "Done means", end to end: the real bot process (`blogcord start`, with its HTTP API under PUBLIC_URL)
// against the Discord emulator and the local WebSub hub, on SQLite and PostgreSQL. Polling is slow (600 s) and the
// feed server never changes, so whatever is announced came by push.
import type { APIMessage } from 'discord-api-types/v10';
import * as assert from 'uvu/assert';
import { eventually } from '../support/assert.ts';
import type { BotProcess } from '../support/bot.ts';
import { DIALECTS } from '../support/db.ts';
import { botAnnouncements, e2eSuite, isCompleteAnnouncement, startE2eBot, type E2eContext } from '../support/e2e.ts';
import { feedItem, rss, startFeedServer, type FeedServer } from '../support/feed-server.ts';
import { freePort } from '../support/services.ts';
import { startWebSubHub, type WebSubHub } from '../support/websub-hub.ts';

interface Ctx extends E2eContext {
  feeds: FeedServer;
  hub: WebSubHub;
  bot: BotProcess;
}

for (const dialect of DIALECTS) {
  const test = e2eSuite<Ctx>(`Push, end to end, on ${dialect}`, {
    dialect,
    emulator: {
      guilds: [{ name: 'blog', channels: [{ name: 'posts' }, { name: 'general' }] }],
      users: [{ username: 'alice', manageGuild: true }],
    },
    commands: true,
  });

  test.before(async (ctx) => {
    try {
      await setUp(ctx);
    } catch (err) {
      console.error('push e2e setup failed:', err);
      throw err;
    }
  });
  async function setUp(ctx: Ctx) {
    ctx.feeds = await startFeedServer({ items: [1, 2].map((n) => feedItem(n)).reverse() });
    ctx.hub = await startWebSubHub({ maxLeaseSeconds: 3600 });
    ctx.feeds.hub = ctx.hub.url;
    const port = await freePort();
    ctx.bot = await startE2eBot(ctx, {
      readyTimeoutMs: 180_000,
      env: { FEED_POLL_INTERVAL_SECONDS: '600', FEED_TIMEOUT_SECONDS: '2', HTTP_PORT: String(port), PUBLIC_URL: `http://127.0.0.1:${port}` },
    });
    await ctx.discord.waitForReady();
  }

  test.after(async (ctx) => {
    await ctx.hub?.close();
    await ctx.feeds?.close();
  });

  const announcements = (ctx: Ctx): APIMessage[] => botAnnouncements(ctx.discord, 'posts');
  const complete = (ctx: Ctx, m: APIMessage) => isCompleteAnnouncement(ctx.discord, m);
  const topic = (ctx: Ctx) => ctx.feeds.url('/rss');

  test('/feed add subscribes at the hub; the hub verifies; a published item arrives as one complete announcement', async (ctx) => {
    const res = await ctx.discord.runCommand('alice', 'general', 'feed', {
      subcommand: 'add',
      options: { url: topic(ctx), channel: 'posts' },
      timeout: 15_000,
    });
    assert.match(res.content, /Now following/);
    await ctx.hub.waitFor((log) => log.some((e) => e.kind === 'verified' && e.mode === 'subscribe'), 15_000);
    assert.is(announcements(ctx).length, 0);
    const started = Date.now();
    assert.equal(await ctx.hub.publish(topic(ctx), rss('The Test Blog', [feedItem(3)])), [202]);
    await eventually(() => announcements(ctx).length === 1 && complete(ctx, announcements(ctx)[0]!), { timeout: 15_000, message: 'the pushed announcement' });
    assert.is(announcements(ctx)[0]!.embeds[0]!.title, 'Post number 3');
    assert.ok(Date.now() - started < 10_000);
  });

  test('a replayed delivery posts nothing twice; a badly signed one does nothing', async (ctx) => {
    assert.equal(await ctx.hub.publish(topic(ctx), rss('The Test Blog', [feedItem(3)])), [202]);
    assert.equal(await ctx.hub.publish(topic(ctx), rss('The Test Blog', [feedItem(3)]), { signWith: 'sha512' }), [202]);
    assert.equal(await ctx.hub.publish(topic(ctx), rss('The Test Blog', [feedItem(4)]), { signWith: 'wrong' }), [202]);
    await ctx.bot.waitForOutput(/websub delivery dropped/, 10_000);
    await new Promise((r) => setTimeout(r, 1500));
    assert.is(announcements(ctx).length, 1);
    assert.ok(!ctx.bot.output().includes('Post number 4'), 'the dropped body is never logged');
  });

  test('/feed remove unsubscribes at the hub', async (ctx) => {
    const res = await ctx.discord.runCommand('alice', 'general', 'feed', { subcommand: 'remove', options: { url: topic(ctx) }, timeout: 15_000 });
    assert.ok(res.content.length > 0);
    await ctx.hub.waitFor((log) => log.some((e) => e.kind === 'verified' && e.mode === 'unsubscribe'), 15_000);
    assert.is(ctx.hub.subscriptions.length, 0);
  });

  test.run();
}
