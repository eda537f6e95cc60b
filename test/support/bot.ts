// Starts blogcord as a real process (`node bin/blogcord.js start|bot|worker`) against the local Discord emulator.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export interface BotProcess {
  readonly child: ChildProcess;
  readonly queuePrefix: string;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** Resolves when a log line matches. */
  waitForOutput(pattern: RegExp, timeout?: number): Promise<string>;
  /** Resolves with the exit code. */
  exited(): Promise<number | null>;
  /** SIGTERM and wait for the exit (graceful shutdown). */
  stop(): Promise<number | null>;
  /** SIGKILL: a crash. */
  kill(): Promise<void>;
}

export interface StartBotOptions {
  discord: { restUrl: string; token: string };
  databaseUrl: string;
  role?: 'start' | 'bot' | 'worker' | 'web';
  env?: Record<string, string>;
  /** How long the bot may take to say it is running (default 30 s). */
  readyTimeoutMs?: number;
  /** Share a queue prefix between processes of one test (workers and bots). */
  queuePrefix?: string;
  /** Wait for this output before resolving (default: 'blogcord is running'). */
  readyPattern?: RegExp | null;
  args?: string[];
  /** Options for node itself (e.g. --cpu-prof for a profile of the bot). */
  nodeArgs?: string[];
}

const running = new Set<BotProcess>();

export function newQueuePrefix(): string {
  return `t${randomBytes(5).toString('hex')}`;
}

export async function startBot(opts: StartBotOptions): Promise<BotProcess> {
  const queuePrefix = opts.queuePrefix ?? newQueuePrefix();
  const base = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !/^(DISCORD_|DATABASE_URL|REDIS_URL|HTTP_PORT|FEED_|DIGEST_|QUEUE_PREFIX|SHARD_)/.test(k)),
  );
  const env = {
    ...base,
    DISCORD_TOKEN: opts.discord.token,
    DISCORD_API_URL: opts.discord.restUrl,
    DATABASE_URL: opts.databaseUrl,
    REDIS_URL,
    QUEUE_PREFIX: queuePrefix,
    HTTP_PORT: '0',
    FEED_ALLOW_PRIVATE_NETWORK: 'true',
    LOG_LEVEL: process.env.BOT_LOG_LEVEL ?? 'info',
    ...opts.env,
  };
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), `${ROOT}bin/blogcord.js`, opts.role ?? 'start', ...(opts.args ?? [])], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const waiters = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    out += chunk.toString();
    if (out.length > 4_000_000) out = out.slice(-2_000_000);
    for (const w of waiters) w();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  const bot: BotProcess = {
    child,
    queuePrefix,
    output: () => out,
    waitForOutput(pattern, timeout = 20_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = pattern.exec(out);
          if (m) {
            cleanup();
            resolve(m[0]);
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out after ${timeout} ms waiting for ${pattern} in the bot's output:\n${out.slice(-3000)}`));
        }, timeout);
        const onExit = () => {
          setTimeout(() => {
            if (!pattern.test(out)) {
              cleanup();
              reject(new Error(`the bot exited (code ${child.exitCode}) before ${pattern}:\n${out.slice(-3000)}`));
            }
          }, 50);
        };
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
          child.off('exit', onExit);
        };
        waiters.add(check);
        child.once('exit', onExit);
        check();
      });
    },
    exited: () => exit,
    async stop() {
      running.delete(bot);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await exit;
      clearTimeout(timer);
      return code;
    },
    async kill() {
      running.delete(bot);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exit;
    },
  };
  running.add(bot);
  if (opts.readyPattern !== null) await bot.waitForOutput(opts.readyPattern ?? /blogcord is running/, opts.readyTimeoutMs ?? 30_000);
  return bot;
}

/** Stops every bot still running (for `after` hooks). */
export async function stopAllBots(): Promise<void> {
  await Promise.all([...running].map((b) => b.stop()));
}

/** Parses the JSON log lines of a bot. */
export function logLines(bot: BotProcess): Array<Record<string, unknown>> {
  return bot
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        return {};
      }
    });
}

/** Runs a one-shot CLI command (`export`, `deploy-commands`, …) with the same environment as a bot. */
export function runBlogcord(args: string[], env: Record<string, string>, cwd = ROOT): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const base = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !/^(DISCORD_|DATABASE_URL|REDIS_URL|HTTP_PORT|FEED_|DIGEST_|QUEUE_PREFIX|SHARD_)/.test(k)),
  );
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [`${ROOT}bin/blogcord.js`, ...args], { cwd, env: { ...base, LOG_LEVEL: 'warn', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The JSON of `blogcord export`. */
export async function exportJson(databaseUrl: string, guildId?: string): Promise<{ posts: any[]; digests: any[] }> {
  const r = await runBlogcord(['export', ...(guildId ? ['--guild', guildId] : [])], { DATABASE_URL: databaseUrl });
  if (r.code !== 0) throw new Error(`export failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout);
}
