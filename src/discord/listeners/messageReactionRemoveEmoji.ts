import { Events } from 'discord.js';
import { defineListener } from '../listener.ts';
import { botCanManageMessages, reactionProcessor } from './reaction-processor.ts';

/** One emoji cleared from a message: a keycap's ratings go with it. */
export default defineListener({
  name: 'reactionRemoveEmoji',
  event: Events.MessageReactionRemoveEmoji,
  run(ctx, reaction) {
    const message = reaction.message;
    return reactionProcessor(ctx).submit({
      kind: 'remove-emoji',
      messageId: message.id,
      channelId: message.channelId,
      emoji: { id: reaction.emoji.id, name: reaction.emoji.name },
      canManageMessages: botCanManageMessages(message),
    });
  },
});
