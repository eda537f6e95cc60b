// Private PostgreSQL and Redis servers for tests that stop, crash or restart them (the machine's shared
// PostgreSQL on 5432 and Redis on 6379 are used by every other suite and must never be touched).
//
//   const pg = await startPrivatePostgres();   // pg.url = postgres://postgres@127.0.0.1:<port>/postgres
//   await pg.stop(); await pg.start();         // pg_ctl stop -m fast / start again, same data and port
//   await pg.destroy();                        // stop (immediate) and remove the cluster
//
//   const redis = await startPrivateRedis();   // redis.url = redis://127.0.0.1:<port>
//   await redis.restart();                     // SIGKILL and start again empty on the same port (a crash of a Redis that keeps nothing)
//   await redis.stop(); await redis.destroy();
//
// Everything here is asynchronous on purpose: the Discord emulator runs in the test process and must keep
// answering while a server starts or stops.
import { KEYCAPS } from '../../src/domain/rating.ts';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A TCP port nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

function run(cmd: string, args: string[], timeoutMs = 60_000): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stdout}\n${stderr}`));
      else resolve({ stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------ PostgreSQL

export interface PrivatePostgres {
  /** DATABASE_URL of the cluster's `postgres` database (user postgres, trust). */
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  /** `pg_ctl stop -m fast`: every connection is cut; the data stays. */
  stop(): Promise<void>;
  /** Starts the stopped cluster again on the same port. */
  start(): Promise<void>;
  /** Stops it (immediate) and removes its files. Idempotent. */
  destroy(): Promise<void>;
}

function postgresBinDir(): string {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) throw new Error('startPrivatePostgres: no PostgreSQL server binaries under /usr/lib/postgresql (apt-get install postgresql)');
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  if (!versions.length) throw new Error('startPrivatePostgres: no initdb under /usr/lib/postgresql/*/bin');
  return join(root, versions[0]!, 'bin');
}

/** initdb refuses to run as root: as root, run the server tools as the `postgres` OS user. */
async function asPostgresUser(): Promise<{ uid: number; gid: number } | null> {
  if (process.getuid?.() !== 0) return null;
  const uid = Number((await run('id', ['-u', 'postgres'])).stdout.trim());
  const gid = Number((await run('id', ['-g', 'postgres'])).stdout.trim());
  return { uid, gid };
}

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const bin = postgresBinDir();
  const owner = await asPostgresUser();
  const root = mkdtempSync(join(tmpdir(), 'blogcord-pg-'));
  const dataDir = join(root, 'data');
  if (owner) {
    chownSync(root, owner.uid, owner.gid);
    chmodSync(root, 0o700);
  }
  const tool = (name: string, args: string[]) => (owner ? run('runuser', ['-u', 'postgres', '--', join(bin, name), ...args]) : run(join(bin, name), args));
  const port = await freePort();
  let destroyed = false;
  let running = false;
  const start = async () => {
    await tool('pg_ctl', [
      '-D',
      dataDir,
      '-l',
      join(root, 'server.log'),
      '-o',
      `-p ${port} -k ${root} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off`,
      '-w',
      '-t',
      '30',
      'start',
    ]);
    running = true;
  };
  try {
    await tool('initdb', ['-D', dataDir, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
    await start();
  } catch (err) {
    rmSync(root, { recursive: true, force: true });
    throw err;
  }
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    dataDir,
    async stop() {
      if (!running) return;
      await tool('pg_ctl', ['-D', dataDir, '-m', 'fast', '-w', '-t', '30', 'stop']);
      running = false;
    },
    async start() {
      if (running) return;
      await start();
    },
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      if (running) await tool('pg_ctl', ['-D', dataDir, '-m', 'immediate', '-w', '-t', '30', 'stop']).catch(() => {});
      running = false;
      rmSync(root, { recursive: true, force: true });
    },
  };
}

// ------------------------------------------------------------------ Redis

export interface PrivateRedis {
  readonly url: string;
  readonly port: number;
  /** SIGKILL, then a new empty redis-server on the same port (nothing was kept: no RDB, no AOF). */
  restart(): Promise<void>;
  /** SIGKILL (a crash); `restart()` starts it again. */
  stop(): Promise<void>;
  /** Stops it and removes its directory. Idempotent. */
  destroy(): Promise<void>;
}

/** Resolves when something answers PING with PONG on the port. */
async function redisAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let data = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      data += chunk.toString();
      if (data.includes('\r\n')) done(data.startsWith('+PONG'));
    });
  });
}

export async function startPrivateRedis(): Promise<PrivateRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'blogcord-redis-'));
  const port = await freePort();
  let child: ChildProcess | null = null;
  let destroyed = false;

  const kill = async () => {
    const c = child;
    child = null;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGKILL');
    await exited;
  };
  const launch = async () => {
    let lastOutput = '';
    // The port was just freed by the killed server; retry briefly if the kernel has not released it yet.
    for (let attempt = 0; attempt < 20; attempt++) {
      const c = spawn(
        'redis-server',
        ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--maxmemory-policy', 'noeviction'],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      child = c;
      c.stdout!.on('data', (d) => (lastOutput = (lastOutput + d).slice(-2000)));
      c.stderr!.on('data', (d) => (lastOutput = (lastOutput + d).slice(-2000)));
      c.once('error', () => {});
      for (let i = 0; i < 50 && c.exitCode === null; i++) {
        if (await redisAnswers(port)) return;
        await sleep(50);
      }
      await kill();
      await sleep(100);
    }
    throw new Error(`startPrivateRedis: redis-server did not answer on port ${port}:\n${lastOutput}`);
  };

  try {
    await launch();
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    async restart() {
      await kill();
      await launch();
    },
    stop: kill,
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ------------------------------------------------------------------ the emulator's truth vs the export

/** A published post the test watches: its thread (comments) and its announcement (ratings). */
export interface WatchedPost {
  postId: string;
  threadId: string;
  announcementId: string;
}

/** The export's shape as far as these checks read it (`blogcord export` JSON or `exportData()`). */
export interface ExportLike {
  posts: Array<{
    id: string;
    rating: { count: number; distribution: Record<string, number> };
    ratings: Array<{ userId: string; stars: number }>;
    comments: Array<{ id: string; authorId: string | null; content: string | null; replyToId: string | null; deletedAt: string | null }>;
  }>;
}

/** The subset of the emulator these checks read. */
export interface TruthSource {
  readonly botUser: { id: string };
  messages(channel: string): Array<{ id: string; type: number; author: { id: string; bot?: boolean }; webhook_id?: string; content: string }>;
  reactions(message: string): Map<string, string[]>;
}

/** What Discord shows for a post: its comments (every non-bot reply in the thread) and each person's keycaps. */
export function discordTruth(
  discord: TruthSource,
  post: WatchedPost,
): { comments: Map<string, { authorId: string; content: string }>; keycaps: Map<string, number[]> } {
  const comments = new Map<string, { authorId: string; content: string }>();
  for (const m of discord.messages(post.threadId)) {
    if (m.author.bot || m.webhook_id || (m.type !== 0 && m.type !== 19) || m.id === post.announcementId) continue;
    comments.set(m.id, { authorId: m.author.id, content: m.content });
  }
  const keycaps = new Map<string, number[]>();
  for (const [emoji, users] of discord.reactions(post.announcementId)) {
    const stars = KEYCAPS.indexOf(emoji as (typeof KEYCAPS)[number]) + 1;
    if (stars === 0) continue;
    for (const u of users) if (u !== discord.botUser.id) keycaps.set(u, [...(keycaps.get(u) ?? []), stars]);
  }
  return { comments, keycaps };
}

/**
 * Every difference between the export and Discord for the watched posts; [] when they agree exactly:
 * each live comment is a non-bot message of the thread with the same author and text, none missing, none
 * twice; each person shows exactly one keycap and has exactly that rating; nobody else has a rating.
 */
export function mirrorDifferences(discord: TruthSource, exported: ExportLike, posts: readonly WatchedPost[]): string[] {
  const out: string[] = [];
  for (const p of posts) {
    const e = exported.posts.find((x) => x.id === p.postId);
    if (!e) {
      out.push(`post ${p.postId}: not in the export`);
      continue;
    }
    const truth = discordTruth(discord, p);
    const live = e.comments.filter((c) => c.deletedAt === null);
    const ids = live.map((c) => c.id);
    if (new Set(ids).size !== ids.length) out.push(`post ${p.postId}: a comment exported twice`);
    const missing = [...truth.comments.keys()].filter((id) => !ids.includes(id));
    const extra = ids.filter((id) => !truth.comments.has(id));
    if (missing.length) out.push(`post ${p.postId}: ${missing.length} of ${truth.comments.size} replies missing (${missing.slice(0, 3).join(', ')}…)`);
    if (extra.length) out.push(`post ${p.postId}: ${extra.length} comments that are not live replies in Discord (${extra.slice(0, 3).join(', ')}…)`);
    for (const c of live) {
      const t = truth.comments.get(c.id);
      if (t && (t.content !== c.content || t.authorId !== c.authorId))
        out.push(`post ${p.postId}: comment ${c.id} differs: ${JSON.stringify(c.content)} vs ${JSON.stringify(t.content)}`);
    }
    const several = [...truth.keycaps].filter(([, s]) => s.length !== 1);
    if (several.length) out.push(`post ${p.postId}: ${several.length} people still show several keycaps (${JSON.stringify(several.slice(0, 3))})`);
    const ratings = new Map(e.ratings.map((r) => [r.userId, r.stars]));
    if (ratings.size !== e.ratings.length) out.push(`post ${p.postId}: a person rated twice`);
    for (const [user, stars] of truth.keycaps) {
      if (stars.length === 1 && ratings.get(user) !== stars[0])
        out.push(`post ${p.postId}: ${user} shows ${stars[0]} but is rated ${ratings.get(user) ?? 'nothing'}`);
    }
    for (const user of ratings.keys()) if (!truth.keycaps.has(user)) out.push(`post ${p.postId}: ${user} is rated ${ratings.get(user)} but shows no keycap`);
    if (e.rating.count !== e.ratings.length) out.push(`post ${p.postId}: rating.count ${e.rating.count} but ${e.ratings.length} ratings`);
  }
  return out;
}
