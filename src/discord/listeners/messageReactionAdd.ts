import { Events } from 'discord.js';
import { defineListener } from '../listener.ts';
import { botCanManageMessages, botFlag, reactionProcessor } from './reaction-processor.ts';

/** A reaction added (also on uncached announcements, through partials): a keycap rates the post. */
export default defineListener({
  name: 'reactionAdd',
  event: Events.MessageReactionAdd,
  run(ctx, reaction, user) {
    const message = reaction.message;
    return reactionProcessor(ctx).submit({
      kind: 'add',
      messageId: message.id,
      channelId: message.channelId,
      userId: user.id,
      emoji: { id: reaction.emoji.id, name: reaction.emoji.name },
      isBot: botFlag(user),
      canManageMessages: botCanManageMessages(message),
    });
  },
});
