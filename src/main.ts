// The `blogcord` CLI: start | bot | worker | migrate [up|down|status] | deploy-commands [--guild ID] | export [--guild ID] | feed check URL
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type Config } from './config.ts';
import { VERSION } from './context.ts';
import { createDb, type RootDb } from './db/index.ts';
import { migrateDown, migrateToLatest, migrationStatus } from './db/migrate.ts';
import { USER_AGENT } from './feeds/user-agent.ts';
import { createLogger, type Logger } from './logger.ts';

const USAGE = `Usage: blogcord <command>

  start                       the bot, the workers and the HTTP API in one process (migrations first)
  bot                         only the Discord gateway bot (add SHARD_IDS/SHARD_COUNT to run a shard)
  worker                      only the background workers (publishing, catch-up, digests)
  migrate [up|down|status]    apply, undo the last, or list the database migrations (default: up)
  deploy-commands [--guild ID]  register the slash commands (globally, or in one server for development)
  export [--guild ID]         print every post with its rating, ratings and comments, and the digests, as JSON
  feed check URL              fetch and parse a feed and print what would be posted (needs no Discord)
  version                     print the version, and whether the build (dist/) or the sources run
`;

export class UsageError extends Error {
  override name = 'UsageError';
}

async function withDb<T>(config: Config, fn: (db: RootDb) => Promise<T>): Promise<T> {
  const db = createDb(config);
  try {
    return await fn(db);
  } finally {
    await db.destroy();
  }
}

async function migrate(config: Config, log: Logger, action: string): Promise<void> {
  await withDb(config, async (db) => {
    if (action === 'status') {
      for (const m of await migrationStatus(db)) {
        process.stdout.write(`${m.executedAt ? 'applied' : 'pending'}  ${m.name}${m.executedAt ? `  ${m.executedAt.toISOString()}` : ''}\n`);
      }
      return;
    }
    const steps = action === 'down' ? await migrateDown(db) : await migrateToLatest(db);
    for (const s of steps) process.stdout.write(`${s.direction === 'Up' ? 'up  ' : 'down'}  ${s.name}  ${s.status}\n`);
    if (steps.length === 0) process.stdout.write(action === 'down' ? 'nothing to undo\n' : 'the database is up to date\n');
    log.debug({ steps: steps.length, db: db.description }, 'migrations done');
  });
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(USAGE);
    return command ? 0 : 1;
  }
  if (command === 'version' || command === '--version') {
    // bin/blogcord.js says which it started: the build in dist/ or the TypeScript sources.
    process.stdout.write(`blogcord ${VERSION} (${process.env.BLOGCORD_RUNS === 'build' ? 'build' : 'sources'})\n`);
    return 0;
  }
  const { values, positionals } = parseArgs({ args: rest, options: { guild: { type: 'string' } }, allowPositionals: true, strict: true });
  const config = loadConfig();
  const log = createLogger(config.logLevel);

  switch (command) {
    case 'migrate': {
      const action = positionals[0] ?? 'up';
      if (!['up', 'down', 'status'].includes(action)) throw new UsageError(`migrate takes up, down or status, not "${action}"`);
      await migrate(config, log, action);
      return 0;
    }
    case 'export': {
      const { exportData } = await import('./services/export.ts');
      const data = await withDb(config, async (db) => {
        await migrateToLatest(db);
        return exportData(db, { guildId: values.guild });
      });
      process.stdout.write(`${JSON.stringify(data, null, 2)}\n`);
      return 0;
    }
    case 'feed': {
      if (positionals[0] !== 'check' || !positionals[1]) throw new UsageError('usage: blogcord feed check URL');
      const { feedCheckReport } = await import('./services/feed-check.ts');
      const report = await feedCheckReport(positionals[1], {
        allowPrivateNetwork: config.feedAllowPrivateNetwork,
        timeoutMs: config.feedTimeoutSeconds * 1000,
        maxBytes: config.feedMaxBytes,
        userAgent: USER_AGENT,
      });
      // A failure, whatever it was, is one line on stderr and a non-zero status (no stack trace).
      (report.ok ? process.stdout : process.stderr).write(`${report.text}\n`);
      return report.ok ? 0 : 1;
    }
    case 'deploy-commands': {
      const { deployCommands } = await import('./discord/deploy.ts');
      await deployCommands(config, log, { guildId: values.guild });
      return 0;
    }
    case 'start':
    case 'bot':
    case 'worker': {
      const { runProcess } = await import('./app.ts');
      await runProcess(command, config, log);
      log.info({ role: command }, 'stopped');
      // Everything was closed in order. Exit now: a library's timer (the Discord client retrying a gateway that
      // is unreachable) must not keep a stopped process alive.
      process.exit(0);
    }
    default:
      throw new UsageError(`unknown command "${command}"\n\n${USAGE}`);
  }
}

export { USER_AGENT } from './feeds/user-agent.ts';

// Errors a person can act on are printed as a message; anything else with its stack.
const EXPECTED_ERRORS = new Set(['ConfigError', 'UsageError', 'MigrationError', 'RedisUnavailableError', 'FeedError', 'DiscordSetupError']);

/** Runs the CLI and exits with its status (bin/blogcord.js calls this). */
export async function cli(argv = process.argv.slice(2)): Promise<void> {
  try {
    process.exitCode = await main(argv);
  } catch (error: unknown) {
    if (error instanceof Error && EXPECTED_ERRORS.has(error.name)) process.stderr.write(`${error.message}\n`);
    else process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  }
}
