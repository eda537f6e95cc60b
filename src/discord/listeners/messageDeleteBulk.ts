import { Events } from 'discord.js';
import { defineListener } from '../listener.ts';

/** A bulk delete (a moderator's purge) tombstones every comment it names. */
export default defineListener({
  name: 'mirror: message bulk delete',
  event: Events.MessageBulkDelete,
  async run(ctx, messages, channel) {
    if (!ctx.mirror || !channel.isThread()) return;
    await ctx.mirror.messagesDeleted(channel.id, [...messages.keys()]);
  },
});
