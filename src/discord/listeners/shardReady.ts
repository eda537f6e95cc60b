import { Events } from 'discord.js';
import { requestRecountAll } from '../../jobs/recount.ts';
import { requestSyncAll } from '../../jobs/sync.ts';
import { defineListener } from '../listener.ts';

/**
 * A shard that identified afresh (at start, or after Discord invalidated its session) missed whatever happened
 * while it was away, and no RESUME will replay it: ask for a catch-up and a rating recount now.
 */
export default defineListener({
  name: 'shardReady',
  event: Events.ShardReady,
  async run(ctx, shardId) {
    ctx.log.info({ shard: shardId }, 'new gateway session: catching up on what it missed');
    await Promise.all([requestSyncAll(ctx.queues), requestRecountAll(ctx.queues)]);
  },
});
