// The `digest` queue: one BullMQ job scheduler per server (cron + IANA tz) and the processor that posts the
// week that just ended. Scheduler jobs cannot carry custom ids, so idempotency lives in the processor:
// the (guild, period) row claimed by postDigest.
import { UnrecoverableError, type Job } from 'bullmq';
import type { AppContext } from '../context.ts';
import { getGuildSettings, listKnownGuildIds } from '../repositories/guilds.ts';
import { DigestPostError, postDigest, resumeDigest, type DigestJobData, type DigestOutcome } from '../services/digest.ts';
import { periodJustEnded, scheduleOf } from '../services/digest-period.ts';
import { digestSchedulerId, syncDigestScheduler } from './producers.ts';
import type { SchedulerSetup, WorkerDefinition } from './worker.ts';

export { DIGEST_JOB_NAME, digestSchedulerId, syncDigestScheduler } from './producers.ts';

/** Every known server's scheduler (at every worker start and when Redis comes back); stale ones are removed. */
export async function syncAllDigestSchedulers(ctx: Pick<AppContext, 'db' | 'config' | 'queues' | 'log'>): Promise<{ scheduled: string[]; removed: string[] }> {
  const scheduled: string[] = [];
  const removed: string[] = [];
  for (const guildId of await listKnownGuildIds(ctx.db)) {
    try {
      ((await syncDigestScheduler(ctx, guildId)) === 'scheduled' ? scheduled : removed).push(guildId);
    } catch (err) {
      // A bad stored time zone must not stop the other servers' schedules.
      ctx.log.warn({ err, guildId }, 'could not register the digest schedule of a server');
    }
  }
  const keep = new Set(scheduled.map(digestSchedulerId));
  for (const s of await ctx.queues.digest.getJobSchedulers(0, -1)) {
    const id = s.id ?? s.key;
    if (id.startsWith('digest-') && !keep.has(id)) {
      await ctx.queues.digest.removeJobScheduler(id);
      removed.push(id.slice('digest-'.length));
    }
  }
  return { scheduled, removed };
}

/** The moment a job stands for: the scheduler's tick (`prevMillis`), else now (a job added by hand). */
export function jobMoment(job: Pick<Job, 'opts'>): Date {
  const tick = (job.opts as { prevMillis?: number } | undefined)?.prevMillis;
  return new Date(typeof tick === 'number' && tick > 0 ? tick : Date.now());
}

export function digestProcessor(ctx: AppContext) {
  return async (job: Job<DigestJobData>): Promise<DigestOutcome | { status: 'disabled' | 'nothing-to-repair'; guildId: string }> => {
    const guildId = job.data?.guildId;
    if (typeof guildId !== 'string' || !/^\d{17,20}$/.test(guildId))
      throw new UnrecoverableError(`a digest job needs a guildId (a Discord id), got ${JSON.stringify(job.data)}`);
    // A digest left claimed, queued again by the sweep (src/jobs/sweep.ts): finish that row, whatever the date.
    const periodKey = (job.data as { periodKey?: unknown }).periodKey;
    if (job.name === 'digest-repair' && typeof periodKey === 'string') {
      const result = await resumeDigest(ctx, guildId, periodKey);
      if (result) ctx.log.info({ guildId, periodKey, status: result.status, messageId: result.messageId, jobId: job.id }, 'digest repair done');
      return result ?? { status: 'nothing-to-repair', guildId };
    }
    const settings = await getGuildSettings(ctx.db, guildId);
    // A scheduler can outlive `/digest off` for a moment (another worker, Redis restored from a backup).
    if (!settings.digestEnabled) return { status: 'disabled', guildId };
    let period;
    try {
      period = periodJustEnded(scheduleOf(settings), jobMoment(job));
    } catch (err) {
      throw new UnrecoverableError(`the digest schedule of server ${guildId} is invalid: ${(err as Error).message}`);
    }
    try {
      const result = await postDigest(ctx, guildId, { period });
      ctx.log.info({ guildId, periodKey: result.periodKey, status: result.status, messageId: result.messageId, jobId: job.id }, 'digest job done');
      return result;
    } catch (err) {
      if (err instanceof DigestPostError && err.permanent) throw new UnrecoverableError(err.message);
      throw err;
    }
  };
}

export const digestWorker: WorkerDefinition = { queue: 'digest', concurrency: 2, processor: digestProcessor };

/** At every worker start and whenever Redis comes back: every enabled server's scheduler, stale ones removed. */
export const digestSchedulers: SchedulerSetup = async (ctx) => {
  const { scheduled, removed } = await syncAllDigestSchedulers(ctx);
  ctx.log.info(
    { scheduled: scheduled.length, removed: removed.length, cronOverride: ctx.config.digestCronOverride ?? undefined },
    'digest schedules registered',
  );
};
