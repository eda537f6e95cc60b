// Every worker and job scheduler of blogcord; `worker` and `start` processes run them all.
import { refreshWorker } from './refresh.ts';
import type { SchedulerSetup, WorkerDefinition } from './worker.ts';

export const workers: readonly WorkerDefinition[] = [refreshWorker];

export const schedulers: readonly SchedulerSetup[] = [];
