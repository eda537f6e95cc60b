import { pino, type DestinationStream, type Logger } from 'pino';
import { redactCredentials } from './redact.ts';

export type { Logger };

/** Log fields that carry a token: replaced whole. */
const SECRET_PATHS = ['token', '*.token', 'config.discordToken', 'discordToken', 'headers.authorization'];

/**
 * Log fields that carry a URL or a message that may quote one (a feed, Redis, the database): kept, with the
 * password of any `scheme://user:password@` in them hidden.
 */
export const URL_PATHS = [
  'url',
  '*.url',
  'feedUrl',
  '*.feedUrl',
  'redisUrl',
  'databaseUrl',
  'db',
  'error',
  '*.error',
  'reason',
  'err.message',
  'err.stack',
  '*.err.message',
] as const;

/** Structured JSON logs on stderr (stdout stays free for `export` and `feed check`). Tokens and URL passwords are redacted. */
export function createLogger(level: string = process.env.LOG_LEVEL ?? 'info', destination: DestinationStream = pino.destination(2)): Logger {
  return pino(
    {
      name: 'blogcord',
      level,
      redact: {
        paths: [...SECRET_PATHS, ...URL_PATHS],
        censor: (value: unknown, path: string[]) => {
          const last = String(path.at(-1));
          if (last === 'token' || last === 'authorization' || last === 'discordToken') return '[redacted]';
          return typeof value === 'string' ? redactCredentials(value) : value;
        },
      },
    },
    destination,
  );
}
