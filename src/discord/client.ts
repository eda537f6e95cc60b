import { Client, GatewayIntentBits, Options, Partials } from 'discord.js';
import type { Config } from '../config.ts';

/**
 * The gateway client: the intents blogcord needs, partials so reactions on old announcements arrive,
 * and bounded caches so memory stays flat over millions of events (state lives in the database).
 */
export function createDiscordClient(
  config: Pick<Config, 'discordApiUrl' | 'shardIds' | 'shardCount'> & Partial<Pick<Config, 'discordGlobalRateLimit'>>,
): Client {
  const client: Client = new Client({
    intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages, GatewayIntentBits.GuildMessageReactions, GatewayIntentBits.MessageContent],
    partials: [Partials.Message, Partials.Channel, Partials.Reaction, Partials.User, Partials.GuildMember],
    allowedMentions: { parse: [], repliedUser: false },
    rest: { api: config.discordApiUrl, ...(config.discordGlobalRateLimit ? { globalRequestsPerSecond: config.discordGlobalRateLimit } : {}) },
    ...(config.shardIds && config.shardCount ? { shards: [...config.shardIds], shardCount: config.shardCount } : {}),
    makeCache: Options.cacheWithLimits({
      ...Options.DefaultMakeCacheSettings,
      MessageManager: 0,
      ReactionManager: 0,
      ReactionUserManager: 0,
      GuildMemberManager: { maxSize: 100, keepOverLimit: (member) => member.id === member.client.user.id },
      UserManager: { maxSize: 1000, keepOverLimit: (user) => user.id === user.client.user.id },
      PresenceManager: 0,
      GuildEmojiManager: 0,
      GuildStickerManager: 0,
      GuildScheduledEventManager: 0,
      VoiceStateManager: 0,
      StageInstanceManager: 0,
      GuildInviteManager: 0,
      ThreadMemberManager: 0,
      AutoModerationRuleManager: 0,
    }),
    sweepers: {
      ...Options.DefaultSweeperSettings,
      messages: { interval: 600, lifetime: 900 },
      users: { interval: 3600, filter: () => (user) => user.id !== user.client.user.id },
      threads: { interval: 3600, lifetime: 86_400 },
    },
  });
  return client;
}
