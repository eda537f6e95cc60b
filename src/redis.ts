import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { Redis, type RedisOptions } from 'ioredis';
import type { Config } from './config.ts';
import type { Logger } from './logger.ts';
import { redactUrl } from './redact.ts';

export class RedisUnavailableError extends Error {
  override name = 'RedisUnavailableError';
}

/** One connection for BullMQ workers: they must wait through outages, never give up a command. */
export function createRedis(url: string, opts: RedisOptions = {}): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, enableReadyCheck: true, ...opts });
}

/** Producers fail fast while Redis is down instead of queueing commands in memory. */
export function createProducerRedis(url: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, enableReadyCheck: true });
}

export async function pingRedis(url: string, timeoutMs = 2000): Promise<boolean> {
  const probe = new Redis(url, { lazyConnect: true, connectTimeout: timeoutMs, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  probe.on('error', () => {});
  try {
    await probe.connect();
    return (await probe.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => done(port));
    });
  });
}

export interface RedisHandle {
  url: string;
  /** Stops the private redis-server when this process started one. */
  stop(): Promise<void>;
}

/**
 * Finds Redis: REDIS_URL (or the default) if it answers; otherwise, when REDIS_URL is unset and a
 * `redis-server` binary is installed, a private one with its data under `data/redis` (the embedded default).
 * With `private` (and REDIS_URL unset) that private one is started whatever answers at the default.
 */
export async function ensureRedis(config: Config, log: Logger, dataDir = 'data', opts: { private?: boolean } = {}): Promise<RedisHandle> {
  // `private`: a private redis-server even when the default answers (the demo keeps its queues to itself).
  if (!opts.private && (await pingRedis(config.redisUrl))) return { url: config.redisUrl, stop: async () => {} };
  const hint =
    'Install Redis (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis) and start it, or set REDIS_URL to a running Redis (redis://host:6379).';
  if (!config.redisUrlIsDefault) throw new RedisUnavailableError(`REDIS_URL=${redactUrl(config.redisUrl)} does not answer. ${hint}`);
  if (spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status !== 0) {
    throw new RedisUnavailableError(`No Redis answers at ${redactUrl(config.redisUrl)} (the default REDIS_URL) and no redis-server is installed. ${hint}`);
  }
  const dir = resolve(dataDir, 'redis');
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const child: ChildProcess = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--save', '', '--maxmemory-policy', 'noeviction'],
    { stdio: 'ignore' },
  );
  const url = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 50; i++) {
    if (await pingRedis(url, 500)) {
      log.info(
        { url, dir },
        opts.private ? 'started a private redis-server' : 'started a private redis-server (REDIS_URL is unset and nothing answered at the default)',
      );
      return {
        url,
        stop: () =>
          new Promise<void>((done) => {
            if (child.exitCode !== null) return done();
            child.once('exit', () => done());
            child.kill('SIGTERM');
          }),
      };
    }
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new RedisUnavailableError(`Could not start a private redis-server. ${hint}`);
}
