// The one implementation of the Jobs interface (src/services/jobs.ts) over the BullMQ queues: what services,
// commands and listeners ask of the queues goes through `ctx.jobs`.
import type { AppContext } from '../context.ts';
import type { Jobs } from '../services/jobs.ts';
import { syncDigestScheduler } from './digest.ts';
import { feedJobs } from './feeds.ts';
import { requestRecountAll, scheduleRecount } from './recount.ts';
import { requestThreadSync, syncAll } from './sync.ts';

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
