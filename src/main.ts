// The `blogcord` CLI: start | bot | worker | web | migrate [up|down|status] | deploy-commands [--guild ID] | export [--guild ID] | feed check URL
// | privacy forget --guild ID --user ID | digest render --guild ID [--week W] --out FILE | digest rebuild-rollups [--guild ID]
// | demo [--data DIR] [--port N]
import { parseArgs } from 'node:util';
import { loadConfig, type Config } from './config.ts';
import { VERSION } from './context.ts';
import { openDb, type RootDb } from './db/index.ts';
import { migrateDown, migrateToLatest, migrationStatus } from './db/migrate.ts';
import { USER_AGENT } from './feeds/user-agent.ts';
import { createLogger, type Logger } from './logger.ts';
import { redactCredentials } from './redact.ts';

const USAGE = `Usage: blogcord <command>

  start                       the bot, the workers and the HTTP API in one process (migrations first)
  bot                         only the Discord gateway bot (add SHARD_IDS/SHARD_COUNT to run a shard)
  worker                      only the background workers (publishing, catch-up, digests)
  web                         only the HTTP API (no gateway connection, no workers; stateless: run several
                              behind a reverse proxy on PostgreSQL). HTTP_PORT=0 here means an ephemeral port
  migrate [up|down|status]    apply, undo the last, or list the database migrations (default: up)
  deploy-commands [--guild ID]  register the slash commands (globally, or in one server for development)
  export [--guild ID]         print every post with its rating, ratings and comments, and the digests, as JSON
  feed check URL              fetch and parse a feed and print what would be posted (needs no Discord)
  privacy forget --guild ID --user ID
                              erase a member's replies, name, attachments and ratings in one server, as
                              /privacy forget does (for a member who can no longer run it)
  digest render --guild ID [--week 2026-W48] --out FILE.png
                              write the chart of a server's digest week (default: the week that ended last) without Discord
  demo [--data DIR] [--port N]
                              the whole story without Discord, on 127.0.0.1: a local Discord, a blog, the bot and
                              members replaying a discussion, shown live at the URL it prints (Ctrl-C stops it all)
  digest rebuild-rollups [--guild ID]
                              check the digest's rollups against a recount from the replies and ratings, and rebuild them
  version                     print the version, and whether the build (dist/) or the sources run
`;

export class UsageError extends Error {
  override name = 'UsageError';
}

async function withDb<T>(config: Config, fn: (db: RootDb) => Promise<T>): Promise<T> {
  const db = await openDb(config);
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
  const { values, positionals } = parseArgs({
    args: rest,
    options: {
      guild: { type: 'string' },
      user: { type: 'string' },
      week: { type: 'string' },
      out: { type: 'string' },
      data: { type: 'string' },
      port: { type: 'string' },
    },
    allowPositionals: true,
    strict: true,
  });
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
    case 'digest': {
      if (positionals[0] === 'rebuild-rollups' && positionals.length === 1) {
        if (values.guild !== undefined && !/^\d{17,20}$/.test(values.guild))
          throw new UsageError(`--guild takes a server id (17–20 digits), not "${values.guild}"`);
        const { repairDigestRollups } = await import('./services/digest.ts');
        const { drift, rows } = await withDb(config, async (db) => {
          await migrateToLatest(db);
          return repairDigestRollups(db, values.guild);
        });
        process.stdout.write(
          `${drift === 0 ? 'the rollups matched the recount' : `${drift} rollup row(s) differed from the recount`}; rebuilt: ${rows.buckets} quarter-hour buckets, ${rows.days} post-days, ${rows.people} people, ${rows.personDays} person-days, ${rows.postTotals} post totals${rows.postWaits === undefined ? '' : `, ${rows.postWaits} post waits`}\n`,
        );
        return 0;
      }
      if (positionals[0] !== 'render' || !values.guild || !values.out)
        throw new UsageError('usage: blogcord digest render --guild ID [--week 2026-W48] --out FILE.png | blogcord digest rebuild-rollups [--guild ID]');
      if (!/^\d{17,20}$/.test(values.guild)) throw new UsageError(`--guild takes a server id (17–20 digits), not "${values.guild}"`);
      if (values.week !== undefined && !/^\d{4}-W\d{2}$/.test(values.week))
        throw new UsageError(`--week takes an ISO week like 2026-W48, not "${values.week}"`);
      const { renderDigestImage } = await import('./services/digest.ts');
      const { writeFile } = await import('node:fs/promises');
      const out = values.out;
      const { period, chart } = await withDb(config, async (db) => {
        await migrateToLatest(db);
        try {
          return await renderDigestImage(db, values.guild!, values.week);
        } catch (err) {
          if (err instanceof RangeError) throw new UsageError(err.message);
          throw err;
        }
      });
      if (!chart) {
        process.stderr.write(`no replies or ratings in ${period.key} (${period.start} – ${period.end}): the digest has no chart; nothing written\n`);
        return 2;
      }
      await writeFile(out, chart.png);
      process.stdout.write(`wrote ${out} (${chart.width}×${chart.height} PNG, ${period.key}, ${period.start} – ${period.end})\n${chart.description}\n`);
      return 0;
    }
    case 'privacy': {
      const usage = 'usage: blogcord privacy forget --guild ID --user ID';
      if (positionals[0] !== 'forget' || positionals.length > 1 || !values.guild || !values.user) throw new UsageError(usage);
      const snowflake = /^\d{15,21}$/;
      if (!snowflake.test(values.guild) || !snowflake.test(values.user))
        throw new UsageError(`--guild and --user take Discord ids (numbers, as Discord's "Copy ID" gives them). Nothing was erased.\n${usage}`);
      const { forgetMember } = await import('./services/privacy.ts');
      const discord = config.discordToken
        ? await import('./discord/rest-port.ts').then(({ RestDiscordPort, createRest }) => new RestDiscordPort(createRest(config)))
        : undefined;
      const r = await withDb(config, async (db) => {
        await migrateToLatest(db);
        return forgetMember({ db, log, ...(discord ? { discord } : {}) }, values.guild!, values.user!);
      });
      process.stdout.write(
        `Erased in server ${values.guild}: ${r.comments} replies (text, name, ${r.attachments} attachments), ${r.tombstones} earlier tombstones' author id, ${r.ratings} ratings.\n` +
          `Rating reactions removed: ${r.reactionsRemoved}; left in Discord (they no longer count): ${r.reactionsLeft}${discord ? '' : ' (no DISCORD_TOKEN: none removed)'}.\n`,
      );
      return 0;
    }
    case 'deploy-commands': {
      const { deployCommands } = await import('./discord/deploy.ts');
      await deployCommands(config, log, { guildId: values.guild });
      return 0;
    }
    case 'demo': {
      const port = values.port === undefined ? undefined : Number(values.port);
      if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port <= 65535))
        throw new UsageError(`--port takes a port number (0–65535), not "${values.port}"`);
      if (values.data === '') throw new UsageError('--data takes a folder');
      const { runDemo } = await import('../demo/index.ts');
      await runDemo(config, log, { ...(values.data !== undefined ? { dataDir: values.data } : {}), ...(port !== undefined ? { port } : {}) });
      // The bot, the local Discord and Redis are stopped; a library's timer must not keep the process alive.
      process.exit(0);
    }
    case 'start':
    case 'bot':
    case 'worker':
    case 'web': {
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

// Errors a person can act on are printed as a message; anything else with its stack.
const EXPECTED_ERRORS = new Set([
  'ConfigError',
  'UsageError',
  'MigrationError',
  'RedisUnavailableError',
  'DatabaseUnavailableError',
  'FeedError',
  'DiscordSetupError',
]);

/** Runs the CLI and exits with its status (bin/blogcord.js calls this). */
export async function cli(argv = process.argv.slice(2)): Promise<void> {
  try {
    process.exitCode = await main(argv);
  } catch (error: unknown) {
    // Whatever is printed, a password in a URL it quotes (REDIS_URL, DATABASE_URL, a feed) is not.
    if (error instanceof Error && EXPECTED_ERRORS.has(error.name)) process.stderr.write(`${redactCredentials(error.message)}\n`);
    else process.stderr.write(`${redactCredentials(error instanceof Error ? (error.stack ?? error.message) : String(error))}\n`);
    process.exit(1);
  }
}
