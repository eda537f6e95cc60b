import { Events } from 'discord.js';
import { defineListener } from '../listener.ts';

export default defineListener({
  name: 'ready',
  event: Events.ClientReady,
  run(ctx, client) {
    ctx.log.info({ user: client.user.tag, guilds: client.guilds.cache.size, shards: client.ws.shards.map((s) => s.id) }, 'connected to Discord');
  },
});
