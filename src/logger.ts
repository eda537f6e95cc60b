import { pino, type Logger } from 'pino';

export type { Logger };

/** Structured JSON logs on stderr (stdout stays free for `export` and `feed check`). The token is redacted. */
export function createLogger(level: string = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino(
    {
      name: 'blogcord',
      level,
      redact: { paths: ['token', '*.token', 'config.discordToken', 'discordToken', 'headers.authorization'], censor: '[redacted]' },
    },
    pino.destination(2),
  );
}
