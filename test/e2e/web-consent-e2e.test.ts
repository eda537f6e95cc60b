/**
 * Consent before the web and deleted means deleted, end to end (issue 16, the server's part): the real bot process
 * (`blogcord start`, with its HTTP API) against the Discord emulator, on SQLite (a file) and on PostgreSQL.
 * A feed added without `web` is served nowhere (the API's 404 of an unknown post); a member cannot enable it and
 * a bad option is a clear ephemeral error that changes nothing; `/web enable` serves the discussion at once and
 * edits the announcement to say where the replies appear; a deleted message (single, bulk) is erased from the
 * database itself (the SQLite file's bytes after a checkpoint, PostgreSQL's table); a deleted thread closes the
 * discussion on the web; `/web disable` takes it off; `blogcord export` still holds the post.
 * Run alone: npx tsx test/web-consent-e2e.test.ts
 */
import { readFileSync, existsSync } from 'node:fs';
import type { APIMessage } from 'discord-api-types/v10';
import { sql } from 'kysely';
import * as assert from 'uvu/assert';
import { KEYCAPS } from '../../src/domain/rating.ts';
import type { PostView } from '../../src/services/blog.ts';
import { eventually } from '../support/assert.ts';
import { exportJson, type BotProcess } from '../support/bot.ts';
import { DIALECTS } from '../support/db.ts';
import { e2eSuite, startE2eBot, type E2eContext } from '../support/e2e.ts';
import type { DiscordEmulator } from '../../emulator/index.ts';
import { feedItem, startFeedServer, type FeedServer } from '../support/feed-server.ts';
import { freePort } from '../support/services.ts';

interface Ctx extends E2eContext {
  feeds: FeedServer;
  bot: BotProcess;
  api: string;
  announcement: APIMessage;
  postId: string;
}

const POST_URL = feedItem(1).link;

for (const dialect of DIALECTS) {
  const e2e = e2eSuite<Ctx>(`web consent and deletion through the emulator with the real bot (${dialect})`, {
    dialect,
    emulator: {
      guilds: [{ name: 'blog', channels: [{ name: 'posts' }, { name: 'general' }] }],
      users: [{ username: 'alice', manageGuild: true }, { username: 'bob' }],
    },
    commands: true,
  });

  e2e.before(async (ctx) => {
    ctx.feeds = await startFeedServer({ items: [feedItem(1)] });
    const port = await freePort();
    ctx.api = `http://127.0.0.1:${port}`;
    ctx.bot = await startE2eBot(ctx, {
      env: { HTTP_PORT: String(port), HTTP_CORS_ORIGINS: 'https://blog.example', FEED_POLL_INTERVAL_SECONDS: '3600', ANNOUNCEMENT_REFRESH_MS: '200' },
    });
    await ctx.discord.waitForReady({ timeout: 15_000 });
  });

  e2e.after(async (ctx) => {
    await ctx.feeds?.close();
  });

  const run = (ctx: Ctx, user: string, name: string, inv: Parameters<DiscordEmulator['runCommand']>[3]) =>
    ctx.discord.runCommand(user, 'general', name, { timeout: 15_000, ...inv });
  const get = async (ctx: Ctx, path: string) => {
    const res = await fetch(`${ctx.api}${path}`);
    return { status: res.status, body: await res.text() };
  };
  const byUrl = (ctx: Ctx) => get(ctx, `/api/posts?url=${encodeURIComponent(POST_URL)}`);
  /** A comment's row as the bot stored it (read through the test's own connection). */
  const row = (ctx: Ctx, id: string) => ctx.t.db.kysely.selectFrom('comments').selectAll().where('id', '=', id).executeTakeFirst();
  const webField = (m: APIMessage | undefined) => m?.embeds?.[0]?.fields?.find((f) => f.name === 'On the web')?.value;

  e2e('a feed added without web is published in Discord and served nowhere on the web', async (ctx) => {
    const res = await run(ctx, 'alice', 'feed', { subcommand: 'add', options: { url: ctx.feeds.url('/rss'), channel: 'posts', backfill: 1 } });
    assert.ok(res.ephemeral);
    assert.match(res.content, /Only in Discord/);
    const bot = ctx.discord.botUser.id;
    ctx.announcement = (await eventually(
      () => {
        const m = ctx.discord.messages('posts').find((x) => x.author.id === bot && x.embeds?.length);
        return m && KEYCAPS.every((e) => ctx.discord.reactions(m.id).get(e)?.includes(bot)) ? m : undefined;
      },
      { timeout: 20_000, message: 'the announcement with its thread and reactions' },
    ))!;
    assert.is(webField(ctx.announcement), undefined, 'no web line while the feed is only in Discord');
    ctx.postId = (await ctx.t.db.kysely.selectFrom('posts').select('id').where('message_id', '=', ctx.announcement.id).executeTakeFirstOrThrow()).id;
    const reply = await ctx.discord.say('bob', ctx.announcement.id, 'a reply that stays in Discord');
    await eventually(() => row(ctx, reply.id), { timeout: 10_000, message: 'the reply mirrored' });

    const unknown = await get(ctx, '/api/posts/AAAAAAAAAAAAAAAAAAAAAA');
    const byId = await get(ctx, `/api/posts/${ctx.postId}`);
    assert.equal([byId.status, byId.body], [404, unknown.body], 'the same 404 as an unknown post');
    const url = await byUrl(ctx);
    assert.is(url.status, 404);
    assert.not.match(url.body, /reply that stays/);
    assert.equal(JSON.parse((await get(ctx, `/api/posts?guild=${ctx.guildId}`)).body).posts, []);
    assert.is((await get(ctx, '/api/posts')).status, 400, 'no list of every server');
  });

  e2e('a member cannot enable the web; a feed the server does not follow is a clear error; neither changes anything', async (ctx) => {
    // A server may show /web to everyone (it overrides default_member_permissions): the bot checks again.
    const bob = await run(ctx, 'bob', 'web', { subcommand: 'enable', options: { feed: ctx.feeds.url('/rss') }, force: true });
    assert.ok(bob.ephemeral);
    assert.match(bob.content, /Manage Server/);
    const unknown = await run(ctx, 'alice', 'web', { subcommand: 'enable', options: { feed: 'https://nowhere.example/feed' } });
    assert.ok(unknown.ephemeral);
    assert.match(unknown.content, /does not follow https:\/\/nowhere\.example\/feed/);
    assert.is((await byUrl(ctx)).status, 404);
    assert.equal(
      (await ctx.t.db.kysely.selectFrom('feeds').select('web_enabled').execute()).map((f) => Number(f.web_enabled)),
      [0],
    );
  });

  e2e('/web enable serves the discussion at once and the announcement says where; /web status shows it with the snippet', async (ctx) => {
    const choices = await ctx.discord.autocomplete('alice', 'general', 'web', { subcommand: 'enable', focused: 'feed', value: 'rss' });
    assert.equal(
      choices.map((c) => c.value),
      [ctx.feeds.url('/rss')],
    );
    const res = await run(ctx, 'alice', 'web', { subcommand: 'enable', options: { feed: String(choices[0]!.value) } });
    assert.ok(res.ephemeral);
    assert.match(res.content, /is now on the web/);
    const view = JSON.parse((await byUrl(ctx)).body) as PostView;
    assert.equal([view.id, view.discussion, view.replies], [ctx.postId, 'open', 1]);
    assert.match(JSON.stringify(view.comments), /a reply that stays in Discord/);
    await eventually(() => webField(ctx.discord.message(ctx.announcement.id)), { timeout: 10_000, message: 'the announcement edited with the web line' });
    assert.match(
      webField(ctx.discord.message(ctx.announcement.id))!,
      /^Replies in this thread appear on blog\.example\. `\/privacy` chooses how you appear there\.$/,
    );
    const status = await run(ctx, 'alice', 'web', { subcommand: 'status' });
    assert.ok(status.ephemeral);
    assert.match(status.content, /On the web\*\* \(1\)/);
    assert.ok(status.content.includes(`data-guild="${ctx.guildId}"`), status.content);
    assert.match(status.content, /`https:\/\/blog\.example`/);
    const again = await run(ctx, 'alice', 'web', { subcommand: 'enable', options: { feed: ctx.feeds.url('/rss') } });
    assert.match(again.content, /already on the web; nothing changed/);
  });

  e2e('a deleted message is erased from the database itself; a bulk delete too; the API keeps only the tombstone', async (ctx) => {
    const marker = `marker${Date.now().toString(36)}`;
    const secret = await ctx.discord.say('bob', ctx.announcement.id, `my ${marker} secret `.repeat(20));
    const first = await ctx.discord.say('bob', ctx.announcement.id, `bulk one ${marker}b1`);
    const second = await ctx.discord.say('bob', ctx.announcement.id, `bulk two ${marker}b2`, { replyTo: first.id });
    await eventually(async () => (await row(ctx, second.id)) && (await row(ctx, secret.id)), { timeout: 10_000, message: 'the messages mirrored' });
    assert.match(JSON.stringify(JSON.parse((await byUrl(ctx)).body)), new RegExp(marker));

    await ctx.discord.delete(secret);
    await ctx.discord.bulkDelete(ctx.announcement.id, [first.id, second.id]);
    await eventually(async () => (await row(ctx, secret.id))?.deleted_at && (await row(ctx, second.id))?.deleted_at && (await row(ctx, first.id))?.deleted_at, {
      timeout: 10_000,
      message: 'the deletions mirrored',
    });
    for (const id of [secret.id, first.id, second.id]) {
      const r = (await row(ctx, id))!;
      assert.equal([r.content, r.author_id, r.author_name, r.attachments], ['', '', '', '[]'], 'erased in the row');
    }
    assert.is((await row(ctx, second.id))!.reply_to_id, first.id, 'the tree keeps its shape');
    const hits = await sql<{ n: number }>`select count(*) as n from comments where content like ${`%${marker}%`}`.execute(ctx.t.db.kysely);
    assert.is(Number(hits.rows[0]!.n), 0, `no ${dialect} row holds the text`);
    if (ctx.dbFile) {
      // The SQLite file and its WAL after a checkpoint: not a byte of the deleted messages is left.
      await eventually(
        async () => {
          const { rows } = await sql<{ busy: number }>`pragma wal_checkpoint(TRUNCATE)`.execute(ctx.t.db.kysely);
          const bytes = Buffer.concat([ctx.dbFile!, `${ctx.dbFile}-wal`].filter(existsSync).map((f) => readFileSync(f)));
          return Number(rows[0]!.busy) === 0 && !bytes.includes(marker);
        },
        { timeout: 10_000, message: 'the text gone from the SQLite file' },
      );
    }
    const view = JSON.parse((await byUrl(ctx)).body) as PostView;
    assert.not.match(JSON.stringify(view), new RegExp(marker));
    assert.is(view.replies, 1);
    const tomb = view.comments.find((c) => c.id === first.id)!;
    assert.equal([tomb.deleted, tomb.replies.map((r) => [r.id, r.deleted])], [true, [[second.id, true]]]);
    const exported = (await exportJson(ctx.t.url, ctx.guildId)).posts.find((p) => p.id === ctx.postId)!;
    const gone = exported.comments.find((c: { id: string }) => c.id === secret.id);
    assert.equal([gone.content, gone.authorName, gone.attachments], [null, null, []]);
  });

  e2e('a deleted thread closes the discussion on the web; /web disable takes the post off; the export still has it', async (ctx) => {
    await ctx.discord.deleteChannel(ctx.announcement.id);
    await eventually(async () => JSON.parse((await byUrl(ctx)).body).discussion === 'closed', { timeout: 10_000, message: 'the discussion closed' });
    const view = JSON.parse((await byUrl(ctx)).body) as PostView;
    assert.equal([view.comments, view.replies, view.discord.threadUrl], [[], 0, null]);
    assert.not.match(JSON.stringify(view), /a reply that stays/);
    // The discussion closes at once; the comments are erased by the mirror's next write batch (tens of milliseconds).
    await eventually(
      async () => {
        const left = await ctx.t.db.kysely.selectFrom('comments').select(['content', 'author_name']).where('post_id', '=', ctx.postId).execute();
        return left.length >= 4 && left.every((r) => r.content === '' && r.author_name === '');
      },
      { timeout: 10_000, message: 'every comment of the deleted thread is erased' },
    );

    const off = await run(ctx, 'alice', 'web', { subcommand: 'disable', options: { feed: ctx.feeds.url('/rss') } });
    assert.match(off.content, /is off the web/);
    assert.is((await byUrl(ctx)).status, 404);
    assert.is((await get(ctx, `/api/posts/${ctx.postId}`)).status, 404);
    const exported = await exportJson(ctx.t.url, ctx.guildId);
    assert.ok(
      exported.posts.some((p) => p.id === ctx.postId),
      'blogcord export still exports everything',
    );

    // /feed add web:True does it in one step (here the same blog's Atom feed, nothing backfilled).
    const add = await run(ctx, 'alice', 'feed', { subcommand: 'add', options: { url: ctx.feeds.url('/atom'), channel: 'posts', web: true } });
    assert.match(add.content, /🌐 On the web/);
    const status = await run(ctx, 'alice', 'web', { subcommand: 'status' });
    assert.match(status.content, /On the web\*\* \(1\):\n• \*\*The Test Blog\*\* \(<http:\/\/127\.0\.0\.1:\d+\/atom>\)/);
    assert.match(status.content, /Only in Discord\*\* \(1\)/);
  });

  e2e.run();
}
