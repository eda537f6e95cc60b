import { Events } from 'discord.js';
import { defineListener } from '../listener.ts';

/** A bulk delete (a moderator's purge) erases every comment it names; an announcement among them closes its discussion. */
export default defineListener({
  name: 'mirror: message bulk delete',
  event: Events.MessageBulkDelete,
  async run(ctx, messages, channel) {
    if (!channel.isThread()) await ctx.mirror.announcementsDeleted([...messages.keys()]);
    else await ctx.mirror.messagesDeleted(channel.id, [...messages.keys()]);
  },
});
