// Every worker and job scheduler of blogcord; `worker` and `start` processes run them all.
import { digestSchedulers, digestWorker } from './digest.ts';
import { feedsWorker, registerFeedPolls, registerPushMaintenance } from './feeds.ts';
import { publishWorker, requeueUnfinishedPosts } from './publish.ts';
import { recountWorker, registerRecount } from './recount.ts';
import { refreshWorker } from './refresh.ts';
import { sweepScheduler, sweepWorker } from './sweep.ts';
import { syncScheduler, syncWorker } from './sync.ts';
import type { SchedulerSetup, WorkerDefinition } from './worker.ts';

export const workers: readonly WorkerDefinition[] = [refreshWorker, feedsWorker, publishWorker, digestWorker, syncWorker, recountWorker, sweepWorker];

export const schedulers: readonly SchedulerSetup[] = [
  registerFeedPolls,
  registerPushMaintenance,
  requeueUnfinishedPosts,
  digestSchedulers,
  syncScheduler,
  registerRecount,
  sweepScheduler,
];
