// `blogcord demo`: the whole story on 127.0.0.1 without Discord. The local Discord (emulator/), the demo blog with
// its feed, a fresh SQLite database in a temporary folder, Redis (REDIS_URL, or a private redis-server), and the real
// bot (`blogcord start` as a child process) pointed at them; then the story of story.ts, shown live at /demo.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { DiscordEmulator } from '../emulator/index.ts';
import type { Config } from '../src/config.ts';
import type { Logger } from '../src/logger.ts';
import type { RedisHandle } from '../src/redis.ts';
import { blogPage, demoPage } from './page.ts';
import { loadSeed, packageRoot, POST_PATH, seedFeed } from './seed.ts';
import { CHANNEL, playStory, seedUsers } from './story.ts';
import { discordView, resolveEmbeds, resolveMentions, type DemoState } from './view.ts';

export interface DemoOptions {
  /** Keep the database (and a private Redis's data) in this folder instead of a temporary one. */
  dataDir?: string;
  /** The demo page's port (default: any free one). */
  port?: number;
  /** How long the members take to replay the discussion (default 20 s). */
  replayMs?: number;
  out?: NodeJS.WritableStream;
}

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => done(port));
    });
  });
}

const seconds = (since: number) => `${((performance.now() - since) / 1000).toFixed(1)} s`;

/** Runs the demo until SIGINT/SIGTERM; resolves once everything it started is stopped (and the temporary folder removed). */
export async function runDemo(config: Config, log: Logger, opts: DemoOptions = {}): Promise<void> {
  const t0 = performance.now() - process.uptime() * 1000; // from the process start, as a person waits for it
  const out = opts.out ?? process.stdout;
  const say = (line: string) => out.write(`${line}\n`);
  const keep = opts.dataDir !== undefined;
  const dir = keep ? resolve(opts.dataDir!) : mkdtempSync(join(tmpdir(), 'blogcord-demo-'));
  mkdirSync(dir, { recursive: true });

  const { post, comments } = loadSeed();
  const { users, userOf } = seedUsers(comments);
  const state: DemoState & { botReady: boolean } = {
    steps: [],
    finished: false,
    error: null,
    channel: null,
    thread: null,
    commands: [],
    blogPostUrl: '',
    botReady: false,
  };
  const step = (text: string) => {
    state.steps.push({ at: new Date().toISOString(), text });
    say(`  ${seconds(t0).padStart(7)}  ${text}`);
  };

  let discord: DiscordEmulator | null = null;
  let redis: RedisHandle | null = null;
  let bot: ChildProcess | null = null;
  let botExit: Promise<void> | null = null;
  let web: Server | null = null;
  let stopping = false;
  let stopped!: () => void;
  const done = new Promise<void>((r) => (stopped = r));
  let redisModule: Pick<typeof import('../src/redis.ts'), 'createRedis'> | null = null;
  const queuePrefix = `demo${randomBytes(4).toString('hex')}`;

  // What is being started right now (the emulator, Redis): a stop waits for it, then stops it with the rest.
  let starting: Promise<unknown> | null = null;
  const start = <T>(op: Promise<T>): Promise<T> => ((starting = op), op);

  const shutdown = async (why: string) => {
    if (stopping) return;
    stopping = true;
    say(`\nStopping the demo (${why})…`);
    await starting?.catch(() => {});
    if (bot && bot.exitCode === null && bot.signalCode === null) {
      bot.kill('SIGTERM');
      const timer = setTimeout(() => bot?.kill('SIGKILL'), 10_000);
      await botExit;
      clearTimeout(timer);
    }
    await discord?.stop().catch(() => {});
    if (web) {
      web.closeAllConnections();
      await new Promise<void>((r) => web!.close(() => r()));
    }
    if (redis && redisModule && process.env.REDIS_URL) {
      // A shared Redis keeps nothing of the demo: its queues have their own prefix.
      const conn = redisModule.createRedis(redis.url, { maxRetriesPerRequest: 1 });
      try {
        let cursor = '0';
        do {
          const [next, keys] = await conn.scan(cursor, 'MATCH', `${queuePrefix}:*`, 'COUNT', 500);
          if (keys.length) await conn.del(...keys);
          cursor = next;
        } while (cursor !== '0');
      } catch {
        // Redis went away: nothing to clean.
      } finally {
        conn.disconnect();
      }
    }
    await redis?.stop();
    if (!keep) rmSync(dir, { recursive: true, force: true });
    say(keep ? `Stopped. The data is kept in ${dir}.` : 'Stopped; the temporary data is removed.');
    stopped();
  };
  const onSignal = (signal: string) => void shutdown(signal);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    // The demo page and the blog (its feed and post page) on one local server.
    const apiPort = await freePort();
    const api = `http://127.0.0.1:${apiPort}`;
    let blog = '';
    web = createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      if (path === '/demo' || path === '/') return void res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(demoPage(POST_PATH));
      if (path === '/demo/state') {
        if (discord && state.botReady) Object.assign(state, discordView(discord, CHANNEL));
        return void res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(state));
      }
      if (path === '/feed/') return void res.writeHead(200, { 'content-type': 'application/rss+xml; charset=utf-8' }).end(seedFeed(blog, post));
      if (path === POST_PATH) return void res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(blogPage(post, blog + POST_PATH, api));
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    });
    await new Promise<void>((r, fail) => {
      web!.once('error', fail);
      web!.listen(opts.port ?? 0, '127.0.0.1', () => r());
    });
    blog = `http://127.0.0.1:${(web.address() as AddressInfo).port}`;
    state.blogPostUrl = blog + POST_PATH;
    say(`blogcord demo: open ${blog}/demo`);
    say(`  (the local Discord, the blog at ${blog}${POST_PATH} and the bot start on 127.0.0.1 only; Ctrl-C stops everything)`);
    step(`the demo page is up`);

    // The heavy modules (the emulator with Discord's schemas, the commands, ioredis) load after the URL is printed.
    const [{ startDiscordEmulator }, { commands }, { commandDefinitions }, { createRedis, ensureRedis, pingRedis }] = await start(
      Promise.all([import('../emulator/index.ts'), import('../commands/index.ts'), import('../src/discord/definitions.ts'), import('../src/redis.ts')]),
    );
    redisModule = { createRedis };
    if (stopping) return await done;
    // The local Discord with the seed's people, then Redis and the bot.
    discord = await start(startDiscordEmulator({ guilds: [{ name: 'Digital Strategy', channels: [{ name: CHANNEL, type: 'text' }] }], users }));
    discord.registerCommands(commandDefinitions(commands), { guild: 'Digital Strategy' });
    if (stopping) return await done;
    if (process.env.REDIS_URL) {
      if (!(await pingRedis(config.redisUrl))) throw new Error(`REDIS_URL does not answer; unset it to let the demo start its own redis-server`);
      redis = { url: config.redisUrl, stop: async () => {} };
    } else {
      redis = await start(ensureRedis(config, log, dir, { private: true }));
    }
    if (stopping) return await done;
    step(`the local Discord and Redis are up (data in ${dir})`);

    const logFile = createWriteStream(join(dir, 'bot.log'));
    const base = Object.fromEntries(
      Object.entries(process.env).filter(([k]) => !/^(DISCORD_|DATABASE_URL|REDIS_URL|HTTP_|FEED_|DIGEST_|QUEUE_PREFIX|SHARD_)/.test(k)),
    );
    bot = spawn(process.execPath, [join(packageRoot(), 'bin', 'blogcord.js'), 'start'], {
      cwd: dir,
      env: {
        ...base,
        DISCORD_TOKEN: discord.token,
        DISCORD_API_URL: discord.restUrl,
        DATABASE_URL: `sqlite:${join(dir, 'blogcord.sqlite')}`,
        REDIS_URL: redis.url,
        QUEUE_PREFIX: queuePrefix,
        HTTP_PORT: String(apiPort),
        HTTP_CORS_ORIGINS: blog,
        FEED_ALLOW_PRIVATE_NETWORK: 'true',
        FEED_POLL_INTERVAL_SECONDS: '3600',
        ANNOUNCEMENT_REFRESH_MS: '300',
        LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const ready = new Promise<void>((r, fail) => {
      const onData = (chunk: Buffer) => {
        logFile.write(chunk);
        if (state.botReady) return;
        output = (output + chunk.toString()).slice(-20_000);
        if (/blogcord is running/.test(output)) r();
      };
      bot!.stdout!.on('data', onData);
      bot!.stderr!.on('data', onData);
      bot!.once('exit', (code) => fail(new Error(`the bot stopped (status ${code}) before it was ready:\n${output.slice(-2000)}`)));
    });
    botExit = new Promise<void>((r) => bot!.once('exit', () => logFile.end(() => r())));
    bot.once('exit', (code, signal) => {
      if (!stopping) {
        state.error = `the bot stopped (status ${code ?? signal}); its log is in ${join(dir, 'bot.log')}`;
        say(`  ${state.error}`);
      }
    });
    await ready;
    await discord.waitForReady({ timeout: 30_000 });
    state.botReady = true;
    step(`the bot is running (the real \`blogcord start\`; its log: ${join(dir, 'bot.log')})`);

    await playStory(
      discord,
      { feedUrl: `${blog}/feed/`, comments, userOf, replayMs: opts.replayMs ?? 20_000 },
      {
        step,
        command: (c) => state.commands.push({ ...c, content: resolveMentions(discord!, c.content), embeds: resolveEmbeds(discord!, c.embeds) }),
        stopped: () => stopping,
      },
    );
    if (!stopping) {
      state.finished = true;
      step(`the story is finished: ${blog}/demo shows it (Ctrl-C stops the demo)`);
    }
  } catch (err) {
    if (!stopping) {
      state.error = (err as Error).message;
      say(`The demo failed: ${(err as Error).message}`);
      await shutdown('error');
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      throw err;
    }
  }
  await done;
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
}
