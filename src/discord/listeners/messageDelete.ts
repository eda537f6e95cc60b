import { Events } from 'discord.js';
import { defineListener } from '../listener.ts';
import { certainlyNotAThread } from './message-data.ts';

/** A deleted comment becomes an erased tombstone; a deleted announcement (outside a thread) closes its discussion. */
export default defineListener({
  name: 'mirror: message delete',
  event: Events.MessageDelete,
  run(ctx, message) {
    return certainlyNotAThread(message) ? ctx.mirror.announcementsDeleted([message.id]) : ctx.mirror.messagesDeleted(message.channelId, [message.id]);
  },
});
