import { Events } from 'discord.js';
import { defineListener } from '../listener.ts';
import { botCanManageMessages, reactionProcessor } from './reaction-processor.ts';

/** A reaction removed: removing the keycap that holds a person's rating removes the rating. */
export default defineListener({
  name: 'reactionRemove',
  event: Events.MessageReactionRemove,
  async run(ctx, reaction, user) {
    const message = reaction.message;
    await reactionProcessor(ctx).submit({
      kind: 'remove',
      messageId: message.id,
      channelId: message.channelId,
      userId: user.id,
      emoji: { id: reaction.emoji.id, name: reaction.emoji.name },
      ...(user.bot === true || user.id === user.client.user?.id ? { isBot: true } : {}),
      canManageMessages: botCanManageMessages(message),
    });
  },
});
