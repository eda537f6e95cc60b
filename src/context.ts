import { readFileSync } from 'node:fs';
import type { Config } from './config.ts';
import type { RootDb } from './db/index.ts';
import type { Queues } from './jobs/queues.ts';
import type { Logger } from './logger.ts';
import type { DiscordPort } from './services/discord-port.ts';
import type { Jobs } from './services/jobs.ts';
import type { Mirror } from './services/mirror.ts';
import type { ReactionProcessor } from './services/reaction-processor.ts';

/** What commands, listeners and job processors are handed: the process's shared handles. */
export interface AppContext {
  readonly config: Config;
  readonly log: Logger;
  readonly db: RootDb;
  readonly version: string;
  readonly discord: DiscordPort;
  /** BullMQ queues (producer side; adding fails fast while Redis is down). */
  readonly queues: Queues;
  /** The queue work that services and commands ask for, over those queues. */
  readonly jobs: Jobs;
  /** Resolves when Redis answers, rejects with the reason when it does not. */
  redisHealth(): Promise<void>;
  /** The discussion mirror (comment writer + post-thread cache) of `start`/`bot` processes; absent in `worker`. */
  readonly mirror?: Mirror;
  /** The rating processor (micro-batched rating writes) of `start`/`bot` processes; absent in `worker`. */
  readonly ratings?: ReactionProcessor;
}

/** blogcord's version, from the nearest package.json that names it (src/ and the build in dist/ both find it). */
export const VERSION: string = (() => {
  for (let dir = new URL('./', import.meta.url); ; dir = new URL('../', dir)) {
    try {
      const pkg = JSON.parse(readFileSync(new URL('package.json', dir), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'blogcord' && pkg.version) return pkg.version;
    } catch {
      // no package.json here: look further up
    }
    if (dir.pathname === '/') return '0.0.0';
  }
})();
