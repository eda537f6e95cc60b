import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { AppContext } from '../context.ts';
import type { QueueName } from './queues.ts';

/** A queue's processor: `(ctx) => async (job) => …`, small, idempotent and testable without Redis. */
export interface WorkerDefinition {
  queue: QueueName;
  concurrency: number;
  processor: (ctx: AppContext) => (job: Job) => Promise<unknown>;
}

/** Something to (re-)register at every worker start and whenever Redis comes back: job schedulers. */
export type SchedulerSetup = (ctx: AppContext) => Promise<void>;

/** Starts the workers; each waits through Redis outages (connection with maxRetriesPerRequest: null). */
export function startWorkers(ctx: AppContext, connection: Redis, definitions: readonly WorkerDefinition[]): Worker[] {
  return definitions.map((def) => {
    const worker = new Worker(def.queue, def.processor(ctx), { connection, prefix: ctx.config.queuePrefix, concurrency: def.concurrency, autorun: true });
    worker.on('error', (err) => ctx.log.warn({ queue: def.queue, err: err.message }, 'worker error'));
    worker.on('failed', (job, err) =>
      ctx.log.warn({ queue: def.queue, jobId: job?.id, attempt: job?.attemptsMade, err: err.message }, 'job failed (it will be retried while attempts remain)'),
    );
    return worker;
  });
}

/** Runs every scheduler setup, logging (not throwing) failures so one bad server cannot stop the others. */
export async function registerSchedulers(ctx: AppContext, setups: readonly SchedulerSetup[]): Promise<void> {
  for (const setup of setups) {
    try {
      await setup(ctx);
    } catch (err) {
      ctx.log.warn({ err }, 'could not register a job scheduler (it is retried when Redis comes back)');
    }
  }
}
