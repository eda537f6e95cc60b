import { Queue, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';

/** Every BullMQ queue of blogcord. Job ids never contain ':' (BullMQ reserves it). */
export const QUEUE_NAMES = ['feeds', 'publish', 'sync', 'recount', 'refresh', 'digest', 'sweep'] as const;
export type QueueName = (typeof QUEUE_NAMES)[number];

export type Queues = Readonly<Record<QueueName, Queue>>;

export const DEFAULT_JOB_OPTIONS: JobsOptions = {
  attempts: 8,
  backoff: { type: 'exponential', delay: 1000 },
  removeOnComplete: { count: 1000, age: 24 * 3600 },
  removeOnFail: { count: 5000, age: 7 * 24 * 3600 },
};

/** The producer side: one connection that fails fast while Redis is down (callers log, catch-up repairs). */
export function createQueues(connection: Redis, prefix: string): Queues {
  const entries = QUEUE_NAMES.map((name) => {
    const queue = new Queue(name, { connection, prefix, defaultJobOptions: DEFAULT_JOB_OPTIONS });
    queue.on('error', () => {}); // connection errors are logged once by the connection's own handler
    return [name, queue] as const;
  });
  return Object.freeze(Object.fromEntries(entries) as Record<QueueName, Queue>);
}

export async function closeQueues(queues: Queues): Promise<void> {
  await Promise.allSettled(Object.values(queues).map((q) => q.close()));
}

/** A BullMQ-safe job id from parts. */
export const jobId = (...parts: string[]): string => parts.join('-').replace(/:/g, '_');
