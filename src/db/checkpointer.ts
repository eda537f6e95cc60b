// SQLite WAL checkpoints on a worker thread. A checkpoint copies the pages written to the WAL back into the
// database file and fsyncs it; done by the committing connection (SQLite's default, every 1,000 pages) it
// stalls the bot's event loop, which is what the slowest 1 % of gateway events waited for. The worker's own
// connection runs PASSIVE checkpoints (they never block readers or the writer) a few times a second; the
// bot's connection keeps a far larger automatic checkpoint as a backstop, and takes the default back if
// the worker ever stops.
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type SQLite from 'better-sqlite3';

/** The WAL size (pages) at which the bot's connection checkpoints itself while the worker runs. */
const BACKSTOP_PAGES = 10_000;
/** SQLite's default automatic checkpoint. */
const DEFAULT_PAGES = 1000;

// CommonJS, evaluated in the worker: one connection, a PASSIVE checkpoint every `everyMs`, closed on 'stop'.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.module);
const db = new Database(workerData.path);
const timer = setInterval(() => db.pragma('wal_checkpoint(PASSIVE)'), workerData.everyMs);
parentPort.on('message', () => {
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

export interface Checkpointer {
  /** Stops the worker (after the checkpoint it may be running) and closes its connection. */
  stop(): Promise<void>;
}

export function startCheckpointer(sqlite: SQLite.Database, path: string, opts: { everyMs?: number; onError?: (err: unknown) => void } = {}): Checkpointer {
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { path, module: createRequire(import.meta.url).resolve('better-sqlite3'), everyMs: opts.everyMs ?? 100 },
    // It holds a connection and a timer: a few MB. Past these limits it ends, and the fallback below applies.
    resourceLimits: { maxOldGenerationSizeMb: 8, maxYoungGenerationSizeMb: 1 },
  });
  worker.unref();
  sqlite.pragma(`wal_autocheckpoint = ${BACKSTOP_PAGES}`);
  // Once a spike is checkpointed, the WAL file is cut back to this size rather than kept at its largest.
  sqlite.pragma(`journal_size_limit = ${16 * 1024 * 1024}`);
  let stopping = false;
  worker.on('error', (err) => opts.onError?.(err));
  const exited = new Promise<void>((resolve) =>
    worker.once('exit', () => {
      // Checkpoints are the bot's own again (unless it is closing its connection anyway).
      if (!stopping && sqlite.open) sqlite.pragma(`wal_autocheckpoint = ${DEFAULT_PAGES}`);
      resolve();
    }),
  );
  return {
    async stop() {
      stopping = true;
      worker.ref(); // waiting for it must keep the process alive
      worker.postMessage('stop');
      await exited;
    },
  };
}
