import { Events } from 'discord.js';
import { defineListener } from '../listener.ts';

/** A bulk delete (a moderator's purge) erases every comment it names; an announcement among them closes its discussion. */
export default defineListener({
  name: 'mirror: message bulk delete',
  event: Events.MessageBulkDelete,
  run(ctx, messages, channel) {
    const ids = [...messages.keys()];
    return channel.isThread() ? ctx.mirror.messagesDeleted(channel.id, ids) : ctx.mirror.announcementsDeleted(ids);
  },
});
