import { readFileSync } from 'node:fs';
import type { Config } from './config.ts';
import type { RootDb } from './db/index.ts';
import type { Queues } from './jobs/queues.ts';
import type { Logger } from './logger.ts';
import type { DiscordPort } from './services/discord-port.ts';
import type { Mirror } from './services/mirror.ts';
import type { ReactionProcessor } from './services/ratings.ts';

/** What commands, listeners and job processors are handed: the process's shared handles. */
export interface AppContext {
  readonly config: Config;
  readonly log: Logger;
  readonly db: RootDb;
  readonly version: string;
  readonly discord: DiscordPort;
  /** BullMQ queues (producer side; adding fails fast while Redis is down). */
  readonly queues: Queues;
  /** Resolves when Redis answers, rejects with the reason when it does not. */
  redisHealth(): Promise<void>;
  /** The discussion mirror (comment writer + post-thread cache) of `start`/`bot` processes; absent in `worker`. */
  readonly mirror?: Mirror;
  /** The rating processor (micro-batched rating writes) of `start`/`bot` processes; absent in `worker`. */
  readonly ratings?: ReactionProcessor;
}

export const VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
