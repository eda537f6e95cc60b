// The idle footprint and the start time of each process role, run from the build (`npm run bench footprint`).
// For each database: a fresh database following one feed, the local Discord emulator and a local feed server;
// then `start` (gateway bot, workers and HTTP API in one process), `bot`, `worker` and `web` alone, each in its
// own process (FOOTPRINT_ROLES=bot,web picks some; BENCH_NODE_ARGS passes options to their node; FOOTPRINT_FLOOR=0 leaves out the floor), and, as the floor, a bare discord.js client with blogcord's intents, partials and cache settings
// (bench/bare-client-idle.mjs) that does nothing. After FOOTPRINT_SETTLE_SECONDS (60) past READY, the resident set
// (VmRSS) of each is read from /proc. The start time is from spawning the process to its READY log line (for the
// worker and web, which have no gateway, to 'blogcord is running'). The machine's load average is printed with the figures.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDb } from '../src/db/index.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { upsertFeed } from '../src/repositories/feeds.ts';
import { startDiscordEmulator } from '../emulator/index.ts';
import { createPgSchema } from '../test/support/db.ts';
import { feedItem, startFeedServer } from '../test/support/feed-server.ts';
import { newQueuePrefix, startBot, type BotProcess } from '../test/support/bot.ts';
import { report } from './figures.ts';

const SETTLE_MS = Number(process.env.FOOTPRINT_SETTLE_SECONDS ?? 60) * 1000;

const TARGET_MB: Record<string, number> = { start: 120, bot: 100, worker: 90, web: 70 };
const ROLES = ['start', 'bot', 'worker', 'web'] as const;
type Role = (typeof ROLES)[number];

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const READY = {
  start: /connected to Discord/,
  bot: /connected to Discord/,
  worker: /blogcord is running/,
  web: /blogcord is running/,
} as const;

interface Measured {
  rss: number;
  startMs: number;
  stop(): Promise<unknown>;
}

async function measureRole(role: Role, dialect: 'sqlite' | 'postgres'): Promise<Measured> {
  const dir = mkdtempSync(join(tmpdir(), 'blogcord-footprint-'));
  const schema = dialect === 'postgres' ? await createPgSchema() : null;
  const url = schema?.url ?? `sqlite:${join(dir, 'footprint.sqlite')}`;
  const discord = await startDiscordEmulator({
    guilds: [{ name: 'blog', channels: [{ name: 'posts', type: 'text' }] }],
    users: [{ username: 'alice', manageGuild: true }],
  });
  const feeds = await startFeedServer({ items: [1, 2, 3].map((n) => feedItem(n)) });
  const db = createDb({ databaseUrl: url });
  await migrateToLatest(db);
  await upsertFeed(db, { guildId: discord.guild('blog').id, url: feeds.url('/rss'), channelId: discord.channel('posts').id });
  await db.destroy();
  const spawned = performance.now();
  let bot: BotProcess | null = null;
  try {
    bot = await startBot({
      discord,
      databaseUrl: url,
      role,
      queuePrefix: newQueuePrefix(),
      env: { LOG_LEVEL: 'info', HTTP_PORT: role === 'bot' ? '0' : String(await freePort()) },
      readyPattern: null,
      nodeArgs: (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean),
    });
    await bot.waitForOutput(READY[role], 30_000);
    const startMs = performance.now() - spawned;
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const rss = rssMb(bot.child.pid!);
    const running = bot;
    return {
      rss,
      startMs,
      async stop() {
        await running.stop();
        await Promise.all([discord.stop(), feeds.close(), schema?.drop()]);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await bot?.stop();
    await Promise.all([discord.stop(), feeds.close(), schema?.drop()]);
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

async function measureFloor(): Promise<Measured> {
  const discord = await startDiscordEmulator({ guilds: [{ name: 'blog', channels: [{ name: 'posts', type: 'text' }] }], users: [] });
  const spawned = performance.now();
  const child: ChildProcess = spawn(process.execPath, ['bench/bare-client-idle.mjs'], {
    env: { ...process.env, DISCORD_API_URL: discord.restUrl, DISCORD_TOKEN: discord.token },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
    child.once('exit', (code) => reject(new Error(`the bare client exited with ${code}`)));
  });
  const startMs = performance.now() - spawned;
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  const rss = rssMb(child.pid!);
  return {
    rss,
    startMs,
    async stop() {
      child.kill('SIGTERM');
      await discord.stop();
    },
  };
}

export async function benchFootprint(dialects: readonly ('sqlite' | 'postgres')[]): Promise<void> {
  // One process at a time, so the start times are not slowed by each other.
  for (const dialect of dialects) {
    for (const role of (process.env.FOOTPRINT_ROLES?.split(',') as Role[] | undefined) ?? ROLES) {
      const m = await measureRole(role, dialect);
      report({
        name: `footprint.${dialect}.${role}.rss`,
        value: Math.round(m.rss),
        unit: 'MB',
        target: { op: '<=', value: TARGET_MB[role]! },
        note: `idle, one feed, ${SETTLE_MS / 1000} s after READY`,
      });
      report({
        name: `footprint.${dialect}.${role}.start_to_ready`,
        value: Math.round(m.startMs),
        unit: 'ms',
        ...(role === 'start' || role === 'bot' ? { target: { op: '<=', value: 1500 } } : {}),
      });
      await m.stop();
    }
  }
  if (process.env.FOOTPRINT_FLOOR === '0') return;
  const f = await measureFloor();
  report({
    name: 'footprint.floor.bare_client.rss',
    value: Math.round(f.rss),
    unit: 'MB',
    note: 'a discord.js client with the same intents, partials and caches, doing nothing',
  });
  report({ name: 'footprint.floor.bare_client.start_to_ready', value: Math.round(f.startMs), unit: 'ms' });
  await f.stop();
}
