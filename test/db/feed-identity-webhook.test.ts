// Per-feed identity (issue 18), through the Discord emulator's channel webhooks on SQLite and PostgreSQL: a feed with
// `identity` posts through a webhook named after the blog (its name and icon on the message, `webhook_id` set), the
// bot starts the thread and adds the reactions, and edits go through the webhook; a job that crashed after the
// webhook posted and before the database recorded it never posts twice; without Manage Webhooks the post goes out as
// the bot and /feed status says why. Also the emulator's webhook rules (name, token, forum, wait).
import { PermissionFlagsBits as P, type APIMessage } from 'discord-api-types/v10';
import { pino } from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createRest, RestDiscordPort } from '../../src/discord/rest-port.ts';
import { renderFeedStatus } from '../../src/render/feed-status.ts';
import { KEYCAPS } from '../../src/domain/rating.ts';
import { getFeed, upsertFeed, type Feed } from '../../src/repositories/feeds.ts';
import { getPost, upsertPostFromFeed, type Post } from '../../src/repositories/posts.ts';
import { refreshAnnouncement } from '../../src/services/announcement.ts';
import type { DiscordPort, WebhookCredentials, WebhookMessageBody } from '../../src/services/discord-port.ts';
import { setFeedIdentity, webhookName } from '../../src/services/feed-identity.ts';
import { feedStatus } from '../../src/services/feed-status.ts';
import { publishPost } from '../../src/services/publish.ts';
import { loadConfig } from '../../src/config.ts';
import { DEFAULT_BOT_PERMISSIONS, startDiscordEmulator, type DiscordEmulator } from '../../emulator/index.ts';
import { createTestDb, DIALECTS, type TestDb } from '../support/db.ts';

const log = pino({ level: 'silent' });

/** The real REST port whose webhook execution "crashes" once Discord has made the message (before anything is recorded). */
class CrashAfterExecute extends RestDiscordPort {
  crashes = 1;
  override async executeWebhook(hook: WebhookCredentials, body: WebhookMessageBody): Promise<APIMessage> {
    const message = await super.executeWebhook(hook, body);
    if (this.crashes-- > 0) throw new Error('the worker died before recording the message');
    return message;
  }
}

interface Ctx {
  t: TestDb;
  discord: DiscordEmulator;
  port: DiscordPort;
  guildId: string;
}

const ctxOf = (c: Ctx, port: DiscordPort = c.port) => ({ db: c.t.db, discord: port, log });

async function seed(c: Ctx, channel: string, n: number, identity = true): Promise<{ feed: Feed; post: Post }> {
  const { feed } = await upsertFeed(c.t.db, {
    guildId: c.guildId,
    url: `https://blog${n}.example/feed.xml`,
    channelId: c.discord.channel(channel).id,
    title: `Rink’s Discord-free blog ${n}`,
  });
  const { post } = await upsertPostFromFeed(
    c.t.db,
    feed,
    {
      key: `k${n}`,
      url: `https://blog${n}.example/p/${n}`,
      title: `Post ${n} @everyone`,
      author: 'Rink',
      publishedAt: '2026-11-20T10:00:00.000Z',
      summaryHtml: '<p>Hello</p>',
      searchText: 'Hello',
      imageUrl: null,
      contentHash: `h${n}`,
    },
    'pending',
  );
  if (identity) await setFeedIdentity(ctxOf(c), feed.id, true);
  return { feed: (await getFeed(c.t.db, feed.id))!, post };
}

const botId = (c: Ctx) => c.discord.botUser.id;

for (const dialect of DIALECTS) {
  const test = suite<Ctx>(`per-feed identity through channel webhooks (${dialect})`, {} as Ctx);

  test.before(async (c) => {
    c.t = await createTestDb(dialect);
    c.discord = await startDiscordEmulator({
      guilds: [
        {
          name: 'blog',
          channels: [{ name: 'posts' }, { name: 'crash' }, { name: 'plain' }, { name: 'forum', type: 'forum' }],
          botPermissions: DEFAULT_BOT_PERMISSIONS | P.ManageWebhooks,
        },
      ],
      users: [{ username: 'alice', manageGuild: true }],
    });
    c.guildId = c.discord.guild('blog').id;
    c.port = new RestDiscordPort(createRest({ discordApiUrl: c.discord.restUrl, discordToken: c.discord.token }));
  });
  test.after(async (c) => {
    await c.discord?.stop();
    await c.t?.close();
  });

  test('GIVEN identity on THEN the post goes out through a webhook named after the blog, with thread and reactions, and edits go through the webhook', async (c) => {
    const { feed, post } = await seed(c, 'posts', 1);
    assert.ok(feed.webhookId, 'the webhook is made when identity is turned on');
    const r = await publishPost(ctxOf(c), post.id);
    assert.is(r.state, 'published');
    const msgs = c.discord.messages('posts');
    assert.is(msgs.length, 1);
    const m = msgs[0]!;
    assert.is(m.webhook_id, feed.webhookId);
    assert.is(m.author.id, feed.webhookId);
    assert.is(m.author.username, webhookName(feed));
    assert.not.match(m.author.username, /discord/i, 'Discord refuses "discord" in a webhook name');
    assert.is(m.mention_everyone, false);
    assert.ok(m.author.avatar, 'the blog’s icon is the avatar');
    const exec = c.discord.requests.filter((q) => q.route === 'POST /webhooks/{application_id}/{interaction_token}');
    assert.is(exec.length, 1);
    assert.is(exec[0]!.query.wait, 'true');
    assert.is(exec[0]!.auth, false, 'no bot token is sent to a webhook');
    assert.is((exec[0]!.body as { avatar_url?: string }).avatar_url, 'https://blog1.example/favicon.ico');
    assert.equal((exec[0]!.body as { allowed_mentions?: unknown }).allowed_mentions, { parse: [] });
    assert.is(c.discord.thread(m.id).name, `Post 1 @everyone`);
    for (const e of KEYCAPS) assert.ok(c.discord.reactions(m.id).get(e)?.includes(botId(c)), e);
    const stored = (await getPost(c.t.db, post.id))!;
    assert.is(stored.webhookId, feed.webhookId);
    assert.is(stored.messageId, m.id);
    assert.ok(stored.announcedAt);

    assert.is(await refreshAnnouncement(ctxOf(c), post.id), 'edited');
    const edits = c.discord.requests.filter((q) => q.route === 'PATCH /webhooks/{application_id}/{interaction_token}/messages/{message_id}');
    assert.is(edits.length, 1);
    assert.is(edits[0]!.status, 200);
    assert.ok(c.discord.message(m.id)!.edited_timestamp);
    assert.not.ok(
      c.discord.requests.some((q) => q.route === 'PATCH /channels/{channel_id}/messages/{message_id}'),
      'the bot cannot edit the webhook’s message as its own',
    );
    const text = renderFeedStatus(await feedStatus({ db: c.t.db, config: loadConfig({}) }, c.guildId, feed.id));
    assert.match(text, /Identity: the blog’s \(a channel webhook named after it\)/);
    assert.not.ok(text.includes(c.discord.webhookToken(feed.webhookId!)), 'the webhook token is never shown');
  });

  test('GIVEN a job that crashed after the webhook posted and before it was recorded THEN the retry takes that message: one announcement', async (c) => {
    const { post } = await seed(c, 'crash', 2);
    const crashing = new CrashAfterExecute(createRest({ discordApiUrl: c.discord.restUrl, discordToken: c.discord.token }));
    let error: unknown = null;
    try {
      await publishPost(ctxOf(c, crashing), post.id);
    } catch (e) {
      error = e;
    }
    assert.match(String(error), /died before recording/);
    const half = (await getPost(c.t.db, post.id))!;
    assert.is(half.publishState, 'pending');
    assert.is(half.messageId, null);
    assert.ok(half.webhookIntentAt, 'the intent was recorded before the webhook ran');
    assert.is(c.discord.messages('crash').length, 1, 'Discord made the message');
    // The retried job, twice (a duplicate delivery too): still one message, now complete.
    const r = await publishPost(ctxOf(c), post.id);
    assert.is(r.state, 'published');
    assert.is((await publishPost(ctxOf(c), post.id)).state, 'published');
    const msgs = c.discord.messages('crash');
    assert.is(msgs.length, 1, 'never posted twice');
    assert.is((await getPost(c.t.db, post.id))!.messageId, msgs[0]!.id);
    assert.is(c.discord.thread(msgs[0]!.id).id, msgs[0]!.id);
    assert.is(c.discord.reactions(msgs[0]!.id).size, 5);
  });

  test('GIVEN no Manage Webhooks THEN the post goes out as the bot and /feed status says why; a forum says so too', async (c) => {
    await c.discord.setBotPermissions('blog', DEFAULT_BOT_PERMISSIONS);
    try {
      const { feed, post } = await seed(c, 'plain', 3);
      assert.is(feed.webhookId, null);
      assert.match(feed.identityNote ?? '', /lacks Manage Webhooks/);
      assert.is((await publishPost(ctxOf(c), post.id)).state, 'published');
      const [m] = c.discord.messages('plain');
      assert.is(m!.author.id, botId(c));
      assert.is(m!.webhook_id, undefined);
      const text = renderFeedStatus(await feedStatus({ db: c.t.db, config: loadConfig({}) }, c.guildId, feed.id));
      assert.match(text, /Identity: ⚠️ the bot’s own, not the blog’s: blogcord lacks Manage Webhooks/);
      assert.ok(text.length <= 2000);
    } finally {
      await c.discord.setBotPermissions('blog', DEFAULT_BOT_PERMISSIONS | P.ManageWebhooks);
    }
    const { feed } = await seed(c, 'forum', 4);
    assert.match(feed.identityNote ?? '', /forum/);
  });

  test('emulator: webhook rules as Discord has them (name, token, wait, forum, Manage Webhooks, someone else’s message)', async (c) => {
    const api = `${c.discord.restUrl.replace(/\/$/, '')}/v10`;
    const bot = { Authorization: `Bot ${c.discord.token}`, 'Content-Type': 'application/json' };
    const channelId = c.discord.channel('plain').id;
    const bad = await fetch(`${api}/channels/${channelId}/webhooks`, { method: 'POST', headers: bot, body: JSON.stringify({ name: 'My Discord hook' }) });
    assert.is(bad.status, 400);
    assert.is(((await bad.json()) as { code: number }).code, 50035);
    const made = await fetch(`${api}/channels/${channelId}/webhooks`, { method: 'POST', headers: bot, body: JSON.stringify({ name: 'Hook' }) });
    assert.is(made.status, 200);
    const hook = (await made.json()) as { id: string; token: string };
    const json = { 'Content-Type': 'application/json' };
    const wrong = await fetch(`${api}/webhooks/${hook.id}/nope`, { method: 'POST', headers: json, body: JSON.stringify({ content: 'x' }) });
    assert.is(wrong.status, 401);
    const nowait = await fetch(`${api}/webhooks/${hook.id}/${hook.token}`, { method: 'POST', headers: json, body: JSON.stringify({ content: 'hi' }) });
    assert.is(nowait.status, 204);
    const waited = await fetch(`${api}/webhooks/${hook.id}/${hook.token}?wait=true`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ content: 'hello', username: 'Other name' }),
    });
    const msg = (await waited.json()) as APIMessage;
    assert.is(msg.webhook_id, hook.id);
    assert.is(msg.author.username, 'Other name');
    const tooLong = await fetch(`${api}/webhooks/${hook.id}/${hook.token}?wait=true`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ content: 'x'.repeat(2001) }),
    });
    assert.is(tooLong.status, 400);
    const botEdit = await fetch(`${api}/channels/${channelId}/messages/${msg.id}`, {
      method: 'PATCH',
      headers: bot,
      body: JSON.stringify({ content: 'mine' }),
    });
    assert.is(botEdit.status, 403, 'a webhook message is not the bot’s to edit in the channel');
    const forumId = c.discord.channel('forum').id;
    const fh = (await (await fetch(`${api}/channels/${forumId}/webhooks`, { method: 'POST', headers: bot, body: JSON.stringify({ name: 'F' }) })).json()) as {
      id: string;
      token: string;
    };
    const inForum = await fetch(`${api}/webhooks/${fh.id}/${fh.token}?wait=true`, { method: 'POST', headers: json, body: JSON.stringify({ content: 'x' }) });
    assert.is(((await inForum.json()) as { code: number }).code, 220001);
    await c.discord.setBotPermissions('blog', DEFAULT_BOT_PERMISSIONS);
    const denied = await fetch(`${api}/channels/${channelId}/webhooks`, { method: 'POST', headers: bot, body: JSON.stringify({ name: 'Hook' }) });
    assert.is(((await denied.json()) as { code: number }).code, 50013);
    await c.discord.setBotPermissions('blog', DEFAULT_BOT_PERMISSIONS | P.ManageWebhooks);
  });

  test.run();
}
