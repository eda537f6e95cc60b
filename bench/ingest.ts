// Ingest: the emulator streams N gateway events (replies in post threads and keycap reactions, mixed) at the
// bot process; events per second until all are committed, the bot's peak memory. Then a paced stream (a busy
// server, BENCH_PACED_RATE events/s) gives the event-to-commit latency.
// Beside it, the ceiling: a bare discord.js client receiving the same stream with no handlers.
import { spawn } from 'node:child_process';
import { readFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { createDb, type RootDb } from '../src/db/index.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { upsertFeed } from '../src/repositories/feeds.ts';
import { setPublishState, upsertPostFromFeed } from '../src/repositories/posts.ts';
import { startBot } from '../test/support/bot.ts';
import { createPgSchema } from '../test/support/db.ts';
import type { APIUser } from 'discord-api-types/v10';
import { startDiscordEmulator, type StormEvent } from '../test/support/discord/index.ts';
import { percentile, report } from './figures.ts';

const KEYCAPS = ['1️⃣', '2️⃣', '3️⃣', '4️⃣', '5️⃣'];
const POSTS = 100;
const BATCH = 2000;

type Emulator = Awaited<ReturnType<typeof startDiscordEmulator>>;
type Posts = Array<{ messageId: string; threadId: string }>;

/** Enough readers that every vote of `events` events is a new (post, person) pair. */
const readersFor = (events: number) => Math.max(300, Math.ceil((events * 0.3) / POSTS) + 1);

async function emulatorWithPosts(readers: number) {
  const users = Array.from({ length: readers }, (_, i) => ({ username: `reader${i}` }));
  const discord = await startDiscordEmulator({ guilds: [{ name: 'blog', channels: [{ name: 'posts' }] }], users, validate: false, recordRequests: false, rateLimitHeaders: false });
  const posts: Posts = [];
  for (let i = 0; i < POSTS; i++) {
    const m = await discord.say(discord.botUser, 'posts', `announcement ${i}`);
    const t = await discord.createThread(discord.botUser, 'posts', `post ${i}`, { fromMessage: m.id });
    posts.push({ messageId: m.id, threadId: t.id });
  }
  return { discord, posts, readers: users.map((u) => discord.user(u.username)) };
}

/**
 * The event stream: 70% replies, 30% first keycap reactions of distinct (post, person) pairs, so every event
 * commits one row. `next(n)` continues where the previous call stopped.
 */
function eventSource(posts: Posts, readers: APIUser[]) {
  let i = 0;
  let pair = 0;
  return (n: number): StormEvent[] => {
    const out: StormEvent[] = [];
    for (const end = i + n; i < end; i++) {
      if (i % 10 < 3 && pair < POSTS * readers.length) {
        const p = posts[pair % POSTS]!;
        out.push({ type: 'react', user: readers[Math.floor(pair / POSTS)]!, message: p.messageId, emoji: KEYCAPS[pair % 5]! });
        pair++;
      } else {
        const p = posts[i % POSTS]!;
        out.push({ type: 'message', user: readers[i % readers.length]!, channel: p.threadId, content: `reply ${i} with a few words in it` });
      }
    }
    return out;
  };
}

function peakRssMb(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/**
 * Rows committed so far. Every event inserts one row and nothing is deleted, so on SQLite the largest rowid is
 * the count (one index probe, where count(*) scans; the poll runs every 5 ms beside the emulator).
 */
async function committed(db: RootDb): Promise<number> {
  const r =
    db.dialect === 'sqlite'
      ? await sql<{ c: number; r: number }>`select coalesce((select max(rowid) from comments), 0) as c, coalesce((select max(rowid) from ratings), 0) as r`.execute(db.kysely)
      : await sql<{ c: number; r: number }>`select (select count(*) from comments) as c, (select count(*) from ratings) as r`.execute(db.kysely);
  return Number(r.rows[0]!.c) + Number(r.rows[0]!.r);
}

/** Polls the committed count until it reaches `total`; returns [time, count] samples. */
async function watchCommits(db: RootDb, total: number, timeoutMs = 600_000): Promise<Array<[number, number]>> {
  const commits: Array<[number, number]> = [];
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const c = await committed(db);
    commits.push([performance.now(), c]);
    if (c >= total || performance.now() > deadline) return commits;
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Latency of every 97th event: when the count first passed it, minus when its batch was handed to the emulator. */
function latencies(commits: Array<[number, number]>, sent: Array<{ at: number; upTo: number }>, base: number): number[] {
  const out: number[] = [];
  let b = 0;
  let c = 0;
  for (let k = 0; k < sent.at(-1)!.upTo; k += 97) {
    while (sent[b]!.upTo <= k) b++;
    while (c < commits.length && commits[c]![1] - base <= k) c++;
    if (c < commits.length) out.push(Math.max(0, commits[c]![0] - sent[b]!.at));
  }
  return out;
}

export async function benchIngest(dialect: 'sqlite' | 'postgres', n: number): Promise<void> {
  const paced = Number(process.env.BENCH_PACED_EVENTS ?? 20_000);
  const rate = Number(process.env.BENCH_PACED_RATE ?? (dialect === 'sqlite' ? 5000 : 2500));
  const dir = mkdtempSync(join(tmpdir(), 'blogcord-ingest-'));
  const schema = dialect === 'postgres' ? await createPgSchema() : null;
  const url = schema?.url ?? `sqlite:${join(dir, 'ingest.sqlite')}`;
  const db = createDb({ databaseUrl: url });
  const { discord, posts, readers } = await emulatorWithPosts(readersFor(n + paced));
  try {
    await migrateToLatest(db);
    const { feed } = await upsertFeed(db, { guildId: discord.guild('blog').id, url: 'https://bench.example/feed', channelId: discord.channel('posts').id });
    for (const [i, p] of posts.entries()) {
      const { post } = await upsertPostFromFeed(db, feed, { key: `p${i}`, url: `https://bench.example/p/${i}`, title: `Post ${i}`, author: null, publishedAt: new Date().toISOString(), summaryHtml: null, searchText: '', imageUrl: null, contentHash: 'h' }, 'pending');
      await setPublishState(db, post.id, { state: 'published', channelId: discord.channel('posts').id, messageId: p.messageId, threadId: p.threadId });
    }
    const next = eventSource(posts, readers);
    const burst = next(n);
    const bot = await startBot({ discord, databaseUrl: url, role: 'bot', env: { LOG_LEVEL: process.env.BENCH_BOT_LOG_LEVEL ?? 'warn', ANNOUNCEMENT_REFRESH_MS: '5000' }, nodeArgs: [...(process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : []), ...(process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean)], readyPattern: null });
    const outputFile = process.env.BENCH_BOT_OUTPUT;
    const dumping = outputFile ? setInterval(() => writeFileSync(outputFile, bot.output()), 2000) : undefined;
    await discord.waitForReady({ timeout: 30_000 });
    await new Promise((r) => setTimeout(r, 500));

    // 1. The burst: all n events as fast as the emulator writes them (throughput; latency is then the backlog).
    const start = performance.now();
    const watching = watchCommits(db, n);
    const sent: Array<{ at: number; upTo: number }> = [];
    for (let i = 0; i < burst.length; i += BATCH) {
      sent.push({ at: performance.now(), upTo: Math.min(burst.length, i + BATCH) });
      await discord.storm(burst.slice(i, i + BATCH), { keep: false });
    }
    const emitSeconds = (performance.now() - start) / 1000;
    const commits = await watching;
    const seconds = (commits.find(([, c]) => c >= n)?.[0] ?? NaN) / 1000 - start / 1000;
    const burstLatency = latencies(commits, sent, 0);
    const burstPeak = peakRssMb(bot.child.pid!);

    // 2. Paced: `paced` more events at `rate` per second, in 10 ms ticks (the event-to-commit latency of a busy server),
    //    after 3 s for the burst's aftermath (its WAL checkpoint, a full garbage collection) to pass.
    await new Promise((r) => setTimeout(r, 3000));
    const perTick = Math.max(1, Math.round(rate / 100));
    const pacedSent: Array<{ at: number; upTo: number }> = [];
    const pacedWatch = watchCommits(db, n + paced);
    const t0 = performance.now();
    for (let done = 0, tick = 0; done < paced; tick++) {
      const wait = t0 + tick * 10 - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const list = next(Math.min(perTick, paced - done));
      pacedSent.push({ at: performance.now(), upTo: done + list.length });
      await discord.storm(list, { keep: false });
      done += list.length;
    }
    const offered = paced / ((performance.now() - t0) / 1000);
    const pacedLatency = latencies(await pacedWatch, pacedSent, n);
    const peak = peakRssMb(bot.child.pid!);

    report({ name: `ingest.${dialect}`, value: n / seconds, unit: 'events/s', target: { op: '>=', value: dialect === 'sqlite' ? 10_000 : 5_000 }, note: `a burst of ${n} events committed in ${seconds.toFixed(2)} s; the emulator wrote them in ${emitSeconds.toFixed(2)} s` });
    report({ name: `ingest.${dialect}.burst.p50`, value: percentile(burstLatency, 50), unit: 'ms', note: 'the backlog of a burst sent faster than it is committed' });
    report({ name: `ingest.${dialect}.burst.p99`, value: percentile(burstLatency, 99), unit: 'ms' });
    report({ name: `ingest.${dialect}.paced.p50`, value: percentile(pacedLatency, 50), unit: 'ms', note: `${paced} events at ${Math.round(offered)} events/s` });
    report({ name: `ingest.${dialect}.paced.p99`, value: percentile(pacedLatency, 99), unit: 'ms', target: { op: '<=', value: 100 }, note: 'event written by the emulator → row committed, includes the 20 ms batching window' });
    report({ name: `ingest.${dialect}.peak_rss`, value: peak, unit: 'MB', target: { op: '<=', value: 250 }, note: `after ${n + paced} events (${burstPeak.toFixed(0)} MB after the burst)` });
    clearInterval(dumping);
    if (outputFile) writeFileSync(outputFile, bot.output());
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
  const { discord, posts, readers } = await emulatorWithPosts(readersFor(n));
  try {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/bare-client.ts'], { env: { ...process.env, DISCORD_TOKEN: discord.token, DISCORD_API_URL: discord.restUrl, EXPECT: String(n) }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    while (!out.includes('ready')) await new Promise((r) => setTimeout(r, 20));
    const start = performance.now();
    const list = eventSource(posts, readers)(n);
    for (let i = 0; i < list.length; i += BATCH) await discord.storm(list.slice(i, i + BATCH), { keep: false });
    await new Promise((r) => child.once('exit', r));
    const seconds = (performance.now() - start) / 1000;
    report({ name: 'ingest.ceiling', value: n / seconds, unit: 'events/s', note: 'a bare discord.js client with no handlers, same stream' });
  } finally {
    await discord.stop();
  }
}
