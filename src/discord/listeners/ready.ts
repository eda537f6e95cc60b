import { Events } from 'discord.js';
import { syncAll } from '../../jobs/sync.ts';
import { defineListener } from '../listener.ts';

export default defineListener({
  name: 'ready',
  event: Events.ClientReady,
  async run(ctx, client) {
    ctx.log.info({ user: client.user.tag, guilds: client.guilds.cache.size, shards: client.ws.shards.map((s) => s.id) }, 'connected to Discord');
    // The workers' catch-up and recount at start may have run before this connection existed: replies and
    // reactions made in between reached nobody. Ask for both again now that every later event arrives.
    try {
      await syncAll(ctx);
      // No deduplication: a job of a crashed process may hold the id (active, until it stalls) for a while.
      await ctx.queues.recount.add('recount-all', {}, { removeOnComplete: true, removeOnFail: true });
    } catch (err) {
      ctx.log.warn({ err }, 'could not ask for the catch-up and recount after connecting (the periodic ones repair it)');
    }
  },
});
