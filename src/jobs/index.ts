// Every worker and job scheduler of blogcord; `worker` and `start` processes run them all.
import type { SchedulerSetup, WorkerDefinition } from './worker.ts';

export const workers: readonly WorkerDefinition[] = [];

export const schedulers: readonly SchedulerSetup[] = [];
