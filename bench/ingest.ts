// Ingest: the emulator streams N gateway events (replies in post threads and keycap reactions, mixed) at the
// bot process; events per second until all are committed, event-to-commit latency, the bot's peak memory.
// Beside it, the ceiling: a bare discord.js client receiving the same stream with no handlers.
import { spawn } from 'node:child_process';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { createDb, type RootDb } from '../src/db/index.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { upsertFeed } from '../src/repositories/feeds.ts';
import { setPublishState, upsertPostFromFeed } from '../src/repositories/posts.ts';
import { startBot } from '../test/support/bot.ts';
import { createPgSchema } from '../test/support/db.ts';
import { startDiscordEmulator, type StormEvent } from '../test/support/discord/index.ts';
import { percentile, report } from './figures.ts';

const KEYCAPS = ['1️⃣', '2️⃣', '3️⃣', '4️⃣', '5️⃣'];
const POSTS = 100;
const USERS = 300;
const BATCH = 2000;

type Emulator = Awaited<ReturnType<typeof startDiscordEmulator>>;

async function emulatorWithPosts() {
  const users = Array.from({ length: USERS }, (_, i) => ({ username: `reader${i}` }));
  const discord = await startDiscordEmulator({ guilds: [{ name: 'blog', channels: [{ name: 'posts' }] }], users, validate: false, recordRequests: false, rateLimitHeaders: false });
  const posts: Array<{ messageId: string; threadId: string }> = [];
  for (let i = 0; i < POSTS; i++) {
    const m = await discord.say(discord.botUser, 'posts', `announcement ${i}`);
    const t = await discord.createThread(discord.botUser, 'posts', `post ${i}`, { fromMessage: m.id });
    posts.push({ messageId: m.id, threadId: t.id });
  }
  return { discord, posts };
}

/** 70% replies, 30% first keycap reactions of distinct (post, person) pairs: every event commits one row. */
function events(n: number, posts: Array<{ messageId: string; threadId: string }>): StormEvent[] {
  const out: StormEvent[] = [];
  let pair = 0;
  for (let i = 0; i < n; i++) {
    if (i % 10 < 3 && pair < POSTS * USERS) {
      const p = posts[pair % POSTS]!;
      out.push({ type: 'react', user: `reader${Math.floor(pair / POSTS)}`, message: p.messageId, emoji: KEYCAPS[pair % 5]! });
      pair++;
    } else {
      const p = posts[i % POSTS]!;
      out.push({ type: 'message', user: `reader${i % USERS}`, channel: p.threadId, content: `reply ${i} with a few words in it` });
    }
  }
  return out;
}

/** Streams the events in batches, noting when each batch was written. */
async function stream(discord: Emulator, list: StormEvent[]): Promise<number[]> {
  const emitted: number[] = [];
  for (let i = 0; i < list.length; i += BATCH) {
    await discord.storm(list.slice(i, i + BATCH));
    emitted.push(performance.now());
  }
  return emitted;
}

function peakRssMb(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function committed(db: RootDb): Promise<number> {
  const r = await sql<{ c: number; r: number }>`select (select count(*) from comments) as c, (select count(*) from ratings) as r`.execute(db.kysely);
  return Number(r.rows[0]!.c) + Number(r.rows[0]!.r);
}

export async function benchIngest(dialect: 'sqlite' | 'postgres', n: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'blogcord-ingest-'));
  const schema = dialect === 'postgres' ? await createPgSchema() : null;
  const url = schema?.url ?? `sqlite:${join(dir, 'ingest.sqlite')}`;
  const db = createDb({ databaseUrl: url });
  const { discord, posts } = await emulatorWithPosts();
  try {
    await migrateToLatest(db);
    const { feed } = await upsertFeed(db, { guildId: discord.guild('blog').id, url: 'https://bench.example/feed', channelId: discord.channel('posts').id });
    for (const [i, p] of posts.entries()) {
      const { post } = await upsertPostFromFeed(db, feed, { key: `p${i}`, url: `https://bench.example/p/${i}`, title: `Post ${i}`, author: null, publishedAt: new Date().toISOString(), summaryHtml: null, searchText: '', imageUrl: null, contentHash: 'h' }, 'pending');
      await setPublishState(db, post.id, { state: 'published', channelId: discord.channel('posts').id, messageId: p.messageId, threadId: p.threadId });
    }
    const list = events(n, posts);
    const bot = await startBot({ discord, databaseUrl: url, role: 'bot', env: { LOG_LEVEL: 'warn', ANNOUNCEMENT_REFRESH_MS: '5000' }, nodeArgs: [...(process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : []), ...(process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean)], readyPattern: null });
    await discord.waitForReady({ timeout: 30_000 });
    await new Promise((r) => setTimeout(r, 500));
    const start = performance.now();
    const commits: Array<[number, number]> = [];
    let done = false;
    const poller = (async () => {
      while (!done) {
        const c = await committed(db);
        commits.push([performance.now(), c]);
        if (c >= n) break;
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    const emitted = await stream(discord, list);
    const deadline = performance.now() + 300_000;
    while (commits.at(-1)![1] < n && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    done = true;
    await poller;
    const end = commits.find(([, c]) => c >= n)?.[0] ?? NaN;
    const seconds = (end - start) / 1000;
    const emitSeconds = (emitted.at(-1)! - start) / 1000;
    // Event k of batch b was written by emitted[b]; it is committed when the count first reaches k + 1.
    const latencies: number[] = [];
    for (let k = BATCH - 1; k < n; k += 97) {
      const at = commits.find(([, c]) => c > k)?.[0];
      if (at !== undefined) latencies.push(Math.max(0, at - emitted[Math.floor(k / BATCH)]!));
    }
    const peak = peakRssMb(bot.child.pid!);
    report({ name: `ingest.${dialect}`, value: n / seconds, unit: 'events/s', target: { op: '>=', value: dialect === 'sqlite' ? 10_000 : 5_000 }, note: `${n} events committed in ${seconds.toFixed(2)} s; the emulator wrote them in ${emitSeconds.toFixed(2)} s` });
    report({ name: `ingest.${dialect}.p50`, value: percentile(latencies, 50), unit: 'ms' });
    report({ name: `ingest.${dialect}.p99`, value: percentile(latencies, 99), unit: 'ms', target: { op: '<=', value: 100 } });
    report({ name: `ingest.${dialect}.peak_rss`, value: peak, unit: 'MB', target: { op: '<=', value: 250 }, note: `after ${n} events` });
    await bot.stop();
  } finally {
    await db.destroy();
    await discord.stop();
    await schema?.drop();
    rmSync(dir, { recursive: true, force: true });
  }
  await benchCeiling(n);
}

async function benchCeiling(n: number): Promise<void> {
  const { discord, posts } = await emulatorWithPosts();
  try {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/bare-client.ts'], { env: { ...process.env, DISCORD_TOKEN: discord.token, DISCORD_API_URL: discord.restUrl, EXPECT: String(n) }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    while (!out.includes('ready')) await new Promise((r) => setTimeout(r, 20));
    const start = performance.now();
    await stream(discord, events(n, posts));
    await new Promise((r) => child.once('exit', r));
    const seconds = (performance.now() - start) / 1000;
    report({ name: 'ingest.ceiling', value: n / seconds, unit: 'events/s', note: 'a bare discord.js client with no handlers, same stream' });
  } finally {
    await discord.stop();
  }
}
