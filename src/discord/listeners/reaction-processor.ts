// The one ReactionProcessor of a bot process (AppContext.ratings), shared by the four reaction listeners, and
// the small discord.js helpers they need. The rules live in src/services/rating-rules.ts.
import { PermissionFlagsBits, type Message, type PartialMessage, type PartialUser, type User } from 'discord.js';
import type { ReactionProcessor } from '../../services/reaction-processor.ts';
import type { ListenerContext } from '../listener.ts';

/** The process's processor (AppContext.ratings), shared by the four reaction listeners. */
export function reactionProcessor(ctx: ListenerContext): ReactionProcessor {
  return ctx.ratings;
}

/**
 * Whether the bot may remove other people's reactions on this message (Manage Messages in its channel; a thread
 * inherits its parent's), as a function the rules call only when the answer matters (ManageMessages in
 * services/rating-rules.ts): worked out when called, never remembered. It keeps the client and the channel's id,
 * never the message.
 */
export function botCanManageMessages(message: Message | PartialMessage): () => boolean {
  const { client, channelId } = message;
  return () => {
    try {
      const channel = client.channels.cache.get(channelId);
      if (!channel || !('permissionsFor' in channel) || !client.user) return false;
      return channel.permissionsFor(client.user)?.has(PermissionFlagsBits.ManageMessages) ?? false;
    } catch {
      // Asked while the batch is written: a throw here must not fail the batch (it would be retried forever).
      return false;
    }
  };
}

/**
 * The reactor's bot flag: known from the event's member payload for adds; for a partial user, a function
 * that fetches the user (called only for a keycap on an announcement).
 */
export function botFlag(user: User | PartialUser): boolean | (() => Promise<boolean>) {
  if (typeof user.bot === 'boolean') return user.bot;
  if (user.id === user.client.user?.id) return true;
  return async () => (await user.client.users.fetch(user.id)).bot;
}
