import { Events } from 'discord.js';
import { defineListener } from '../listener.ts';
import { certainlyNotAThread, toMessageData } from './message-data.ts';

/** A new message in a post thread becomes a comment (the rules are in services/mirror.ts). */
export default defineListener({
  name: 'mirror: message create',
  event: Events.MessageCreate,
  run(ctx, message) {
    if (!message.inGuild() || certainlyNotAThread(message)) return;
    const data = toMessageData(message);
    if (data) return ctx.mirror.messageSeen(data);
  },
});
