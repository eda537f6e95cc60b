import type { Client } from 'discord.js';
import { commands } from '../commands/index.ts';
import type { Config } from './config.ts';
import { VERSION, type AppContext } from './context.ts';
import { openDb } from './db/index.ts';
import { migrateToLatest } from './db/migrate.ts';
import { createDiscordClient } from './discord/client.ts';
import { DiscordSetupError } from './discord/deploy.ts';
import { createInteractionHandler } from './discord/interactions.ts';
import { wireListeners } from './discord/listener.ts';
import { startHttpServer } from './http/server.ts';
import { listeners } from './discord/listeners/index.ts';
import { createRest, RestDiscordPort } from './discord/rest-port.ts';
import { schedulers, workers } from './jobs/index.ts';
import { closeQueues, createQueues } from './jobs/queues.ts';
import { createJobs } from './jobs/port.ts';
import { watchSchedulers } from './jobs/sweep.ts';
import { registerSchedulers, startWorkers } from './jobs/worker.ts';
import type { Logger } from './logger.ts';
import { createProducerRedis, createRedis, ensureRedis } from './redis.ts';
import { missingTokenMessage } from './setup.ts';
import { createProcessMirror, createProcessRatings } from './wiring.ts';

export type Role = 'start' | 'bot' | 'worker';

/** The longest one shutdown step may take (the writers flush within 10 s; workers finish their jobs). */
const CLOSE_STEP_TIMEOUT_MS = 15_000;

/**
 * Runs one blogcord process until SIGINT/SIGTERM: config → migrations → Redis → Discord (and the workers).
 * Shutdown closes everything in the reverse order it was opened.
 */
export async function runProcess(role: Role, config: Config, log: Logger): Promise<void> {
  if (!config.discordToken) throw new DiscordSetupError(missingTokenMessage(config.discordApplicationId));
  const closers: Array<[string, () => Promise<unknown> | unknown]> = [];
  const shutdown = async (reason: string) => {
    log.info({ reason }, 'shutting down');
    for (const [name, close] of closers.reverse()) {
      // Each step gets a bounded time: a step that hangs (a Discord client stuck reconnecting to an
      // unreachable gateway) must not keep the process from stopping; what it held is repaired at the next start.
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
  };

  try {
    const db = await openDb(config, {
      backgroundCheckpoints: { onError: (err) => log.warn({ err }, 'the SQLite checkpoint thread stopped; the bot checkpoints the WAL itself again') },
    });
    closers.push(['database', () => db.destroy()]);
    for (const step of await migrateToLatest(db)) log.info({ migration: step.name, status: step.status }, 'migration applied');

    const redisHandle = await ensureRedis(config, log);
    closers.push(['private redis-server', () => redisHandle.stop()]);
    const redis = createProducerRedis(redisHandle.url);
    redis.on('error', (err) => log.warn({ err: err.message }, 'redis connection error'));
    closers.push(['redis', () => redis.quit()]);
    const queues = createQueues(redis, config.queuePrefix);
    closers.push(['queues', () => closeQueues(queues)]);

    let client: Client | null = null;
    if (role !== 'worker') client = createDiscordClient(config);
    // The gateway client's REST gets its token only at login; the workers start before that and use it too.
    client?.rest.setToken(config.discordToken);
    const rest = client?.rest ?? createRest(config);
    const discord = new RestDiscordPort(rest);
    const jobs = createJobs({ db, queues, config, log });
    // The discussion mirror's comment writer: closed (flushed) after Discord and before the queues and the database.
    const mirror = client ? createProcessMirror({ db, log, jobs }) : undefined;
    if (mirror) closers.push(['comment writer', () => mirror.close()]);
    // The rating processor (micro-batched rating writes): closed (flushed) like the comment writer.
    const ratings = client ? createProcessRatings({ db, discord, log, jobs }) : undefined;
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

    if (role !== 'bot') {
      const connection = createRedis(redisHandle.url);
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

    // The blog-facing HTTP API (HTTP_PORT; 0 disables it): closed before the workers and the database.
    if (role === 'start' && config.httpPort !== 0) {
      const http = await startHttpServer(ctx);
      closers.push(['http api', () => http.close()]);
    }

    if (client) {
      const c = client;
      // A process with a gateway client made both the mirror and the rating processor above.
      wireListeners(c, { ...ctx, mirror: mirror!, ratings: ratings! }, listeners);
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
        await c.login(config.discordToken);
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
  } catch (error) {
    await shutdown('startup failed');
    throw error;
  }

  log.info({ role, version: VERSION }, 'blogcord is running');
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      void shutdown(signal).then(resolve);
    };
    const onInt = () => stop('SIGINT');
    const onTerm = () => stop('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
  });
}
