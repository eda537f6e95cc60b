import { Events } from 'discord.js';
import { defineListener } from '../listener.ts';

/**
 * A shard that identified afresh (at start, or after Discord invalidated its session) missed whatever happened
 * while it was away, and no RESUME will replay it. The workers' catch-up and recount at start may also have run
 * before this connection existed. So ask for both now that every later event arrives.
 */
export default defineListener({
  name: 'shardReady',
  event: Events.ShardReady,
  async run(ctx, shardId) {
    try {
      const threads = await ctx.jobs.requestCatchUpAll();
      await ctx.jobs.requestRecountAll();
      ctx.log.info({ shard: shardId, threads }, 'new gateway session: catch-up and recount requested');
    } catch (err) {
      ctx.log.warn({ err, shard: shardId }, 'could not ask for the catch-up and recount after connecting (the periodic ones repair it)');
    }
  },
});
