import { Events } from 'discord.js';
import { defineListener } from '../listener.ts';
import { certainlyNotAThread } from './message-data.ts';

/** A deleted message keeps its comment as a tombstone (`deletedAt`). */
export default defineListener({
  name: 'mirror: message delete',
  event: Events.MessageDelete,
  async run(ctx, message) {
    if (!ctx.mirror || certainlyNotAThread(message)) return;
    await ctx.mirror.messagesDeleted(message.channelId, [message.id]);
  },
});
