// The setup every end-to-end suite shares: a temporary folder, a database (a file-backed SQLite database in that
// folder, or a PostgreSQL schema of its own), the local Discord emulator, and a teardown that stops the bot
// processes the suite started and removes all of it. Each bot process gets its own Redis queue prefix
// (support/bot.ts), so parallel runs never share queues.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite, type Test } from 'uvu';
import { startDiscordEmulator, type DiscordEmulator, type EmulatorOptions } from '../../emulator/index.ts';
import { commandDefinitions } from '../../src/discord/definitions.ts';
import { commands } from '../../commands/index.ts';
import { startBot, stopAllBots, type BotProcess, type StartBotOptions } from './bot.ts';
import { createTestDb, type TestDb, type TestDialect } from './db.ts';

/** What an end-to-end suite's tests find in their context. */
export interface E2eContext {
  /** A temporary folder, removed after the suite. */
  dir: string;
  t: TestDb;
  discord: DiscordEmulator;
  /** The id of the emulator's first server. */
  guildId: string;
}

export interface E2eSuiteOptions {
  /** Default sqlite (a file in `dir`, so the bot process and the test share it). */
  dialect?: TestDialect;
  emulator: EmulatorOptions;
  /** Register blogcord's slash commands in the first server (default false). */
  commands?: boolean;
}

/**
 * A uvu suite with the end-to-end setup before its tests and the teardown after them. A suite adds its own
 * `before`/`after` hooks after these (uvu runs hooks in the order they were added).
 */
export function e2eSuite<Extra extends object = object>(name: string, options: E2eSuiteOptions): Test<E2eContext & Extra> {
  const test = suite<E2eContext & Extra>(name, {} as E2eContext & Extra);
  test.before(async (ctx) => {
    ctx.dir = mkdtempSync(join(tmpdir(), 'blogcord-e2e-'));
    const dialect = options.dialect ?? 'sqlite';
    ctx.t = await createTestDb(dialect, dialect === 'sqlite' ? { file: join(ctx.dir, 'blogcord.sqlite') } : {});
    ctx.discord = await startDiscordEmulator(options.emulator);
    const first = options.emulator.guilds?.[0]?.name;
    if (first) ctx.guildId = ctx.discord.guild(first).id;
    if (options.commands && first) ctx.discord.registerCommands(commandDefinitions(commands), { guild: first });
  });
  test.after(async (ctx) => {
    await stopAllBots();
    await ctx.discord?.stop();
    await ctx.t?.close();
    if (ctx.dir) rmSync(ctx.dir, { recursive: true, force: true });
  });
  return test;
}

/** Starts blogcord against the suite's emulator and database (options as startBot's). */
export function startE2eBot(ctx: E2eContext, options: Omit<StartBotOptions, 'discord' | 'databaseUrl'> = {}): Promise<BotProcess> {
  return startBot({ discord: ctx.discord, databaseUrl: ctx.t.url, ...options });
}
