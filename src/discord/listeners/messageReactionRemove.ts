import { Events } from 'discord.js';
import { defineListener } from '../listener.ts';
import { botCanManageMessages, reactionProcessor } from './reaction-processor.ts';

/**
 * A reaction removed: removing the keycap that holds a person's rating removes the rating. A normal and a super
 * (burst) reaction of one keycap are the same rating; when the person may still hold the other kind, the
 * rating is recounted.
 */
export default defineListener({
  name: 'reactionRemove',
  event: Events.MessageReactionRemove,
  async run(ctx, reaction, user, details) {
    const message = reaction.message;
    // discord.js has applied the removal to the cached counts; a partial reaction (uncached message) knows none.
    const other = details?.burst === true ? reaction.countDetails?.normal : reaction.countDetails?.burst;
    const otherKindMayRemain = reaction.partial || typeof other !== 'number' || other > 0;
    await reactionProcessor(ctx).submit({
      kind: 'remove',
      messageId: message.id,
      channelId: message.channelId,
      userId: user.id,
      emoji: { id: reaction.emoji.id, name: reaction.emoji.name },
      ...(user.bot === true || user.id === user.client.user?.id ? { isBot: true } : {}),
      canManageMessages: botCanManageMessages(message),
      otherKindMayRemain,
    });
  },
});
