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
  run(ctx, reaction, user, details) {
    const message = reaction.message;
    // Taking back a super reaction: the person may still hold the normal one (rare; a recount settles it). Taking
    // back a normal one: only when the cached counts show super reactions of this keycap (an uncached message
    // knows none; the periodic recount settles that rare case), so a storm of removals asks for no recounts.
    const otherKindMayRemain = details?.burst === true || (!reaction.partial && (reaction.countDetails?.burst ?? 0) > 0);
    return reactionProcessor(ctx).submit({
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
