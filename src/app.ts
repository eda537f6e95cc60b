// Each role loads only what it runs (imported when its step starts): `worker` and `web` never load the discord.js
// client, the commands or the listeners; `bot` never loads the job processors; only `start` and `web` load the
// HTTP server; `web` loads BullMQ and the push service only at its first push request, Discord's REST client only at
// its first expired attachment link, and the render libraries only at its first post view (docs/benchmarks.md). A
// module a role does not import costs it no memory (discord.js alone is ~45 MB of a process; @discordjs/rest, with
// the HTTP client it loads, ~15 MB; BullMQ ~5 MB).
import type { Client } from 'discord.js';
import type { Redis } from 'ioredis';
import type { Config } from './config.ts';
import { VERSION, type AppContext } from './context.ts';
import { openDb, type RootDb } from './db/index.ts';
import { migrateToLatest } from './db/migrate.ts';
import { lazyImport } from './lazy-require.ts';
import type { HttpContext } from './http/server.ts';
import type { Queues } from './jobs/queues.ts';
import type { Logger } from './logger.ts';
import { createProducerRedis, createRedis, ensureRedis, type RedisHandle } from './redis.ts';
import type { AttachmentUrlPort } from './services/discord-port.ts';
import type { PushEdgeJobs } from './services/push.ts';
import { createMediaService, redisMediaCache } from './services/media.ts';
import { DiscordSetupError, missingTokenMessage } from './setup.ts';

export type Role = 'start' | 'bot' | 'worker' | 'web';

/** The longest one shutdown step may take (the writers flush within 10 s; workers finish their jobs). */
const CLOSE_STEP_TIMEOUT_MS = 15_000;

type Closers = Array<[string, () => Promise<unknown> | unknown]>;

/**
 * Runs one blogcord process until SIGINT/SIGTERM: config → migrations → Redis → Discord (and the workers, and the
 * HTTP API). `web` is the HTTP API alone: no gateway connection, no workers, queues only to take push (WebSub
 * deliveries, publish hooks) when PUBLIC_URL is set (stateless; several can run behind a reverse proxy on PostgreSQL). Shutdown closes everything in the reverse order it was opened.
 */
export async function runProcess(role: Role, config: Config, log: Logger): Promise<void> {
  if (!config.discordToken && role !== 'web') throw new DiscordSetupError(missingTokenMessage(config.discordApplicationId));
  const closers: Closers = [];
  try {
    if (role === 'web') await startWebRole(config, log, closers);
    else await startDiscordRole(role, config, log, closers);
  } catch (error) {
    await closeAll(closers, log, 'startup failed');
    throw error;
  }
  log.info({ role, version: VERSION }, 'blogcord is running');
  await closeAll(closers, log, await untilSignal());
}

/** Resolves with the name of the first SIGINT or SIGTERM. */
function untilSignal(): Promise<string> {
  return new Promise<string>((resolve) => {
    const stop = (signal: string) => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      resolve(signal);
    };
    const onInt = () => stop('SIGINT');
    const onTerm = () => stop('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
  });
}

/** Closes in the reverse order of opening; each step gets a bounded time and its failure is logged, not thrown. */
async function closeAll(closers: Closers, log: Logger, reason: string): Promise<void> {
  log.info({ reason }, 'shutting down');
  for (const [name, close] of closers.reverse()) {
    // A step that hangs (a Discord client stuck reconnecting to an unreachable gateway) must not keep the process
    // from stopping; what it held is repaired at the next start.
    let timer: NodeJS.Timeout | undefined;
    try {
      log.debug({ name }, 'closing');
      const outcome = await Promise.race([
        Promise.resolve()
          .then(close)
          .then(() => 'closed' as const),
        new Promise<'timeout'>((resolve) => (timer = setTimeout(resolve, CLOSE_STEP_TIMEOUT_MS, 'timeout'))),
      ]);
      if (outcome === 'timeout') log.warn({ name, ms: CLOSE_STEP_TIMEOUT_MS }, 'closing took too long: left behind');
    } catch (err) {
      log.warn({ err, name }, 'error while closing');
    } finally {
      clearTimeout(timer);
    }
  }
  closers.length = 0;
}

/** The database, migrated to the latest schema. */
async function openDatabase(config: Config, log: Logger, closers: Closers): Promise<RootDb> {
  const db = await openDb(config, {
    backgroundCheckpoints: { onError: (err) => log.warn({ err }, 'the SQLite checkpoint thread stopped; the bot checkpoints the WAL itself again') },
  });
  closers.push(['database', () => db.destroy()]);
  for (const step of await migrateToLatest(db)) log.info({ migration: step.name, status: step.status }, 'migration applied');
  return db;
}

/** Redis (a private redis-server when REDIS_URL is unset and none answers) and the producer connection. */
async function openRedis(config: Config, log: Logger, closers: Closers): Promise<{ handle: RedisHandle; redis: Redis }> {
  const handle = await ensureRedis(config, log);
  closers.push(['private redis-server', () => handle.stop()]);
  const redis = createProducerRedis(handle.url);
  redis.on('error', (err) => log.warn({ err: err.message }, 'redis connection error'));
  closers.push(['redis', () => redis.quit()]);
  return { handle, redis };
}

/** The media redirects' service: refreshed attachment URLs cached in Redis, shared by every process of the installation. */
function mediaService(db: RootDb, log: Logger, redis: Redis, config: Config, discord: AttachmentUrlPort | null) {
  return createMediaService({ db, log, discord, cache: redisMediaCache(redis, config.queuePrefix) });
}

/** The blog-facing HTTP API (HTTP_PORT; 0 disables it in `start`, an ephemeral port in `web`): closed before the workers and the database. */
async function startHttp(ctx: HttpContext, closers: Closers, port?: number): Promise<void> {
  const { startHttpServer } = await import('./http/server.ts');
  const http = await startHttpServer(ctx, { answerCacheMs: ctx.config.httpAnswerCacheMs, ...(port === undefined ? {} : { port }) });
  closers.push(['http api', () => http.close()]);
}

/** `blogcord web`: the database, Redis (health, media cache, push into the queues) and the HTTP API. Discord only over REST, only for media. */
async function startWebRole(config: Config, log: Logger, closers: Closers): Promise<void> {
  const db = await openDatabase(config, log, closers);
  const { redis } = await openRedis(config, log, closers);
  if (!config.discordToken) log.warn('no DISCORD_TOKEN: expired attachment links cannot be renewed (GET /media answers 503 for them)');
  const discord = config.discordToken ? lazyRestPort(config) : null;
  // With PUBLIC_URL, hubs and publish hooks may reach any web process: it takes them into the queues the workers run.
  const jobs = config.publicUrl ? lazyPushJobs({ db, config, log }, redis, closers) : undefined;
  await startHttp(
    {
      config,
      log,
      db,
      version: VERSION,
      redisHealth: async () => void (await redis.ping()),
      media: mediaService(db, log, redis, config, discord),
      jobs,
    },
    closers,
    config.httpPort,
  );
}

/**
 * Discord's REST client for a `web` process, loaded at the first expired attachment link: @discordjs/rest and its
 * HTTP client (which compiles its WebAssembly parser as it loads) are ~15 MB of a process that may never need them.
 */
function lazyRestPort(config: Config): AttachmentUrlPort {
  const port = lazyImport(() => import('./discord/rest-port.ts').then(({ RestDiscordPort, createRest }) => new RestDiscordPort(createRest(config))));
  return {
    async refreshAttachmentUrls(urls) {
      return (await port()).refreshAttachmentUrls(urls);
    },
  };
}

/**
 * The queue work of push (WebSub deliveries, publish hooks) for a `web` process: the queues are opened (and BullMQ
 * loaded) at the first push request, so a web process that takes none writes nothing to Redis (BullMQ writes a
 * queue's keys when it opens) and holds no queue code.
 */
function lazyPushJobs(ctx: Pick<AppContext, 'db' | 'config' | 'log'>, redis: Redis, closers: Closers): PushEdgeJobs {
  let opened: Promise<{ queues: Queues; jobs: PushEdgeJobs; close: (queues: Queues) => Promise<void> }> | null = null;
  closers.push(['queues', async () => (opened ? opened.then((o) => o.close(o.queues)) : undefined)]);
  const jobs = async (): Promise<PushEdgeJobs> => {
    opened ??= Promise.all([import('./jobs/queues.ts'), import('./jobs/port.ts')]).then(([{ createQueues, closeQueues }, { createJobs }]) => {
      const queues = createQueues(redis, ctx.config.queuePrefix);
      return { queues, jobs: createJobs({ ...ctx, queues }), close: closeQueues };
    });
    return (await opened).jobs;
  };
  return {
    enqueuePushDelivery: async (feedId, body) => (await jobs()).enqueuePushDelivery(feedId, body),
    requestPoll: async (feedId) => (await jobs()).requestPoll(feedId),
    schedulePolls: async (feed, intervalSeconds) => (await jobs()).schedulePolls(feed, intervalSeconds),
    schedulePushMaintenance: async (feedId, everySeconds) => (await jobs()).schedulePushMaintenance(feedId, everySeconds),
  };
}

/** `start`, `bot` and `worker`: the gateway client and/or the workers, and in `start` the HTTP API too. */
async function startDiscordRole(role: Exclude<Role, 'web'>, config: Config, log: Logger, closers: Closers): Promise<void> {
  const db = await openDatabase(config, log, closers);
  const { handle, redis } = await openRedis(config, log, closers);
  const [{ createQueues, closeQueues }, { createJobs }, { createRest, RestDiscordPort }, { createProcessMirror, createProcessRatings, refreshFoldingJobs }] =
    await Promise.all([import('./jobs/queues.ts'), import('./jobs/port.ts'), import('./discord/rest-port.ts'), import('./wiring.ts')]);
  const queues = createQueues(redis, config.queuePrefix);
  closers.push(['queues', () => closeQueues(queues)]);

  const client = role === 'worker' ? null : (await import('./discord/client.ts')).createDiscordClient(config);
  // The gateway client's REST gets its token only at login; the workers start before that and use it too.
  client?.rest.setToken(config.discordToken!);
  const discord = new RestDiscordPort(client?.rest ?? createRest(config));
  const jobs = createJobs({ db, queues, config, log });
  // The writers' announcement refresh requests, folded per post (src/services/refresh-requests.ts): what is
  // folded is sent when the writers have flushed, before the queues close.
  const folding = client ? refreshFoldingJobs(jobs, config, log) : undefined;
  if (folding) closers.push(['announcement refresh requests', () => folding.close()]);
  const writerJobs = folding?.jobs ?? jobs;
  // The discussion mirror's comment writer: closed (flushed) after Discord and before the queues and the database.
  const mirror = client ? createProcessMirror({ db, log, jobs: writerJobs }) : undefined;
  if (mirror) closers.push(['comment writer', () => mirror.close()]);
  // The rating processor (micro-batched rating writes): closed (flushed) like the comment writer.
  const ratings = client ? createProcessRatings({ db, discord, log, jobs: writerJobs }) : undefined;
  if (ratings) closers.push(['rating writer', () => ratings.close()]);
  const ctx: AppContext = {
    mirror,
    ratings,
    config,
    log,
    db,
    version: VERSION,
    discord,
    queues,
    jobs,
    async redisHealth() {
      await redis.ping();
    },
  };

  if (role !== 'bot') await startWorkerSide(ctx, handle, redis, closers);
  if (role === 'start' && config.httpPort !== 0) await startHttp({ ...ctx, media: mediaService(db, log, redis, config, discord) }, closers);
  if (client) await connectGateway(client, { ...ctx, mirror: mirror!, ratings: ratings! }, closers);
}

/** The workers, their schedulers and the watchdog that registers the schedulers again after Redis lost them. */
async function startWorkerSide(ctx: AppContext, handle: RedisHandle, redis: Redis, closers: Closers): Promise<void> {
  const { log } = ctx;
  const [{ schedulers, workers }, { registerSchedulers, startWorkers }, { watchSchedulers }] = await Promise.all([
    import('./jobs/index.ts'),
    import('./jobs/worker.ts'),
    import('./jobs/sweep.ts'),
  ]);
  const connection = createRedis(handle.url);
  connection.on('error', (err) => log.warn({ err: err.message }, 'redis (workers) connection error'));
  const running = startWorkers(ctx, connection, workers);
  closers.push(['worker connection', () => connection.quit()]);
  closers.push(['workers', () => Promise.allSettled(running.map((w) => w.close()))]);
  await registerSchedulers(ctx, schedulers);
  // A FLUSHDB keeps the connection up: the schedulers it took are noticed missing and registered again.
  const watchdog = watchSchedulers(ctx, schedulers);
  closers.push(['scheduler watchdog', () => watchdog.stop()]);
  // A restarted or flushed Redis loses the schedules: register them again whenever the connection is back.
  // The connection the queues (and so the registration) use: the workers' one may be back before it.
  let first = redis.status !== 'ready';
  redis.on('ready', () => {
    if (first) return void (first = false);
    log.info('redis is back: registering job schedulers again');
    void registerSchedulers(ctx, schedulers);
  });
}

/** The gateway client: listeners, interactions, its connection's account in the log, then login. */
async function connectGateway(c: Client, ctx: AppContext & Required<Pick<AppContext, 'mirror' | 'ratings'>>, closers: Closers): Promise<void> {
  const { log, config } = ctx;
  const [{ wireListeners }, { listeners }, { createInteractionHandler }, { commands }] = await Promise.all([
    import('./discord/listener.ts'),
    import('./discord/listeners/index.ts'),
    import('./discord/interactions.ts'),
    import('../commands/index.ts'),
  ]);
  wireListeners(c, ctx, listeners);
  const onInteraction = createInteractionHandler(commands, ctx);
  c.on('interactionCreate', (i) => void onInteraction(i));
  c.on('error', (err) => log.error({ err }, 'discord client error'));
  c.on('warn', (message) => log.warn({ message }, 'discord client warning'));
  c.on('shardDisconnect', (event, id) => log.warn({ code: event.code, shard: id }, 'gateway disconnected'));
  c.on('shardResume', (id, replayed) => log.info({ shard: id, replayed }, 'gateway resumed'));
  // A lost connection discord.js reconnects by itself (shardDisconnect is only for one it gives up on).
  c.on('shardReconnecting', (id) => log.warn({ shard: id }, 'gateway connection lost: reconnecting'));
  c.on('shardError', (err, id) => log.warn({ err, shard: id }, 'gateway connection error'));
  // discord.js's own account of its connections (heartbeats, zombie detection, resumes): LOG_LEVEL=trace.
  if (log.isLevelEnabled('trace')) c.on('debug', (message) => log.trace({ message }, 'discord.js'));
  closers.push(['discord', () => c.destroy()]);
  try {
    await c.login(config.discordToken!);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'TokenInvalid')
      throw new DiscordSetupError('Discord refused DISCORD_TOKEN (401). Reset the token on the Bot page of your application and update DISCORD_TOKEN.');
    if (code === 'DisallowedIntents') {
      throw new DiscordSetupError('Discord refused the Message Content intent. Enable "Message Content Intent" on the Bot page of your application.');
    }
    throw error;
  }
}
