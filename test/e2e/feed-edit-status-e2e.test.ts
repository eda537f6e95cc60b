/**
 * `/feed edit identity:` and `rotate-hook:`, the push and publish hook lines of `/feed status`, and the Mention
 * Everyone check of a ping in the feed's own channel, end to end (issue 15 review): the real bot (`blogcord start`, its
 * HTTP API under PUBLIC_URL) against the Discord emulator and a local feed server, on SQLite (a file) and PostgreSQL.
 * The failure paths (bad option values, a member without Manage Server, an unknown feed) are answered with the reason
 * and change nothing: the feed's row and its hook token are the same afterwards.
 * Run alone: npx tsx test/feed-edit-status-e2e.test.ts
 */
import { PermissionFlagsBits as P } from 'discord-api-types/v10';
import * as assert from 'uvu/assert';
import { DEFAULT_BOT_PERMISSIONS } from '../../emulator/index.ts';
import { feedId } from '../../src/repositories/feeds.ts';
import { eventually } from '../support/assert.ts';
import type { BotProcess } from '../support/bot.ts';
import { DIALECTS } from '../support/db.ts';
import { e2eSuite, startE2eBot, type E2eContext } from '../support/e2e.ts';
import { feedItem, startFeedServer, type FeedServer } from '../support/feed-server.ts';
import { freePort } from '../support/services.ts';

interface Extra {
  feeds: FeedServer;
  bot: BotProcess;
  publicUrl: string;
}
type Ctx = E2eContext & Extra;

// Manage Webhooks for identity; no Mention Everyone at the server level (the channels below grant it, or not).
const PERMS = DEFAULT_BOT_PERMISSIONS | P.ManageWebhooks;
const HOOK = /Publish hook: `POST (http:\/\/127\.0\.0\.1:\d+\/hooks\/feeds\/[A-Za-z0-9_-]+)`/;

for (const dialect of DIALECTS) {
  const e2e = e2eSuite<Extra>(`/feed edit identity and rotate-hook, /feed status push and hook, the ping's channel (${dialect})`, {
    dialect,
    commands: true,
    emulator: {
      guilds: [
        {
          name: 'blog',
          channels: [
            { name: 'posts' },
            // The bot may mention every role in #announce and in #general (where the admins type), not in #posts.
            { name: 'announce', overwrites: [{ role: 'bot', allow: P.MentionEveryone }] },
            { name: 'general', overwrites: [{ role: 'bot', allow: P.MentionEveryone }] },
          ],
          roles: [{ name: 'Readers', mentionable: true }, { name: 'Secret' }],
          botPermissions: PERMS,
        },
      ],
      users: [{ username: 'alice', manageGuild: true }, { username: 'bob' }],
    },
  });

  e2e.before(async (ctx) => {
    ctx.feeds = await startFeedServer({ items: [1, 2].map((n) => feedItem(n)).reverse() });
    const port = await freePort();
    ctx.publicUrl = `http://127.0.0.1:${port}`;
    ctx.bot = await startE2eBot(ctx, {
      env: { HTTP_PORT: String(port), PUBLIC_URL: ctx.publicUrl, FEED_POLL_INTERVAL_SECONDS: '600', FEED_TIMEOUT_SECONDS: '3' },
    });
    await ctx.discord.waitForReady({ timeout: 15_000 });
  });

  e2e.after(async (ctx) => {
    await ctx.feeds?.close();
  });

  const run = async (ctx: Ctx, sub: string, options: Record<string, string | number | boolean>, { user = 'alice', channel = 'general' } = {}) => {
    const res = await ctx.discord.runCommand(user, channel, 'feed', { subcommand: sub, options, timeout: 20_000, force: user !== 'alice' });
    assert.ok(res.ephemeral, 'only the admin sees it');
    assert.ok(res.content.length <= 2000, `${res.content.length} characters`);
    return res.content;
  };
  const rssUrl = (ctx: Ctx) => ctx.feeds.url('/rss');
  const rssId = (ctx: Ctx) => feedId(ctx.guildId, rssUrl(ctx));
  /** What a failed command must leave alone: the feed's row and its hook. */
  const snapshot = async (ctx: Ctx) => ({
    feed: await ctx.t.db.kysely.selectFrom('feeds').selectAll().where('id', '=', rssId(ctx)).executeTakeFirst(),
    hook: await ctx.t.db.kysely.selectFrom('feed_hooks').selectAll().where('feed_id', '=', rssId(ctx)).executeTakeFirst(),
  });
  const post = (url: string) => fetch(url, { method: 'POST' }).then((r) => r.status);

  e2e('status shows push off (no hub) and the publish hook URL the add made; calling it polls the feed at once', async (ctx) => {
    assert.match(await run(ctx, 'add', { url: rssUrl(ctx), channel: 'posts' }), /Now following/);
    const saved = await snapshot(ctx);
    assert.ok(saved.hook, '/feed add made the hook');
    const text = await run(ctx, 'status', { feed: rssUrl(ctx) });
    assert.match(text, /Push: off — the feed names no WebSub hub: it is polled/);
    const url = HOOK.exec(text)?.[1];
    assert.is(url, `${ctx.publicUrl}/hooks/feeds/${saved.hook!.token}`, text);
    assert.not.match(text, /last call/);
    assert.equal(await snapshot(ctx), saved, 'status wrote nothing');

    const polls = ctx.feeds.requests.length;
    assert.is(await post(url!), 202);
    await eventually(() => ctx.feeds.requests.length > polls, { timeout: 15_000, message: 'the poll the hook asked for' });
    assert.match(await run(ctx, 'status', { feed: rssUrl(ctx) }), /Publish hook: `POST [^`]+` · last call <t:\d+:R>/);
  });

  e2e('/feed edit rotate-hook:True gives a new hook URL, the old one answers 404 and status shows the new one', async (ctx) => {
    const before = (await snapshot(ctx)).hook!;
    const same = await run(ctx, 'edit', { feed: rssUrl(ctx), 'rotate-hook': false });
    assert.match(same, /^Nothing changed for \*\*The Test Blog\*\*/);
    assert.not.match(same, /New publish hook/);
    assert.is((await snapshot(ctx)).hook!.token, before.token, 'rotate-hook:False keeps it');

    const answer = await run(ctx, 'edit', { feed: rssUrl(ctx), 'rotate-hook': true });
    const fresh = /🔑 New publish hook: `POST (\S+)`; the old one no longer works\./.exec(answer)?.[1];
    assert.ok(fresh, answer);
    const after = (await snapshot(ctx)).hook!;
    assert.is.not(after.token, before.token);
    assert.is(fresh, `${ctx.publicUrl}/hooks/feeds/${after.token}`);
    assert.is(await post(`${ctx.publicUrl}/hooks/feeds/${before.token}`), 404, 'the old token is dead');
    assert.ok([202, 429].includes(await post(fresh!)), 'the new one is known (429: within the per-feed limit)');
    assert.is(HOOK.exec(await run(ctx, 'status', { feed: rssUrl(ctx) }))?.[1], fresh);
  });

  e2e('/feed edit identity:True posts as the blog through a webhook of the channel; status says so; identity:False undoes it', async (ctx) => {
    const on = await run(ctx, 'edit', { feed: rssUrl(ctx), identity: true });
    assert.match(on, /🪪 Identity: posts go out as \*\*The Test Blog\*\*, through a webhook of <#\d+>\./);
    assert.is(ctx.discord.webhooks('posts').length, 1);
    const row = (await snapshot(ctx)).feed!;
    assert.equal([Number(row.identity), row.webhook_id], [1, ctx.discord.webhooks('posts')[0]!.id]);
    const text = await run(ctx, 'status', { feed: rssUrl(ctx) });
    assert.match(text, /Identity: the blog’s \(a channel webhook named after it\)/);
    assert.not.ok(text.includes(ctx.discord.webhookToken(row.webhook_id!)), 'the webhook token is never shown');

    // A new post, fetched at once through the publish hook (once the feed's 10 s between calls passed), goes out as the blog.
    ctx.feeds.items.unshift(feedItem(3));
    const hook = HOOK.exec(text)![1]!;
    await eventually(async () => (await post(hook)) === 202, { timeout: 20_000, interval: 500, message: 'the hook accepting a call' });
    const m = await eventually(() => ctx.discord.messages('posts').find((x) => x.embeds?.[0]?.title === 'Post number 3'), {
      timeout: 20_000,
      message: 'post 3 announced',
    });
    assert.is(m!.webhook_id, row.webhook_id);
    assert.is(m!.author.username, 'The Test Blog');

    const off = await run(ctx, 'edit', { feed: rssUrl(ctx), identity: false });
    assert.match(off, /🪪 Identity: posts go out as blogcord\./);
    assert.match(await run(ctx, 'status', { feed: rssUrl(ctx) }), /Identity: the bot’s own/);
    assert.is(Number((await snapshot(ctx)).feed!.identity), 0);
  });

  e2e('identity:True without Manage Webhooks: blogcord posts as itself and says why, in the answer and in status', async (ctx) => {
    await ctx.discord.setBotPermissions('blog', PERMS & ~P.ManageWebhooks);
    try {
      const answer = await run(ctx, 'edit', { feed: rssUrl(ctx), channel: 'announce', identity: true });
      assert.match(answer, /Changed channel/);
      assert.match(answer, /⚠️ Identity: posts go out as blogcord for now: .*Manage Webhooks/);
      assert.is(ctx.discord.webhooks('announce').length, 0);
      assert.match(await run(ctx, 'status', { feed: rssUrl(ctx) }), /Identity: ⚠️ the bot’s own, not the blog’s: .*Manage Webhooks/);
    } finally {
      await ctx.discord.setBotPermissions('blog', PERMS);
    }
    const back = await run(ctx, 'edit', { feed: rssUrl(ctx), channel: 'posts', identity: false });
    assert.match(back, /Changed channel/);
  });

  e2e('bad option values, a member without Manage Server and an unknown feed are refused with the reason; nothing changes', async (ctx) => {
    const before = await snapshot(ctx);
    const refused: Array<[Record<string, string | number | boolean>, RegExp]> = [
      [{ template: 'New {titel}', identity: true, 'rotate-hook': true }, /The template is not valid: .*Unknown placeholder `\{titel\}`/],
      [{ include: 'colour:red', identity: true, 'rotate-hook': true }, /The include filter is not valid/],
      [{ ping: '@everyone', identity: true, 'rotate-hook': true }, /never pings @everyone/],
      [{ ping: 'Readers', 'clear-ping': true, 'rotate-hook': true }, /Choose either a `ping` role or `clear-ping`, not both/],
      [{ ping: 'Secret', identity: true, 'rotate-hook': true }, /may not mention the role \*\*Secret\*\*/],
    ];
    for (const [options, reason] of refused) {
      const answer = await run(ctx, 'edit', { feed: rssUrl(ctx), ...options });
      assert.match(answer, reason, JSON.stringify(options));
      assert.not.match(answer, /New publish hook|Identity:/);
      assert.equal(await snapshot(ctx), before, `nothing changed after ${JSON.stringify(options)}`);
    }
    for (const sub of ['edit', 'status'] as const) {
      const denied = await run(ctx, sub, { feed: rssUrl(ctx), ...(sub === 'edit' ? { identity: true, 'rotate-hook': true } : {}) }, { user: 'bob' });
      assert.match(denied, /You need the Manage Server permission to use this command/);
      const unknown = await run(ctx, sub, { feed: 'https://nowhere.example/feed', ...(sub === 'edit' ? { identity: true, 'rotate-hook': true } : {}) });
      assert.match(unknown, /This server does not follow https:\/\/nowhere\.example\/feed\. \/feed list shows the feeds it follows\./);
    }
    assert.equal(await snapshot(ctx), before, 'nothing changed');
    assert.equal(await ctx.t.db.kysely.selectFrom('feeds').select('url').execute(), [{ url: rssUrl(ctx) }], 'no feed was made');
  });

  e2e('a ping role that is not mentionable needs Mention Everyone where the feed posts, not where the command is typed', async (ctx) => {
    const secret = ctx.discord.role('blog', 'Secret').id;
    const atom = ctx.feeds.url('/atom');
    // Typed in #general (Mention Everyone there) for #posts (none there): refused, nothing saved.
    const refused = await run(ctx, 'add', { url: atom, channel: 'posts', ping: 'Secret' });
    assert.match(
      refused,
      /may not mention the role \*\*Secret\*\*: it is not mentionable and blogcord lacks the Mention Everyone permission in the channel the feed posts to/,
    );
    assert.equal(
      (await ctx.t.db.kysely.selectFrom('feeds').select('url').execute()).map((f) => f.url),
      [rssUrl(ctx)],
      'nothing saved',
    );
    // Typed in #posts (none there) for #announce (Mention Everyone there): accepted, and the announcement pings.
    const added = await run(ctx, 'add', { url: atom, channel: 'announce', ping: 'Secret', backfill: 1 }, { channel: 'posts' });
    assert.match(added, /Now following/);
    assert.match(added, new RegExp(`Ping: <@&${secret}>`));
    const m = await eventually(() => ctx.discord.messages('announce').find((x) => (x.embeds?.length ?? 0) > 0), {
      timeout: 20_000,
      message: 'the backfilled announcement',
    });
    assert.equal(m!.mention_roles, [secret], 'Secret was pinged');

    // /feed edit: the feed's own channel when none is given (#posts: refused), else the new one (#announce: accepted).
    const before = await snapshot(ctx);
    assert.match(await run(ctx, 'edit', { feed: rssUrl(ctx), ping: 'Secret' }), /lacks the Mention Everyone permission in the channel the feed posts to/);
    assert.equal(await snapshot(ctx), before, 'nothing changed');
    const moved = await run(ctx, 'edit', { feed: rssUrl(ctx), ping: 'Secret', channel: 'announce' }, { channel: 'posts' });
    assert.match(moved, /Changed channel, ping of \*\*The Test Blog\*\*/);
    const row = (await snapshot(ctx)).feed!;
    assert.is(row.channel_id, ctx.discord.channel('announce').id);
    // Moving it back to #posts keeps its ping, so Secret is checked there: refused; with clear-ping it moves.
    const moved2 = await snapshot(ctx);
    assert.match(await run(ctx, 'edit', { feed: rssUrl(ctx), channel: 'posts' }), /may not mention the role \*\*Secret\*\*/);
    assert.equal(await snapshot(ctx), moved2, 'nothing changed');
    assert.match(await run(ctx, 'edit', { feed: rssUrl(ctx), channel: 'posts', 'clear-ping': true }), /Changed channel, ping of/);
  });

  e2e.run();
}
