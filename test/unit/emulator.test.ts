/**
 * The Discord emulator against the real discord.js client.
 * Run alone: npx tsx test/unit/emulator.test.ts
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { once } from 'node:events';
import { WebSocket } from 'ws';
import {
  ChannelType,
  Client,
  DiscordAPIError,
  Events,
  GatewayIntentBits,
  Partials,
  PermissionFlagsBits,
  Routes,
  SlashCommandBuilder,
  type ChatInputCommandInteraction,
  type Interaction,
  type Message,
  type MessageReaction,
  type PartialMessageReaction,
  type TextChannel,
  type ThreadChannel,
} from 'discord.js';
import { startDiscordEmulator, DEFAULT_BOT_PERMISSIONS, shardOf, type DiscordEmulator } from '../../emulator/index.ts';

const ALL_INTENTS = [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages, GatewayIntentBits.GuildMessageReactions, GatewayIntentBits.MessageContent];
const PARTIALS = [Partials.Message, Partials.Channel, Partials.Reaction, Partials.User];

async function login(discord: DiscordEmulator, opts: { intents?: number[]; shards?: number[]; shardCount?: number } = {}): Promise<Client> {
  const client = new Client({
    intents: opts.intents ?? ALL_INTENTS,
    partials: PARTIALS,
    rest: { api: discord.restUrl, retries: 3 },
    ...(opts.shards ? { shards: opts.shards, shardCount: opts.shardCount } : {}),
    allowedMentions: { parse: [] },
  });
  const ready = once(client, Events.ClientReady);
  await client.login(discord.token);
  await ready;
  return client;
}

/** Collects emitted events of one kind. */
function collect<T extends unknown[]>(client: Client, event: string): T[] {
  const seen: T[] = [];
  client.on(event, (...args: unknown[]) => seen.push(args as T));
  return seen;
}

async function until(cond: () => boolean, timeout = 3000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeout;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function apiError(p: Promise<unknown>): Promise<DiscordAPIError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof DiscordAPIError) return err;
    throw err;
  }
  throw new Error('expected a DiscordAPIError');
}

const blogCommand = new SlashCommandBuilder()
  .setName('blog')
  .setDescription('Blog posts')
  .addSubcommand((s) =>
    s
      .setName('show')
      .setDescription('Show a post')
      .addStringOption((o) => o.setName('post').setDescription('post').setRequired(true).setAutocomplete(true)),
  )
  .addSubcommand((s) =>
    s
      .setName('latest')
      .setDescription('Latest posts')
      .addIntegerOption((o) => o.setName('count').setDescription('how many')),
  )
  .addSubcommand((s) => s.setName('slow').setDescription('Deferred answer'))
  .addSubcommand((s) => s.setName('twice').setDescription('Answers twice'))
  .addSubcommand((s) =>
    s
      .setName('where')
      .setDescription('A channel option')
      .addChannelOption((o) => o.setName('channel').setDescription('channel').setRequired(true)),
  );

// ============================================================================ one bot, one guild

const main = suite<{ discord: DiscordEmulator; client: Client; preThreadId: string }>('emulator with one connected bot');

main.before(async (ctx) => {
  ctx.discord = await startDiscordEmulator({
    guilds: [
      {
        name: 'blog',
        channels: [
          { name: 'posts', type: 'text' },
          { name: 'forum', type: 'forum' },
          { name: 'history', type: 'text' },
          { name: 'limits', type: 'text' },
        ],
      },
    ],
    users: [
      { username: 'alice' },
      { username: 'bob' },
      { username: 'carol' },
      { username: 'dave' },
      { username: 'erin' },
      { username: 'admin', manageGuild: true },
    ],
  });
  const starter = await ctx.discord.say('alice', 'posts', 'a thread made before the bot started');
  ctx.preThreadId = (await ctx.discord.createThread('alice', 'posts', 'before-login', { fromMessage: starter })).id;
  ctx.client = await login(ctx.discord);
  await ctx.client.application!.commands.set([blogCommand.toJSON()], ctx.discord.guild('blog').id);
  ctx.client.on(Events.InteractionCreate, (i: Interaction) => void answer(i));
});

main.after(async (ctx) => {
  await ctx.client?.destroy();
  await ctx.discord?.stop();
});

let secondCallbackError: unknown = null;
async function answer(i: Interaction): Promise<void> {
  if (i.isAutocomplete()) {
    const typed = i.options.getFocused();
    await i.respond(['welcome', 'weekly notes', 'other'].filter((t) => t.startsWith(typed)).map((t) => ({ name: t, value: t })));
    return;
  }
  if (!i.isChatInputCommand()) return;
  const c = i as ChatInputCommandInteraction;
  switch (c.options.getSubcommand()) {
    case 'show':
      await c.reply({
        content: `post: ${c.options.getString('post', true)} by ${c.user.username}`,
        flags: c.memberPermissions?.has(PermissionFlagsBits.ManageGuild) ? undefined : 64,
      });
      break;
    case 'latest':
      await c.reply({ embeds: [{ title: `latest ${c.options.getInteger('count') ?? 5}` }] });
      break;
    case 'slow':
      await c.deferReply();
      await new Promise((r) => setTimeout(r, 50));
      await c.editReply('done after a while');
      await c.followUp('and one more thing');
      break;
    case 'twice':
      await c.reply('first');
      try {
        await c.client.rest.post(Routes.interactionCallback(c.id, c.token), { body: { type: 4, data: { content: 'second' } }, auth: false });
      } catch (err) {
        secondCallbackError = err;
      }
      break;
    case 'where': {
      const ch = c.options.getChannel('channel', true);
      await c.reply(`channel ${ch.name} type ${ch.type}`);
      break;
    }
  }
}

main(
  'GIVEN an emulator with a guild THEN discord.js logs in and caches guild, channels, threads and its own member',
  async ({ discord, client, preThreadId }) => {
    const guild = client.guilds.cache.get(discord.guild('blog').id);
    assert.ok(guild, 'guild cached');
    assert.is(guild!.name, 'blog');
    const posts = client.channels.cache.get(discord.channel('posts').id);
    assert.is(posts?.type, ChannelType.GuildText);
    assert.is(client.channels.cache.get(discord.channel('forum').id)?.type, ChannelType.GuildForum);
    const thread = client.channels.cache.get(preThreadId) as ThreadChannel | undefined;
    assert.is(thread?.name, 'before-login');
    assert.is(thread?.parentId, posts!.id);
    assert.ok(guild!.members.me, 'own member cached');
    assert.ok(guild!.members.me!.permissions.has(PermissionFlagsBits.ManageMessages));
    assert.is(client.user!.id, discord.botUser.id);
    assert.is(client.application!.id, discord.applicationId);
    assert.ok(/^\d{17,19}$/.test(guild!.id), 'snowflake ids');
  },
);

main('a user message reaches messageCreate with its content, author and member', async ({ discord, client }) => {
  const got = once(client, Events.MessageCreate) as Promise<[Message]>;
  const sent = await discord.say('alice', 'posts', 'hello bot');
  const [m] = await got;
  assert.is(m.id, sent.id);
  assert.is(m.content, 'hello bot');
  assert.is(m.author.username, 'alice');
  assert.ok(m.member, 'member attached');
});

main('GIVEN a message THEN startThread gives a thread with the message id, and a second create fails with 160004', async ({ discord, client }) => {
  const channel = client.channels.cache.get(discord.channel('posts').id) as TextChannel;
  const created = collect<[ThreadChannel, boolean]>(client, Events.ThreadCreate);
  const msg = await channel.send({ embeds: [{ title: 'A post' }] });
  const thread = await msg.startThread({ name: 'discussion' });
  assert.is(thread.id, msg.id);
  assert.is(created.length, 1);
  assert.is(created[0]![1], true, 'newly_created');
  const err = await apiError(msg.startThread({ name: 'again' }));
  assert.is(err.code, 160004);
  // user replies inside the thread arrive too
  const reply = once(client, Events.MessageCreate) as Promise<[Message]>;
  await discord.say('bob', thread.id, 'first comment');
  const [r] = await reply;
  assert.is(r.channelId, thread.id);
  // archive and list archived
  await thread.setArchived(true);
  const archived = await channel.threads.fetchArchived();
  assert.ok(archived.threads.has(thread.id));
  const active = await channel.guild.channels.fetchActiveThreads();
  assert.not.ok(active.threads.has(thread.id));
  // a user reply unarchives it, like Discord
  await discord.say('bob', thread.id, 'bump');
  assert.is((discord.thread(thread.id).thread_metadata as { archived: boolean }).archived, false);
});

main('a forum post is created with its starter message (thread id = starter message id)', async ({ discord, client }) => {
  const forum = client.channels.cache.get(discord.channel('forum').id);
  assert.ok(forum && forum.type === ChannelType.GuildForum);
  const post = await forum.threads.create({ name: 'Forum post', message: { content: 'starter', embeds: [{ title: 'Post' }] } });
  assert.is(discord.messages(post.id)[0]!.id, post.id);
  assert.is(discord.messages(post.id)[0]!.content, 'starter');
});

main('reactions: add, remove, remove-all and remove-emoji reach the bot', async ({ discord, client }) => {
  const channel = client.channels.cache.get(discord.channel('posts').id) as TextChannel;
  const msg = await channel.send('rate me');
  await msg.react('5️⃣');
  const adds = collect<[MessageReaction | PartialMessageReaction, { id: string }]>(client, Events.MessageReactionAdd);
  const removes = collect(client, Events.MessageReactionRemove);
  const removeAll = collect(client, Events.MessageReactionRemoveAll);
  const removeEmoji = collect(client, Events.MessageReactionRemoveEmoji);
  await discord.react('alice', msg.id, '5️⃣');
  await discord.react('bob', msg.id, '4️⃣');
  await until(() => adds.length === 2, 2000, 'two reaction adds');
  assert.is(adds[0]![0].emoji.name, '5️⃣');
  assert.is(adds[0]![1].id, discord.user('alice').id);
  await discord.unreact('alice', msg.id, '5️⃣');
  await until(() => removes.length === 1, 2000, 'reaction remove');
  await discord.removeEmoji(msg.id, '4️⃣');
  await until(() => removeEmoji.length === 1, 2000, 'remove emoji');
  await discord.react('carol', msg.id, '3️⃣');
  await discord.removeAllReactions(msg.id);
  await until(() => removeAll.length === 1, 2000, 'remove all');
  assert.is(discord.reactions(msg.id).size, 0);
  // the bot's own reaction is recorded; a custom emoji that does not exist → 10014
  const err = await apiError(client.rest.put(Routes.channelMessageOwnReaction(channel.id, msg.id, 'nope:123456789012345678')));
  assert.is(err.code, 10014);
});

main('reactor lists page through REST with after/limit in ascending user id', async ({ discord, client }) => {
  const channel = client.channels.cache.get(discord.channel('posts').id) as TextChannel;
  const msg = await channel.send('who rated?');
  const names = ['alice', 'bob', 'carol', 'dave', 'erin'];
  for (const n of names) await discord.react(n, msg.id, '5️⃣');
  const fetched = await channel.messages.fetch({ message: msg.id, force: true });
  const reaction = fetched.reactions.cache.get('5️⃣')!;
  assert.is(reaction.count, 5);
  const ids: string[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await reaction.users.fetch({ limit: 2, ...(after ? { after } : {}) });
    if (page.size === 0) break;
    ids.push(...page.keys());
    after = [...page.keys()].at(-1);
  }
  const expected = names.map((n) => discord.user(n).id).sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));
  assert.equal(ids, expected);
});

main(
  'super reactions: gateway events carry burst and type, Get Reactions lists each type apart (type=1), counts split in count_details',
  async ({ discord, client }) => {
    const channel = client.channels.cache.get(discord.channel('posts').id) as TextChannel;
    const msg = await channel.send('super?');
    type Details = { type: number; burst: boolean };
    const adds = collect<[MessageReaction | PartialMessageReaction, { id: string }, Details]>(client, Events.MessageReactionAdd);
    const removes = collect<[MessageReaction | PartialMessageReaction, { id: string }, Details]>(client, Events.MessageReactionRemove);
    const raw: Array<{ t: string; d: Record<string, unknown> }> = [];
    client.on('raw', (packet: { t: string; d: Record<string, unknown> }) => {
      if (packet.t?.startsWith('MESSAGE_REACTION_')) raw.push(packet);
    });
    await discord.react('alice', msg.id, '5️⃣', { burst: true });
    await discord.react('bob', msg.id, '5️⃣');
    await discord.react('carol', msg.id, '5️⃣', { burst: true });
    await discord.react('carol', msg.id, '5️⃣'); // one person may hold both kinds
    await until(() => adds.length === 4, 2000, 'four reaction adds');
    assert.equal(
      adds.map(([, user, d]) => [user.id, d.burst, d.type]),
      [
        [discord.user('alice').id, true, 1],
        [discord.user('bob').id, false, 0],
        [discord.user('carol').id, true, 1],
        [discord.user('carol').id, false, 0],
      ],
    );
    assert.ok((raw[0]!.d.burst_colors as string[]).length > 0, 'a super reaction carries its colours');
    assert.equal(raw[1]!.d.burst_colors, [], 'a normal one none');
    await discord.react('alice', msg.id, '5️⃣', { burst: true });
    assert.is(raw.length, 4, 'the same super reaction again sends nothing');

    const fetched = await channel.messages.fetch({ message: msg.id, force: true });
    const reaction = fetched.reactions.cache.get('5️⃣')!;
    assert.equal([reaction.count, reaction.countDetails], [4, { burst: 2, normal: 2 }]);
    const list = (type?: number) =>
      client.rest.get(Routes.channelMessageReaction(channel.id, msg.id, encodeURIComponent('5️⃣')), {
        query: new URLSearchParams(type === undefined ? {} : { type: String(type) }),
      }) as Promise<Array<{ id: string }>>;
    const ids = (names: string[]) => names.map((n) => discord.user(n).id).sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));
    assert.equal(
      (await list()).map((u) => u.id),
      ids(['bob', 'carol']),
      'normal reactors only by default',
    );
    assert.equal(
      (await list(0)).map((u) => u.id),
      ids(['bob', 'carol']),
    );
    assert.equal(
      (await list(1)).map((u) => u.id),
      ids(['alice', 'carol']),
      'type=1: the super reactors',
    );
    const bad = await apiError(list(2));
    assert.is(bad.code, 50035);

    // A person takes back one kind: one removal with its burst flag; the other kind stays.
    await discord.unreact('carol', msg.id, '5️⃣', { burst: true });
    await until(() => removes.length === 1, 2000, 'the super reaction removed');
    assert.equal([removes[0]![1].id, removes[0]![2].burst, removes[0]![2].type], [discord.user('carol').id, true, 1]);
    assert.is(raw.at(-1)!.d.burst_colors, undefined, 'removals carry no colours');
    assert.equal(discord.reactions(msg.id).get('5️⃣'), [discord.user('bob').id, discord.user('carol').id]);
    assert.equal(discord.reactions(msg.id, { burst: true }).get('5️⃣'), [discord.user('alice').id]);
    // A moderator's Delete User Reaction takes every kind the person holds: one event per kind.
    await discord.react('alice', msg.id, '5️⃣');
    await until(() => adds.length === 5, 2000, 'alice adds a normal 5');
    await fetched.reactions.cache.get('5️⃣')!.users.remove(discord.user('alice').id);
    await until(() => removes.length === 3, 2000, "both of alice's reactions removed");
    assert.equal(
      removes
        .slice(1)
        .map(([, , d]) => d.burst)
        .sort(),
      [false, true],
    );
    assert.is(discord.reactions(msg.id, { burst: true }).get('5️⃣')!.length, 0);
  },
);

main('message history pages with after/before/limit, newest first', async ({ discord, client }) => {
  const channel = client.channels.cache.get(discord.channel('history').id) as TextChannel;
  const sent = [];
  for (let i = 0; i < 7; i++) sent.push(await discord.say('alice', 'history', `m${i}`));
  const page = await channel.messages.fetch({ after: sent[0]!.id, limit: 3 });
  assert.equal(
    [...page.values()].map((m) => m.content),
    ['m3', 'm2', 'm1'],
  );
  const older = await channel.messages.fetch({ before: sent[6]!.id, limit: 2 });
  assert.equal(
    [...older.values()].map((m) => m.content),
    ['m5', 'm4'],
  );
  const all = await channel.messages.fetch({ limit: 100 });
  assert.is(all.size, 7);
  const err = await apiError(client.rest.get(Routes.channelMessages(channel.id), { query: new URLSearchParams({ limit: '101' }) }));
  assert.is(err.code, 50035);
});

main('a slash command is answered with a reply, and the driver sees the final content', async ({ discord }) => {
  const res = await discord.runCommand('admin', 'posts', 'blog', { subcommand: 'show', options: { post: 'welcome' } });
  assert.is(res.content, 'post: welcome by admin');
  assert.is(res.ephemeral, false);
  const priv = await discord.runCommand('alice', 'posts', 'blog', { subcommand: 'show', options: { post: 'x' } });
  assert.is(priv.ephemeral, true, 'non-admins get an ephemeral answer (member.permissions computed)');
  assert.is(priv.flags & 64, 64);
  const latest = await discord.runCommand('alice', 'posts', 'blog', { subcommand: 'latest', options: { count: 3 } });
  assert.is(latest.embeds[0]?.title, 'latest 3');
  const where = await discord.runCommand('alice', 'posts', 'blog', { subcommand: 'where', options: { channel: 'forum' } });
  assert.is(where.content, `channel forum type ${ChannelType.GuildForum}`);
});

main('a deferred command with editReply and followUp resolves to the edited content and the follow-up', async ({ discord }) => {
  const res = await discord.runCommand('alice', 'posts', 'blog', { subcommand: 'slow' });
  assert.is(res.deferred, true);
  assert.is(res.content, 'done after a while');
  const followUps = await res.waitForFollowUps(1);
  assert.is(followUps[0]!.content, 'and one more thing');
});

main('autocomplete choices reach the driver', async ({ discord }) => {
  const choices = await discord.autocomplete('alice', 'posts', 'blog', { subcommand: 'show', focused: 'post', value: 'we' });
  assert.equal(
    choices.map((c) => c.name),
    ['welcome', 'weekly notes'],
  );
});

main('a second callback for one interaction fails with 40060', async ({ discord }) => {
  secondCallbackError = null;
  const res = await discord.runCommand('alice', 'posts', 'blog', { subcommand: 'twice' });
  assert.is(res.content, 'first');
  await until(() => secondCallbackError !== null, 2000, 'second callback');
  assert.instance(secondCallbackError, DiscordAPIError);
  assert.is((secondCallbackError as DiscordAPIError).code, 40060);
});

main('bodies over Discord limits fail with 50035: title 257, embeds over 6000, content 2001; empty → 50006', async ({ discord, client }) => {
  const channel = client.channels.cache.get(discord.channel('limits').id) as TextChannel;
  const before = discord.messages('limits').length;
  const e1 = await apiError(channel.send({ embeds: [{ title: 'x'.repeat(257) }] }));
  assert.is(e1.code, 50035);
  assert.ok(JSON.stringify(e1.rawError).includes('title'));
  const e2 = await apiError(channel.send({ embeds: [{ description: 'x'.repeat(3500) }, { description: 'y'.repeat(3000) }] }));
  assert.is(e2.code, 50035);
  const e3 = await apiError(channel.send({ content: 'x'.repeat(2001) }));
  assert.is(e3.code, 50035);
  const e4 = await apiError(client.rest.post(Routes.channelMessages(channel.id), { body: {} }));
  assert.is(e4.code, 50006);
  const e5 = await apiError(channel.send({ embeds: [{ fields: Array.from({ length: 26 }, (_, i) => ({ name: `f${i}`, value: 'v' })) }] }));
  assert.is(e5.code, 50035);
  assert.is(discord.messages('limits').length, before, 'nothing was created');
  const ok = await channel.send({ content: 'x'.repeat(2000) });
  assert.is(ok.content.length, 2000);
});

main('nonce + enforce_nonce twice creates one message', async ({ discord, client }) => {
  const channel = client.channels.cache.get(discord.channel('limits').id) as TextChannel;
  const before = discord.messages('limits').length;
  const a = await channel.send({ content: 'once', nonce: 'post-42', enforceNonce: true });
  const b = await channel.send({ content: 'once', nonce: 'post-42', enforceNonce: true });
  assert.is(a.id, b.id);
  assert.is(discord.messages('limits').length, before + 1);
});

main('a 429 on message create is waited out and the message arrives exactly once', async ({ discord, client }) => {
  const channel = client.channels.cache.get(discord.channel('limits').id) as TextChannel;
  const before = discord.messages('limits').length;
  discord.clearRequests();
  discord.failNext('POST /channels/{channel_id}/messages', { status: 429, retryAfter: 0.2 });
  const t0 = Date.now();
  const m = await channel.send('after the rate limit');
  assert.ok(Date.now() - t0 >= 200, `waited ${Date.now() - t0} ms`);
  assert.is(discord.messages('limits').length, before + 1);
  assert.is(discord.messages('limits').at(-1)!.id, m.id);
  assert.equal(
    discord.requests.filter((r) => r.route === 'POST /channels/{channel_id}/messages').map((r) => r.status),
    [429, 200],
  );
});

main('a 500 is retried by discord.js', async ({ discord, client }) => {
  const channel = client.channels.cache.get(discord.channel('limits').id) as TextChannel;
  discord.clearRequests();
  discord.failNext('POST /channels/{channel_id}/messages', { status: 500 });
  await channel.send('after a 500');
  assert.equal(
    discord.requests.filter((r) => r.route === 'POST /channels/{channel_id}/messages').map((r) => r.status),
    [500, 200],
  );
});

main('a dropped gateway resumes and replays what was dispatched while it was down, none lost, none doubled', async ({ discord, client }) => {
  const seen = collect<[Message]>(client, Events.MessageCreate);
  await discord.dropGateway({ code: 4000 });
  const sent = [];
  for (let i = 0; i < 3; i++) sent.push(await discord.say('alice', 'posts', `while down ${i}`));
  await discord.waitForResume();
  await discord.say('alice', 'posts', 'after resume');
  await until(() => seen.some(([m]) => m.content === 'after resume'), 3000, 'post-resume message');
  const contents = seen.map(([m]) => m.content);
  assert.equal(contents, ['while down 0', 'while down 1', 'while down 2', 'after resume']);
});

main('unknown routes answer 404 {message, code:0} and are logged; a bad Authorization answers 401', async ({ discord }) => {
  const r = await fetch(`${discord.restUrl}/v10/nothing/here`, { headers: { Authorization: `Bot ${discord.token}` } });
  assert.is(r.status, 404);
  assert.equal(await r.json(), { message: '404: Not Found', code: 0 });
  assert.ok(discord.requests.some((x) => x.route === 'GET /nothing/here' && x.status === 404));
  const u = await fetch(`${discord.restUrl}/v10/users/@me`, { headers: { Authorization: 'Bot wrong' } });
  assert.is(u.status, 401);
  assert.equal(await u.json(), { message: '401: Unauthorized', code: 0 });
});

main('GIVEN a client without MessageContent THEN others’ messages arrive with blank content', async ({ discord }) => {
  const blind = await login(discord, { intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages] });
  try {
    const got = once(blind, Events.MessageCreate) as Promise<[Message]>;
    await discord.say('alice', 'posts', 'secret words');
    const [m] = await got;
    assert.is(m.content, '');
    assert.is(m.author.username, 'alice');
  } finally {
    await blind.destroy();
  }
});

main('storm() streams many events quickly and the client receives every one', async ({ discord, client }) => {
  const seen = collect<[Message]>(client, Events.MessageCreate);
  const n = 3000;
  const t0 = Date.now();
  const created = await discord.storm(
    Array.from({ length: n }, (_, i) => ({ type: 'message' as const, user: 'bob', channel: 'history', content: `storm ${i}` })),
  );
  const ms = Date.now() - t0;
  assert.is(created.length, n);
  await until(() => seen.length >= n, 10_000, 'all storm messages');
  assert.is(seen.length, n);
  assert.is(seen.at(-1)![0].content, `storm ${n - 1}`);
  assert.ok(ms < 3000, `storm of ${n} took ${ms} ms`);
});

main.run();

// ============================================================================ permissions

const perms = suite<{ discord: DiscordEmulator; client: Client }>('emulator permissions');

perms.before(async (ctx) => {
  ctx.discord = await startDiscordEmulator({
    guilds: [{ name: 'strict', channels: [{ name: 'posts', type: 'text' }], botPermissions: DEFAULT_BOT_PERMISSIONS & ~PermissionFlagsBits.ManageMessages }],
    users: [{ username: 'alice' }],
  });
  ctx.client = await login(ctx.discord);
});

perms.after(async (ctx) => {
  await ctx.client?.destroy();
  await ctx.discord?.stop();
});

perms('GIVEN a bot without MANAGE_MESSAGES THEN removing another user’s reaction fails with 50013, its own works', async ({ discord, client }) => {
  const channel = client.channels.cache.get(discord.channel('posts').id) as TextChannel;
  const msg = await channel.send('rate');
  await discord.react('alice', msg.id, '5️⃣');
  await msg.react('4️⃣');
  const fetched = await channel.messages.fetch({ message: msg.id, force: true });
  const err = await apiError(fetched.reactions.cache.get('5️⃣')!.users.remove(discord.user('alice').id));
  assert.is(err.code, 50013);
  await fetched.reactions.cache.get('4️⃣')!.users.remove(client.user!.id);
  assert.equal([...discord.reactions(msg.id).keys()], ['5️⃣']);
  // granting the permission at runtime makes it work
  await discord.setBotPermissions('strict', DEFAULT_BOT_PERMISSIONS);
  await fetched.reactions.cache.get('5️⃣')!.users.remove(discord.user('alice').id);
  assert.is(discord.reactions(msg.id).size, 0);
});

perms.run();

// ============================================================================ tokens and shards

const shards = suite<{ discord: DiscordEmulator; clients: Client[] }>('emulator tokens and shards');

shards.before(async (ctx) => {
  ctx.clients = [];
  ctx.discord = await startDiscordEmulator({
    guilds: ['g0', 'g1', 'g2', 'g3'].map((name) => ({ name, channels: [{ name: `${name}-posts`, type: 'text' as const }] })),
    users: [{ username: 'alice' }],
  });
});

shards.after(async (ctx) => {
  for (const c of ctx.clients) await c.destroy();
  await ctx.discord?.stop();
});

shards('a bad token makes login reject with TokenInvalid', async ({ discord }) => {
  const client = new Client({ intents: ALL_INTENTS, rest: { api: discord.restUrl } });
  try {
    await client.login('not-the-token');
    assert.unreachable('login should fail');
  } catch (err) {
    assert.is((err as { code?: string }).code, 'TokenInvalid');
  } finally {
    await client.destroy();
  }
});

shards('IDENTIFY with a bad token is closed with 4004', async ({ discord }) => {
  const ws = new WebSocket(`${discord.gatewayUrl}?v=10&encoding=json`);
  await once(ws, 'message');
  ws.send(JSON.stringify({ op: 2, d: { token: 'bad', intents: 0, properties: {} } }));
  const [code] = (await once(ws, 'close')) as [number];
  assert.is(code, 4004);
});

shards('the resume buffer keeps the last resumeBufferSize frames: a RESUME within them replays them in order, an older one gets op 9', async () => {
  const discord = await startDiscordEmulator({ guilds: [{ name: 'g', channels: [{ name: 'posts' }] }], users: [{ username: 'alice' }], resumeBufferSize: 3 });
  type Frame = { op: number; t?: string; s?: number; d: any };
  const open = async () => {
    const ws = new WebSocket(`${discord.gatewayUrl}?v=10&encoding=json`);
    const frames: Frame[] = [];
    ws.on('message', (raw) => frames.push(JSON.parse(raw.toString()) as Frame));
    await until(() => frames.length > 0, 3000, 'HELLO');
    return { ws, frames };
  };
  try {
    const first = await open();
    const intents = GatewayIntentBits.Guilds | GatewayIntentBits.GuildMessages | GatewayIntentBits.MessageContent;
    first.ws.send(JSON.stringify({ op: 2, d: { token: discord.token, intents, properties: {} } }));
    await until(() => first.frames.some((f) => f.t === 'GUILD_CREATE'), 3000, 'GUILD_CREATE');
    const sessionId = first.frames.find((f) => f.t === 'READY')!.d.session_id as string;
    // Seven messages through a ring of three: it wraps around twice.
    for (let i = 0; i < 7; i++) await discord.say('alice', 'posts', `m${i}`);
    await until(() => first.frames.filter((f) => f.t === 'MESSAGE_CREATE').length === 7, 3000, 'seven messages');
    const last = first.frames.at(-1)!.s!;
    first.ws.close(4000);
    await once(first.ws, 'close');

    const expired = await open();
    expired.ws.send(JSON.stringify({ op: 6, d: { token: discord.token, session_id: sessionId, seq: last - 4 } }));
    await until(() => expired.frames.length > 1, 3000, 'the answer to an expired RESUME');
    assert.equal(expired.frames[1], { op: 9, d: false });
    expired.ws.close(4000);

    const resumed = await open();
    resumed.ws.send(JSON.stringify({ op: 6, d: { token: discord.token, session_id: sessionId, seq: last - 3 } }));
    await until(() => resumed.frames.some((f) => f.t === 'RESUMED'), 3000, 'RESUMED');
    assert.equal(
      resumed.frames.slice(1).map((f) => [f.s, f.t, f.d?.content]),
      [
        [last - 2, 'MESSAGE_CREATE', 'm4'],
        [last - 1, 'MESSAGE_CREATE', 'm5'],
        [last, 'MESSAGE_CREATE', 'm6'],
        [last + 1, 'RESUMED', undefined],
      ],
    );
    resumed.ws.close(1000);
  } finally {
    await discord.stop();
  }
});

shards('two clients as shards 0 and 1 of 2 each receive only their guilds and their events', async ({ discord, clients }) => {
  const a = await login(discord, { shards: [0], shardCount: 2 });
  clients.push(a);
  const b = await login(discord, { shards: [1], shardCount: 2 });
  clients.push(b);
  await discord.waitForReady({ shards: 2 });
  const names = ['g0', 'g1', 'g2', 'g3'];
  const expect0 = names.filter((n) => shardOf(discord.guild(n).id, 2) === 0).sort();
  const expect1 = names.filter((n) => shardOf(discord.guild(n).id, 2) === 1).sort();
  assert.ok(expect0.length > 0 && expect1.length > 0, 'guilds spread over both shards');
  assert.equal([...a.guilds.cache.values()].map((g) => g.name).sort(), expect0);
  assert.equal([...b.guilds.cache.values()].map((g) => g.name).sort(), expect1);
  const seenA = collect<[Message]>(a, Events.MessageCreate);
  const seenB = collect<[Message]>(b, Events.MessageCreate);
  for (const n of names) await discord.say('alice', `${n}-posts`, `hi ${n}`);
  await until(() => seenA.length + seenB.length === 4, 2000, 'four messages');
  assert.equal(seenA.map(([m]) => m.guild!.name).sort(), expect0);
  assert.equal(seenB.map(([m]) => m.guild!.name).sort(), expect1);
  assert.equal(
    discord
      .sessions()
      .map((s) => s.shard[0])
      .sort(),
    [0, 1],
  );
});

shards.run();
