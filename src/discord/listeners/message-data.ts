// discord.js Message → the mirror's plain MessageData (the only place the mirror meets discord.js).
import type { Message } from 'discord.js';
import { avatarOf, type MessageData } from '../../services/mirror.ts';

/** Null for a partial message (its author and content are unknown). */
export function toMessageData(message: Message | { partial: true }): MessageData | null {
  if (message.partial) return null;
  const m = message as Message;
  const ref = m.reference;
  // `member` is a getter that resolves the guild and then the member (twice the lookups when read twice).
  const { author, member } = m;
  return {
    id: m.id,
    channelId: m.channelId,
    type: m.type,
    authorId: author.id,
    authorBot: author.bot,
    authorSystem: author.system || m.system,
    webhookId: m.webhookId ?? null,
    authorName: member?.nickname || author.globalName || author.username,
    authorAvatar: avatarOf(author, member),
    content: m.content ?? '',
    reference: ref ? { messageId: ref.messageId ?? null, channelId: ref.channelId ?? null, type: ref.type } : null,
    attachments: m.attachments.size ? m.attachments.map((a) => ({ url: a.url, name: a.name, contentType: a.contentType ?? null })) : [],
    createdAt: new Date(m.createdTimestamp).toISOString(),
    editedAt: m.editedTimestamp ? new Date(m.editedTimestamp).toISOString() : null,
  };
}

/** A channel that is certainly not a thread (a text channel, a forum itself): no database lookup needed. */
export function certainlyNotAThread(message: { channel?: { isThread(): boolean } | null }): boolean {
  const channel = message.channel;
  return Boolean(channel) && !channel!.isThread();
}
