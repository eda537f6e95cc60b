import { Events } from 'discord.js';
import { defineListener } from '../listener.ts';
import { certainlyNotAThread, toMessageData } from './message-data.ts';

/** An edited message updates its comment (content, attachments, editedAt); an unknown one is inserted. */
export default defineListener({
  name: 'mirror: message update',
  event: Events.MessageUpdate,
  run(ctx, _old, message) {
    if (certainlyNotAThread(message)) return;
    const data = toMessageData(message);
    // Without the message itself (an uncached partial update) catch-up reads it from Discord.
    return data ? ctx.mirror.messageSeen(data) : ctx.mirror.messageUpdatedPartially(message.channelId);
  },
});
