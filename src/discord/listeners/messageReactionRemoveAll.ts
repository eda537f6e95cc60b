import { Events } from 'discord.js';
import { defineListener } from '../listener.ts';
import { reactionProcessor } from './reaction-processor.ts';

/** Every reaction cleared from a message: an announcement loses all its ratings. */
export default defineListener({
  name: 'reactionRemoveAll',
  event: Events.MessageReactionRemoveAll,
  run(ctx, message) {
    return reactionProcessor(ctx).submit({ kind: 'remove-all', messageId: message.id, channelId: message.channelId });
  },
});
