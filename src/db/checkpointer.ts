// SQLite WAL checkpoints on a worker thread. A checkpoint copies the pages written to the WAL back into the
// database file and fsyncs it; done by the committing connection (SQLite's default, every 1,000 pages) it
// stalls the bot's event loop, which is what the slowest 1 % of gateway events waited for. The worker's own
// connection runs PASSIVE checkpoints (they never block readers or the writer) a few times a second; the
// bot's connection keeps a far larger automatic checkpoint as a backstop, and takes the default back if
// the worker ever fails.
//
// The worker runs only while this process writes: a worker thread is a whole V8 isolate (~10 MB of a process),
// and an idle process has nothing to checkpoint. The connection's change counter, read a few times a second,
// starts it at the first write and stops it (after a last checkpoint) once no write came for `idleMs`.
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type SQLite from 'better-sqlite3';

/** The WAL size (pages) at which the bot's connection checkpoints itself while the worker runs. */
const BACKSTOP_PAGES = 10_000;
/** SQLite's default automatic checkpoint. */
const DEFAULT_PAGES = 1000;

// CommonJS, evaluated in the worker: one connection, a PASSIVE checkpoint every `everyMs`, a last one and closed on 'stop'.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.module);
const db = new Database(workerData.path);
const timer = setInterval(() => db.pragma('wal_checkpoint(PASSIVE)'), workerData.everyMs);
parentPort.on('message', () => {
  clearInterval(timer);
  db.pragma('wal_checkpoint(PASSIVE)');
  db.close();
  parentPort.close();
});
`;

export interface CheckpointerOptions {
  /** How often the worker checkpoints (default 100 ms). */
  everyMs?: number;
  /** How often the connection's change counter is read to notice writes (default 250 ms). */
  watchMs?: number;
  /** How long without a write before the worker is stopped (default 10 s). */
  idleMs?: number;
  /** Hears of the worker failing (the connection then checkpoints itself, and no worker is started again). */
  onError?: (err: unknown) => void;
}

export interface Checkpointer {
  /** Whether the worker thread is running now (it runs while the connection writes). */
  readonly running: boolean;
  /** Stops the worker (after the checkpoint it may be running) and closes its connection. */
  stop(): Promise<void>;
}

interface Thread {
  readonly exited: Promise<void>;
  /** Asks the worker to checkpoint once more and end. */
  stop(keepAlive: boolean): void;
}

export function startCheckpointer(sqlite: SQLite.Database, path: string, opts: CheckpointerOptions = {}): Checkpointer {
  const { everyMs = 100, watchMs = 250, idleMs = 10_000 } = opts;
  const module = createRequire(import.meta.url).resolve('better-sqlite3');
  sqlite.pragma(`wal_autocheckpoint = ${BACKSTOP_PAGES}`);
  // Once a spike is checkpointed, the WAL file is cut back to this size rather than kept at its largest.
  sqlite.pragma(`journal_size_limit = ${16 * 1024 * 1024}`);
  // Rows this connection inserted, updated or deleted since it opened (triggers' rows included): a cheap read.
  const changes = sqlite.prepare('select total_changes()').pluck();
  let seen = changes.get() as number;
  let lastWrite = 0;
  /** The worker checkpointing now, if any. */
  let current: Thread | null = null;
  /** Set when a worker ended without being asked to: checkpoints are the connection's own from then on. */
  let failed = false;
  let stopping = false;
  /** Every worker not yet exited (one being stopped may still be finishing its checkpoint). */
  const threads = new Set<Thread>();

  const spawn = (): Thread => {
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { path, module, everyMs },
      // It holds a connection and a timer: a few MB. Past these limits it ends, and the fallback below applies.
      resourceLimits: { maxOldGenerationSizeMb: 8, maxYoungGenerationSizeMb: 1 },
    });
    worker.unref();
    worker.on('error', (err) => opts.onError?.(err));
    let asked = false;
    const thread: Thread = {
      exited: new Promise<void>((resolve) =>
        worker.once('exit', () => {
          threads.delete(thread);
          if (current === thread) current = null;
          if (!asked) {
            failed = true;
            clearInterval(watch);
            // Checkpoints are the bot's own again (unless it is closing its connection anyway).
            if (!stopping && sqlite.open) sqlite.pragma(`wal_autocheckpoint = ${DEFAULT_PAGES}`);
          }
          resolve();
        }),
      ),
      stop(keepAlive) {
        if (keepAlive) worker.ref(); // waiting for it must keep the process alive
        if (asked) return;
        asked = true;
        worker.postMessage('stop');
      },
    };
    threads.add(thread);
    return thread;
  };

  const watch = setInterval(() => {
    if (!sqlite.open || failed) return;
    const now = Date.now();
    const n = changes.get() as number;
    if (n !== seen) {
      seen = n;
      lastWrite = now;
      current ??= spawn();
    } else if (current && now - lastWrite >= idleMs) {
      current.stop(false);
      current = null;
    }
  }, watchMs);
  watch.unref();

  return {
    get running() {
      return current !== null;
    },
    async stop() {
      stopping = true;
      clearInterval(watch);
      current = null;
      const all = [...threads];
      for (const t of all) t.stop(true);
      await Promise.all(all.map((t) => t.exited));
    },
  };
}
