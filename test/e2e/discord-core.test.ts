// Issue 3 end to end: the real bot process (`blogcord start`) against the local Discord emulator.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { commands } from '../../commands/index.ts';
import { runBlogcord, startBot, stopAllBots, type BotProcess } from '../support/bot.ts';
import { createTestDb, type TestDb } from '../support/db.ts';
import { startDiscordEmulator } from '../../emulator/index.ts';

type Emulator = Awaited<ReturnType<typeof startDiscordEmulator>>;
interface Ctx {
  dir: string;
  t: TestDb;
  discord: Emulator;
  bot: BotProcess;
}

const test = suite<Ctx>('Discord core, end to end', {} as Ctx);

test.before(async (ctx) => {
  ctx.dir = mkdtempSync(join(tmpdir(), 'blogcord-core-'));
  ctx.t = await createTestDb('sqlite', { file: join(ctx.dir, 'core.sqlite') });
  ctx.discord = await startDiscordEmulator({
    guilds: [{ name: 'blog', channels: [{ name: 'posts' }, { name: 'forum', type: 'forum' }] }],
    users: [{ username: 'alice', manageGuild: true }, { username: 'bob' }],
  });
});

test.after(async (ctx) => {
  await stopAllBots();
  await ctx.discord?.stop();
  await ctx.t?.close();
  rmSync(ctx.dir, { recursive: true, force: true });
});

const env = (ctx: Ctx) => ({ DISCORD_TOKEN: ctx.discord.token, DISCORD_API_URL: ctx.discord.restUrl, DATABASE_URL: ctx.t.url });

test('deploy-commands registers every command over REST, in one server and globally', async (ctx) => {
  const guildId = ctx.discord.guild('blog').id;
  let r = await runBlogcord(['deploy-commands', '--guild', guildId], env(ctx));
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`registered ${commands.length} commands in server ${guildId}`));
  const names = commands.map((c) => c.data.name).sort();
  assert.equal(
    ctx.discord
      .commands('blog')
      .map((c) => c.name)
      .sort(),
    names,
  );
  r = await runBlogcord(['deploy-commands'], env(ctx));
  assert.is(r.code, 0, r.stderr);
  assert.equal(
    ctx.discord
      .commands()
      .map((c) => c.name)
      .sort(),
    names,
  );
  const admin = ctx.discord.commands().filter((c) => commands.find((x) => x.data.name === c.name)?.admin);
  assert.ok(
    admin.every((c) => c.default_member_permissions === String(1 << 5)),
    'admin commands need Manage Server',
  );
  assert.not.ok(
    ctx.discord.requests.some((q) => q.route === 'GET /gateway/bot'),
    'deploying needs no gateway connection',
  );
});

test('the bot connects, gets ready and answers /status ephemerally', async (ctx) => {
  ctx.bot = await startBot({ discord: ctx.discord, databaseUrl: ctx.t.url });
  await ctx.discord.waitForReady();
  await ctx.bot.waitForOutput(/connected to Discord/);
  const res = await ctx.discord.runCommand('bob', 'posts', 'status', { timeout: 10_000 });
  assert.ok(res.ephemeral);
  const fields = Object.fromEntries((res.embeds[0]?.fields ?? []).map((f) => [f.name, f.value]));
  assert.match(fields.Database ?? '', /✅ sqlite/);
  assert.match(fields.Redis ?? '', /✅/);
  assert.is(fields.Feeds, '0');
  assert.is(fields.Posts, '0');
  assert.match(fields.Version ?? '', /^\d+\.\d+\.\d+/);
});

test('a 429 on the reply is waited out and the reply arrives exactly once', async (ctx) => {
  ctx.discord.clearRequests();
  ctx.discord.failNext('POST /interactions/{interaction_id}/{interaction_token}/callback', { status: 429, retryAfter: 0.3 });
  const res = await ctx.discord.runCommand('bob', 'posts', 'status', { timeout: 10_000 });
  assert.ok(res.embeds.length === 1 && res.ephemeral);
  const callbacks = ctx.discord.requests.filter((r) => r.route === 'POST /interactions/{interaction_id}/{interaction_token}/callback');
  assert.equal(
    callbacks.map((r) => r.status),
    [429, 204].slice(0, callbacks.length),
  );
  assert.is(callbacks.filter((r) => r.status < 300).length, 1, 'exactly one accepted callback');
});

test('a 5xx is retried', async (ctx) => {
  ctx.discord.clearRequests();
  ctx.discord.failNext('PATCH /webhooks/{application_id}/{interaction_token}/messages/{message_id}', { status: 502 });
  const res = await ctx.discord.runCommand('bob', 'posts', 'status', { timeout: 10_000 });
  assert.is(res.embeds.length, 1);
  const edits = ctx.discord.requests.filter((r) => r.route === 'PATCH /webhooks/{application_id}/{interaction_token}/messages/{message_id}');
  assert.equal(
    edits.map((r) => r.status),
    [502, 200],
  );
});

test('a dropped gateway resumes without losing an event dispatched while it was down', async (ctx) => {
  await ctx.discord.dropGateway({ code: 4000 });
  // Dispatched while the socket is closed: the emulator keeps it for RESUME, as Discord does.
  const res = await ctx.discord.runCommand('bob', 'posts', 'status', { timeout: 10_000 });
  await ctx.discord.waitForResume();
  assert.is(res.embeds.length, 1);
  await ctx.bot.waitForOutput(/gateway resumed/);
  assert.match(ctx.bot.output(), /gateway connection lost: reconnecting/, 'the lost connection is in the log');
});

test('a non-admin running an admin command is refused and nothing changes', async (ctx) => {
  assert.ok(commands.find((c) => c.data.name === 'feed')?.admin, '/feed is an admin command');
  const before = ctx.discord.requests.length;
  // force: Discord would hide the command from bob (default_member_permissions); the bot must still refuse it.
  const res = await ctx.discord.runCommand('bob', 'posts', 'feed', {
    subcommand: 'add',
    options: { url: 'http://127.0.0.1:9/feed.xml', channel: 'posts' },
    force: true,
    timeout: 10_000,
  });
  assert.ok(res.ephemeral);
  assert.match(res.content, /Manage Server/);
  const writes = ctx.discord.requests
    .slice(before)
    .filter((r) => r.method !== 'GET' && !r.route.startsWith('POST /interactions') && !r.route.includes('/webhooks/'));
  assert.equal(writes, [], 'the refusal changed nothing in Discord');
  const list = await ctx.discord.runCommand('alice', 'posts', 'feed', { subcommand: 'list', timeout: 10_000 });
  assert.not.match(list.content + JSON.stringify(list.embeds), /127\.0\.0\.1:9/, 'no feed was added');
});

test('SIGTERM shuts the bot down cleanly', async (ctx) => {
  assert.is(await ctx.bot.stop(), 0);
  assert.match(ctx.bot.output(), /shutting down/);
});

test('SIGTERM during a Discord outage (the gateway unreachable) still stops the process, with status 0', async (ctx) => {
  const discord = await startDiscordEmulator({ guilds: [{ name: 'blog', channels: [{ name: 'posts' }] }] });
  const bot = await startBot({ discord, databaseUrl: ctx.t.url, role: 'bot' });
  await discord.stop();
  await new Promise((r) => setTimeout(r, 2000)); // the client is now retrying an unreachable gateway
  // stop() sends SIGTERM and only SIGKILLs after 15 s: 0 means the process ended by itself.
  assert.is(await bot.stop(), 0, bot.output().slice(-2000));
  assert.match(bot.output(), /"msg":"stopped"/);
});

test('a bad token ends the process with a clear message', async (ctx) => {
  const bot = await startBot({ discord: { restUrl: ctx.discord.restUrl, token: 'not-the-token' }, databaseUrl: ctx.t.url, readyPattern: null });
  assert.is(await bot.exited(), 1);
  assert.match(bot.output(), /Discord refused DISCORD_TOKEN/);
});

test.run();

// The interaction error boundary, with the real discord.js client in this process and two test-only commands.
const boundary = suite<{ discord: Emulator; client: import('discord.js').Client; logs: string[] }>('interaction error boundary', {} as never);

boundary.before(async (ctx) => {
  const { createDiscordClient } = await import('../../src/discord/client.ts');
  const { createInteractionHandler } = await import('../../src/discord/interactions.ts');
  const { UserError } = await import('../../src/errors.ts');
  const { pino } = await import('pino');
  ctx.discord = await startDiscordEmulator({ guilds: [{ name: 'blog', channels: [{ name: 'posts' }] }], users: [{ username: 'carol' }] });
  ctx.logs = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void ctx.logs.push(line) });
  const failing: import('../../src/discord/command.ts').Command[] = [
    {
      data: { name: 'oops', description: 'fails like a bug' },
      execute: async () => {
        throw new TypeError('undefined is not a function');
      },
    },
    {
      data: { name: 'nope', description: 'fails like a bad option' },
      execute: async () => {
        throw new UserError('That feed URL is not a feed.');
      },
    },
    {
      data: { name: 'late', description: 'defers, then fails' },
      execute: async (interaction) => {
        await interaction.deferReply();
        throw new Error('database went away');
      },
    },
  ];
  ctx.discord.registerCommands(
    failing.map((c) => c.data),
    { guild: 'blog' },
  );
  ctx.client = createDiscordClient({ discordApiUrl: ctx.discord.restUrl, shardIds: null, shardCount: null });
  const handler = createInteractionHandler(failing, { log } as never);
  ctx.client.on('interactionCreate', (i) => void handler(i));
  await ctx.client.login(ctx.discord.token);
  await ctx.discord.waitForReady();
});

boundary.after(async (ctx) => {
  await ctx.client?.destroy();
  await ctx.discord?.stop();
});

boundary('GIVEN a bug THEN the user gets an ephemeral message with a reference that is in the log', async (ctx) => {
  const res = await ctx.discord.runCommand('carol', 'posts', 'oops');
  assert.ok(res.ephemeral);
  const ref = /reference ([0-9A-F]{8})/.exec(res.content)?.[1];
  assert.ok(ref, res.content);
  const logged = ctx.logs.map((l) => JSON.parse(l) as { ref?: string; msg: string; err?: { message: string } }).find((l) => l.ref === ref);
  assert.is(logged?.msg, 'command failed');
  assert.match(logged?.err?.message ?? '', /undefined is not a function/);
  assert.not.match(res.content, /undefined is not a function/, 'internals are not shown to the user');
});

boundary('GIVEN a UserError THEN its message is the ephemeral answer', async (ctx) => {
  const res = await ctx.discord.runCommand('carol', 'posts', 'nope');
  assert.ok(res.ephemeral);
  assert.is(res.content, 'That feed URL is not a feed.');
});

boundary('GIVEN a failure after deferring THEN the deferred reply is edited with the reference', async (ctx) => {
  const res = await ctx.discord.runCommand('carol', 'posts', 'late', { timeout: 10_000 });
  assert.match(res.content, /Something went wrong on our side \(reference [0-9A-F]{8}\)/);
});

boundary.run();
