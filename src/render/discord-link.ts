const DISCORD_WEB = 'https://discord.com';

/**
 * Discord's address of a channel or thread, or of a message in it. A message whose id is its channel's (the
 * starter message of a forum post) is shown by the channel's address.
 */
export function discordLink(guildId: string, channelId: string, messageId?: string | null): string {
  return messageId && messageId !== channelId
    ? `${DISCORD_WEB}/channels/${guildId}/${channelId}/${messageId}`
    : `${DISCORD_WEB}/channels/${guildId}/${channelId}`;
}
