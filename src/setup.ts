// What a newcomer needs to connect blogcord to Discord; printed when DISCORD_TOKEN is missing and in the README.

/** The invite permissions: View Channels, Send Messages, Embed Links, Create Public Threads, Send Messages in Threads, Add Reactions, Manage Messages, Read Message History. */
export const INVITE_PERMISSIONS = (1n << 10n) | (1n << 11n) | (1n << 14n) | (1n << 35n) | (1n << 38n) | (1n << 6n) | (1n << 13n) | (1n << 16n);

export function inviteUrl(applicationId: string): string {
  return `https://discord.com/oauth2/authorize?client_id=${applicationId}&scope=bot+applications.commands&permissions=${INVITE_PERMISSIONS}`;
}

export function missingTokenMessage(applicationId: string | null): string {
  return [
    'DISCORD_TOKEN is not set, so blogcord cannot connect to Discord. To create the bot:',
    '  1. Open https://discord.com/developers/applications, create an application, open "Bot" and reset the token.',
    '     Put it in a .env file beside package.json:  DISCORD_TOKEN=<the token>',
    '  2. On the same "Bot" page, enable the privileged "Message Content Intent" (blogcord stores the replies in post threads).',
    '  3. Invite the bot with the scopes bot and applications.commands and these permissions: View Channels, Send Messages,',
    '     Embed Links, Create Public Threads, Send Messages in Threads, Add Reactions, Manage Messages, Read Message History:',
    `     ${inviteUrl(applicationId ?? '<APPLICATION_ID>')}`,
    '  4. Register the slash commands once:  npx blogcord deploy-commands',
    'Then run  npm start  again.',
    'No Discord yet? Try  npx blogcord demo  to see blogcord work without Discord.',
  ].join('\n');
}

/** A Discord setup problem the operator must fix (no or a refused token, a missing intent): one clear message, exit 1. */
export class DiscordSetupError extends Error {
  override name = 'DiscordSetupError';
}
