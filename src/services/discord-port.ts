// What the services need from Discord, as plain API JSON. `src/discord/rest-port.ts` implements it over REST,
// so services never import discord.js and the same code runs in `bot` and `worker` processes.
import type {
  RESTJSONErrorCodes,
  APIChannel,
  APIMessage,
  APIUser,
  RESTPatchAPIChannelMessageJSONBody,
  RESTPostAPIChannelMessageJSONBody,
} from 'discord-api-types/v10';

/** A Discord error the services may act on (unknown message, missing access, thread exists…). */
export class DiscordRequestError extends Error {
  override name = 'DiscordRequestError';
  constructor(
    message: string,
    /** Discord's JSON error code (10008 Unknown Message, 50001 Missing Access, 160004 thread exists…), 0 if none. */
    readonly code: number,
    /** HTTP status. */
    readonly status: number,
  ) {
    super(message);
  }
}

// The codes as literals, each checked against discord-api-types' enum by the compiler: importing the enum's value
// would load all of discord-api-types/v10 (~85 KB of code, ~1 MB of heap) into `web`, which has no other use for it.
const UNKNOWN_CHANNEL: RESTJSONErrorCodes.UnknownChannel = 10003;
const UNKNOWN_MESSAGE: RESTJSONErrorCodes.UnknownMessage = 10008;
const UNKNOWN_EMOJI: RESTJSONErrorCodes.UnknownEmoji = 10014;
const MISSING_ACCESS: RESTJSONErrorCodes.MissingAccess = 50001;
const MISSING_PERMISSIONS: RESTJSONErrorCodes.MissingPermissions = 50013;
const GONE: ReadonlySet<number> = new Set([UNKNOWN_CHANNEL, UNKNOWN_MESSAGE, UNKNOWN_EMOJI]);
const DENIED: ReadonlySet<number> = new Set([MISSING_ACCESS, MISSING_PERMISSIONS]);

/** Discord says the channel, message or emoji is not there (Unknown Channel, Unknown Message, Unknown Emoji, any 404). */
export function isGone(err: unknown): err is DiscordRequestError {
  return err instanceof DiscordRequestError && (GONE.has(err.code) || err.status === 404);
}

/** Discord refuses the bot there (Missing Access, Missing Permissions, any 403). */
export function isDenied(err: unknown): err is DiscordRequestError {
  return err instanceof DiscordRequestError && (DENIED.has(err.code) || err.status === 403);
}

/** Discord's reaction types: 0 normal, 1 super (burst). A keycap of either kind is the same rating. */
export type ReactionKind = 0 | 1;
export const REACTION_KINDS: readonly ReactionKind[] = [0, 1];

/** A file sent with a message (multipart `files[n]`); the body's `attachments[n]` (id n) names and describes it. */
export interface MessageFile {
  name: string;
  data: Buffer;
  contentType: string;
}

/** A channel webhook blogcord made: `token` is a secret (never logged, never shown). */
export interface WebhookCredentials {
  id: string;
  token: string;
}

/** A webhook message's body: a message's, plus the name and avatar it shows (per message). Webhooks take no nonce. */
export type WebhookMessageBody = Omit<RESTPostAPIChannelMessageJSONBody, 'nonce' | 'enforce_nonce' | 'message_reference' | 'sticker_ids'> & {
  username?: string;
  avatar_url?: string;
};

export interface DiscordPort {
  /** The bot's own user id (its reactions never count as ratings). */
  botUserId(): Promise<string>;
  getChannel(channelId: string): Promise<APIChannel | null>;
  /** With `files`, sent as multipart form data (`payload_json` and `files[n]`). */
  createMessage(channelId: string, body: RESTPostAPIChannelMessageJSONBody, files?: readonly MessageFile[]): Promise<APIMessage>;
  editMessage(channelId: string, messageId: string, body: RESTPatchAPIChannelMessageJSONBody): Promise<APIMessage>;
  getMessage(channelId: string, messageId: string): Promise<APIMessage | null>;
  /** Newest first, as Discord returns them; at most 100. */
  listMessages(channelId: string, query: { after?: string; before?: string; around?: string; limit?: number }): Promise<APIMessage[]>;
  /** A thread on a message; the thread's id is the message's id. Resolves with that id also when it already exists (160004). */
  startThread(channelId: string, messageId: string, name: string): Promise<string>;
  /** A forum post: thread id = starter message id. */
  createForumPost(
    channelId: string,
    name: string,
    message: RESTPostAPIChannelMessageJSONBody,
    opts?: { appliedTags?: readonly string[] },
  ): Promise<{ threadId: string; messageId: string }>;
  editThread(threadId: string, patch: { name?: string; archived?: boolean }): Promise<void>;
  addReaction(channelId: string, messageId: string, emoji: string): Promise<void>;
  removeUserReaction(channelId: string, messageId: string, emoji: string, userId: string): Promise<void>;
  /**
   * Users who reacted with `emoji`, ascending by id, at most 100 a page. `type` 0 (the default, as Discord's)
   * lists normal reactions only, 1 super (burst) reactions only.
   */
  listReactors(channelId: string, messageId: string, emoji: string, query: { after?: string; limit?: number; type?: ReactionKind }): Promise<APIUser[]>;
  /** A channel webhook (needs Manage Webhooks: 50013 without it). */
  createWebhook(channelId: string, name: string): Promise<WebhookCredentials>;
  /** Executes a webhook and waits for its message (`?wait=true`). */
  executeWebhook(hook: WebhookCredentials, body: WebhookMessageBody): Promise<APIMessage>;
  /** Edits a message the webhook made (the only way to edit it: it is not the bot's). */
  editWebhookMessage(hook: WebhookCredentials, messageId: string, body: RESTPatchAPIChannelMessageJSONBody): Promise<APIMessage>;
}

/** A fresh signed URL for a stored attachment URL (Discord's `POST /attachments/refresh-urls`). */
export interface RefreshedUrl {
  original: string;
  refreshed: string;
}

/**
 * Discord's attachment URLs are signed and expire (`ex`, a day after `is`): this asks for fresh ones. REST only
 * (the bot token), so a process without a gateway connection (`blogcord web`) can do it.
 */
export interface AttachmentUrlPort {
  /** At most 50 URLs a call; a URL Discord does not know is left out of the answer. */
  refreshAttachmentUrls(urls: readonly string[]): Promise<RefreshedUrl[]>;
}
