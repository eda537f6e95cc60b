// The one implementation of the Jobs interface (src/services/jobs.ts) over the BullMQ queues: what services,
// commands and listeners ask of the queues goes through `ctx.jobs`.
import type { AppContext } from '../context.ts';
import type { Jobs } from '../services/jobs.ts';
// Producers only: a process that enqueues (the gateway bot) loads no job processor through this.
import { feedJobs, requestRecountAll, requestThreadSync, scheduleRecount, syncAll, syncDigestScheduler } from './producers.ts';

export function createJobs(ctx: Pick<AppContext, 'db' | 'queues' | 'config' | 'log'>): Jobs {
  return {
    ...feedJobs(ctx),
    requestCatchUpAll: () => syncAll(ctx),
    requestRecountAll: () => requestRecountAll(ctx.queues),
    recountPost: (postId) => scheduleRecount(ctx.queues, postId),
    requestThreadSync: (threadId, opts) => requestThreadSync(ctx.queues, threadId, opts),
    syncDigestSchedule: (guildId) => syncDigestScheduler(ctx, guildId),
  };
}
