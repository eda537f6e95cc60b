import { DiscordAPIError, REST, type RequestData } from '@discordjs/rest';
import {
  RESTJSONErrorCodes,
  Routes,
  type APIChannel,
  type APIMessage,
  type APIUser,
  type RESTPostAPIChannelMessageJSONBody,
  type RESTPatchAPIChannelMessageJSONBody,
} from 'discord-api-types/v10';
import {
  DiscordRequestError,
  type AttachmentUrlPort,
  type DiscordPort,
  type MessageFile,
  type ReactionKind,
  type RefreshedUrl,
  type WebhookCredentials,
  type WebhookMessageBody,
} from '../services/discord-port.ts';

/**
 * A REST client on the `DISCORD_API_URL` seam. Every REST client of the bot is made here or is the gateway client's own.
 *
 * `discordGlobalRateLimit` (DISCORD_GLOBAL_RATE_LIMIT): discord.js holds every client to Discord's global rate limit of a bot, 50 requests a
 * second by default (in windows of 1 s plus its 50 ms safety offset, so about 47.6 a second). That bounds any
 * paging done through one client (catch-up reads 100 messages a request: about 4,760 messages a second). Raise
 * it only for a bot whose global limit Discord has raised, or against a server without that limit (the emulator).
 */
export function createRest(config: { discordApiUrl: string; discordToken: string | null; discordGlobalRateLimit?: number }): REST {
  const rest = new REST({
    api: config.discordApiUrl,
    version: '10',
    ...(config.discordGlobalRateLimit ? { globalRequestsPerSecond: config.discordGlobalRateLimit } : {}),
  });
  if (config.discordToken) rest.setToken(config.discordToken);
  return rest;
}

const UNKNOWN: ReadonlySet<number> = new Set([RESTJSONErrorCodes.UnknownChannel, RESTJSONErrorCodes.UnknownMessage]);

/** discord.js loads @discordjs/rest as CommonJS and this file imports it as ESM: two DiscordAPIError classes, so match by shape too. */
function isDiscordApiError(error: unknown): error is DiscordAPIError {
  return error instanceof DiscordAPIError || (error instanceof Error && error.name.startsWith('DiscordAPIError') && 'code' in error && 'status' in error);
}

function wrap(error: unknown): never {
  if (isDiscordApiError(error)) throw new DiscordRequestError(`${error.message} (${error.code})`, Number(error.code) || 0, error.status);
  if (error instanceof Error && 'status' in error && typeof error.status === 'number') throw new DiscordRequestError(error.message, 0, error.status);
  throw error;
}

export class RestDiscordPort implements DiscordPort, AttachmentUrlPort {
  #botId: Promise<string> | null = null;
  constructor(readonly rest: REST) {}

  async #call<T>(method: 'get' | 'post' | 'patch' | 'put' | 'delete', route: `/${string}`, options?: RequestData): Promise<T> {
    try {
      return (await this.rest[method](route, options)) as T;
    } catch (error) {
      return wrap(error);
    }
  }

  async #orNull<T>(p: Promise<T>): Promise<T | null> {
    try {
      return await p;
    } catch (error) {
      if (error instanceof DiscordRequestError && UNKNOWN.has(error.code)) return null;
      throw error;
    }
  }

  botUserId(): Promise<string> {
    this.#botId ??= this.#call<APIUser>('get', Routes.user('@me')).then((u) => u.id);
    this.#botId.catch(() => (this.#botId = null));
    return this.#botId;
  }

  getChannel(channelId: string): Promise<APIChannel | null> {
    return this.#orNull(this.#call<APIChannel>('get', Routes.channel(channelId)));
  }

  createMessage(channelId: string, body: RESTPostAPIChannelMessageJSONBody, files: readonly MessageFile[] = []): Promise<APIMessage> {
    // @discordjs/rest sends files as multipart: the body as payload_json and each file as files[n].
    return this.#call(
      'post',
      Routes.channelMessages(channelId),
      files.length ? { body, files: files.map((f) => ({ name: f.name, data: f.data, contentType: f.contentType })) } : { body },
    );
  }

  editMessage(channelId: string, messageId: string, body: RESTPatchAPIChannelMessageJSONBody): Promise<APIMessage> {
    return this.#call('patch', Routes.channelMessage(channelId, messageId), { body });
  }

  getMessage(channelId: string, messageId: string): Promise<APIMessage | null> {
    return this.#orNull(this.#call<APIMessage>('get', Routes.channelMessage(channelId, messageId)));
  }

  listMessages(channelId: string, query: { after?: string; before?: string; around?: string; limit?: number }): Promise<APIMessage[]> {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined) q.set(k, String(v));
    return this.#call('get', Routes.channelMessages(channelId), { query: q });
  }

  async startThread(channelId: string, messageId: string, name: string): Promise<string> {
    try {
      const thread = await this.#call<APIChannel>('post', Routes.threads(channelId, messageId), { body: { name, auto_archive_duration: 10080 } });
      return thread.id;
    } catch (error) {
      // A retried step finds the thread it made before: that is success, not a failure.
      if (error instanceof DiscordRequestError && error.code === RESTJSONErrorCodes.ThreadAlreadyCreatedForMessage) return messageId;
      throw error;
    }
  }

  async createForumPost(
    channelId: string,
    name: string,
    message: RESTPostAPIChannelMessageJSONBody,
    opts: { appliedTags?: readonly string[] } = {},
  ): Promise<{ threadId: string; messageId: string }> {
    const thread = await this.#call<APIChannel & { message?: APIMessage }>('post', Routes.threads(channelId), {
      body: { name, message, auto_archive_duration: 10080, ...(opts.appliedTags?.length ? { applied_tags: opts.appliedTags } : {}) },
    });
    return { threadId: thread.id, messageId: thread.message?.id ?? thread.id };
  }

  async editThread(threadId: string, patch: { name?: string; archived?: boolean }): Promise<void> {
    await this.#call('patch', Routes.channel(threadId), { body: patch });
  }

  async addReaction(channelId: string, messageId: string, emoji: string): Promise<void> {
    await this.#call('put', Routes.channelMessageOwnReaction(channelId, messageId, encodeURIComponent(emoji)));
  }

  async removeUserReaction(channelId: string, messageId: string, emoji: string, userId: string): Promise<void> {
    await this.#call('delete', Routes.channelMessageUserReaction(channelId, messageId, encodeURIComponent(emoji), userId));
  }

  listReactors(channelId: string, messageId: string, emoji: string, query: { after?: string; limit?: number; type?: ReactionKind }): Promise<APIUser[]> {
    const q = new URLSearchParams({ limit: String(query.limit ?? 100) });
    if (query.after) q.set('after', query.after);
    // Without it Discord lists normal reactions only: super reactors are asked for with type=1.
    if (query.type !== undefined) q.set('type', String(query.type));
    return this.#call('get', Routes.channelMessageReaction(channelId, messageId, encodeURIComponent(emoji)), { query: q });
  }

  async refreshAttachmentUrls(urls: readonly string[]): Promise<RefreshedUrl[]> {
    const out = await this.#call<{ refreshed_urls?: RefreshedUrl[] }>('post', '/attachments/refresh-urls', { body: { attachment_urls: [...urls] } });
    return (out.refreshed_urls ?? []).filter((r) => typeof r?.original === 'string' && typeof r?.refreshed === 'string');
  }

  async createWebhook(channelId: string, name: string): Promise<WebhookCredentials> {
    const hook = await this.#call<{ id: string; token?: string }>('post', Routes.channelWebhooks(channelId), { body: { name } });
    if (!hook.token) throw new DiscordRequestError('Discord answered a webhook without its token', 0, 200);
    return { id: hook.id, token: hook.token };
  }

  executeWebhook(hook: WebhookCredentials, body: WebhookMessageBody): Promise<APIMessage> {
    // The token is in the path: no bot authorization is sent (and none is needed).
    return this.#call('post', Routes.webhook(hook.id, hook.token), { body, query: new URLSearchParams({ wait: 'true' }), auth: false });
  }

  editWebhookMessage(hook: WebhookCredentials, messageId: string, body: RESTPatchAPIChannelMessageJSONBody): Promise<APIMessage> {
    return this.#call('patch', Routes.webhookMessage(hook.id, hook.token, messageId), { body, auth: false });
  }
}
