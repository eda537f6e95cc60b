// The setup every end-to-end suite shares: a temporary folder, a database (a file-backed SQLite database in that
// folder, or a PostgreSQL schema of its own), the local Discord emulator with blogcord's commands, and a teardown
// that stops the bot processes the suite started, removes their Redis keys and all of the rest. Each bot process
// gets its own Redis queue prefix (support/bot.ts) unless a test shares one, so parallel runs never share queues.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChannelType, type APIMessage } from 'discord-api-types/v10';
import { suite, type Test } from 'uvu';
import { startDiscordEmulator, type DiscordEmulator, type EmulatorOptions } from '../../emulator/index.ts';
import { commandDefinitions } from '../../src/discord/definitions.ts';
import { KEYCAPS } from '../../src/domain/rating.ts';
import { createRedis } from '../../src/redis.ts';
import { upsertFeed } from '../../src/repositories/feeds.ts';
import { getPost, setPublishState, upsertPostFromFeed, type Post } from '../../src/repositories/posts.ts';
import { commands } from '../../commands/index.ts';
import { REDIS_URL, startBot, stopAllBots, type BotProcess, type StartBotOptions } from './bot.ts';
import { createTestDb, type TestDb, type TestDialect } from './db.ts';

/** What an end-to-end suite's tests find in their context. */
export interface E2eContext {
  /** A temporary folder, removed after the suite. */
  dir: string;
  t: TestDb;
  /** The SQLite file the bot and the test share (null on PostgreSQL or a database of the suite's own). */
  dbFile: string | null;
  discord: DiscordEmulator;
  /** The id of the emulator's first server. */
  guildId: string;
  /** The Redis queue prefixes of the bots started with startE2eBot; their keys are removed after the suite. */
  queuePrefixes: Set<string>;
}

export interface E2eSuiteOptions {
  /** Default sqlite (a file in `dir`, so the bot process and the test share it). */
  dialect?: TestDialect;
  /** A database of the suite's own instead (e.g. a private PostgreSQL cluster it stops and starts). */
  database?: () => Promise<TestDb>;
  emulator: EmulatorOptions;
  /** Register blogcord's slash commands in every server of the emulator (default false). */
  commands?: boolean;
}

/**
 * A uvu suite with the end-to-end setup before its tests and the teardown after them. A suite adds its own
 * `before`/`after` hooks after these (uvu runs hooks in the order they were added, so the bots are stopped
 * before a suite's own servers close).
 */
export function e2eSuite<Extra extends object = object>(name: string, options: E2eSuiteOptions): Test<E2eContext & Extra> {
  const test = suite<E2eContext & Extra>(name, {} as E2eContext & Extra);
  test.before(async (ctx) => {
    ctx.dir = mkdtempSync(join(tmpdir(), 'blogcord-e2e-'));
    ctx.queuePrefixes = new Set();
    const dialect = options.dialect ?? 'sqlite';
    ctx.dbFile = !options.database && dialect === 'sqlite' ? join(ctx.dir, 'blogcord.sqlite') : null;
    ctx.t = options.database ? await options.database() : await createTestDb(dialect, ctx.dbFile ? { file: ctx.dbFile } : {});
    ctx.discord = await startDiscordEmulator(options.emulator);
    const guilds = options.emulator.guilds ?? [];
    if (guilds[0]) ctx.guildId = ctx.discord.guild(guilds[0].name).id;
    if (options.commands) for (const g of guilds) ctx.discord.registerCommands(commandDefinitions(commands), { guild: g.name });
  });
  test.after(async (ctx) => {
    await stopAllBots();
    await ctx.discord?.stop();
    await ctx.t?.close();
    if (ctx.queuePrefixes?.size) await removeQueueKeys(ctx.queuePrefixes);
    if (ctx.dir) rmSync(ctx.dir, { recursive: true, force: true });
  });
  return test;
}

/** Starts blogcord against the suite's emulator and database (options as startBot's); its queue keys go after the suite. */
export async function startE2eBot(ctx: E2eContext, options: Omit<StartBotOptions, 'discord' | 'databaseUrl'> = {}): Promise<BotProcess> {
  if (options.queuePrefix) ctx.queuePrefixes.add(options.queuePrefix);
  const bot = await startBot({ discord: ctx.discord, databaseUrl: ctx.t.url, ...options });
  ctx.queuePrefixes.add(bot.queuePrefix);
  return bot;
}

/** Deletes every key of these queue prefixes from the test Redis. */
export async function removeQueueKeys(prefixes: Iterable<string>): Promise<void> {
  const redis = createRedis(REDIS_URL, { maxRetriesPerRequest: 3 });
  try {
    for (const prefix of prefixes) {
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length) await redis.del(...keys);
    }
  } finally {
    await redis.quit();
  }
}

/** The bot's announcements in a channel (a name in the first server, or an id), oldest first: its messages with an embed. */
export function botAnnouncements(discord: DiscordEmulator, channel: string): APIMessage[] {
  return discord.messages(channel).filter((m) => m.author.id === discord.botUser.id && (m.embeds?.length ?? 0) > 0);
}

/** An announcement is complete: a thread started from it (or `threadId`) and the bot's five keycap reactions on it. */
export function isCompleteAnnouncement(discord: DiscordEmulator, m: APIMessage, threadId = m.id): boolean {
  try {
    discord.thread(threadId);
  } catch {
    return false;
  }
  const reactions = discord.reactions(m.id);
  return KEYCAPS.every((e) => reactions.get(e)?.includes(discord.botUser.id));
}

export interface AnnouncedPost {
  post: Post;
  postId: string;
  /** The bot's announcement (in a forum: the thread's starter message). */
  announcement: APIMessage;
  announcementId: string;
  /** The channel of the announcement (in a forum: the thread). */
  channelId: string;
  /** The discussion thread (null with `thread: false`). */
  threadId: string | null;
}

export interface AnnouncedPostOptions {
  /** A text or forum channel of the first server (default 'posts'). */
  channel?: string;
  /** Start a thread from the announcement (default true; a forum post always is one). */
  thread?: boolean;
  /** The bot's five keycap reactions on the announcement (default false). */
  keycaps?: boolean;
  /** Default `key`. */
  title?: string;
}

/**
 * A post as the publish pipeline leaves it: the bot's announcement `**key** (announcement)` in the emulator (with
 * its thread and keycaps as asked) and the published row of a feed of https://blog.example/feed.xml in that channel.
 */
export async function announcedPost(
  ctx: Pick<E2eContext, 'discord' | 't' | 'guildId'>,
  key: string,
  options: AnnouncedPostOptions = {},
): Promise<AnnouncedPost> {
  const d = ctx.discord;
  const where = options.channel ?? 'posts';
  const content = `**${key}** (announcement)`;
  let announcement: APIMessage;
  let threadId: string | null = null;
  let channelId = d.channel(where).id;
  if (d.channel(where).type === ChannelType.GuildForum) {
    const thread = await d.createThread(d.botUser, where, key, { message: content });
    threadId = channelId = thread.id;
    announcement = d.message(thread.id)!;
  } else {
    announcement = await d.say(d.botUser, where, content);
  }
  if (options.keycaps) for (const k of KEYCAPS) await d.react(d.botUser, announcement, k);
  if (threadId === null && options.thread !== false) threadId = (await d.createThread(d.botUser, where, key, { fromMessage: announcement })).id;
  const { feed } = await upsertFeed(ctx.t.db, { guildId: ctx.guildId, url: 'https://blog.example/feed.xml', channelId: d.channel(where).id });
  const { post } = await upsertPostFromFeed(
    ctx.t.db,
    feed,
    {
      key,
      url: `https://blog.example/${key}`,
      title: options.title ?? key,
      author: 'Rink',
      publishedAt: new Date().toISOString(),
      summaryHtml: '<p>Hello</p>',
      searchText: key,
      imageUrl: null,
      contentHash: key,
    },
    'pending',
  );
  await setPublishState(ctx.t.db, post.id, { state: 'published', channelId, messageId: announcement.id, threadId });
  return {
    post: (await getPost(ctx.t.db, post.id))!,
    postId: post.id,
    announcement,
    announcementId: announcement.id,
    channelId,
    threadId,
  };
}
