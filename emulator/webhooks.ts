/**
 * Channel webhooks, as Discord has them: made with Manage Webhooks (POST /channels/{id}/webhooks, at most 15 a
 * channel, a name of 1–80 characters without "clyde" or "discord"), executed with their token and no bot token
 * (`?wait=true` answers the message, else 204; `username` and `avatar_url` override the name and avatar per
 * message; a forum needs `thread_name` or `thread_id`), their messages carrying `webhook_id` and a pseudo-user
 * author (the webhook's id, `bot: true`), and edited or deleted only through the webhook that made them.
 */
import { randomBytes, createHash } from 'node:crypto';
import { ChannelType, type APIMessage, type APIUser } from 'discord-api-types/v10';
import type { Actions, MessageBody, UploadedFile } from './actions.ts';
import { DiscordHttpError, Errors, errorAt } from './errors.ts';
import { P, isThreadType, type DiscordState, type WebhookRecord } from './state.ts';

export const MAX_WEBHOOKS_PER_CHANNEL = 15;

export class Webhooks {
  constructor(
    private readonly state: DiscordState,
    private readonly actions: Actions,
  ) {}

  api(w: WebhookRecord, withToken = true) {
    return {
      id: w.id,
      type: 1,
      guild_id: w.guildId,
      channel_id: w.channelId,
      name: w.name,
      avatar: w.avatar,
      application_id: w.applicationId,
      user: this.state.user(w.creatorId)?.user ?? null,
      ...(withToken ? { token: w.token, url: `https://discord.com/api/webhooks/${w.id}/${w.token}` } : {}),
    };
  }

  private checkName(name: unknown): string {
    if (typeof name !== 'string' || name.length < 1 || name.length > 80)
      throw Errors.invalidFormBody(errorAt(['name'], 'BASE_TYPE_BAD_LENGTH', 'Must be between 1 and 80 in length.'));
    if (/clyde|discord/i.test(name)) throw Errors.invalidFormBody(errorAt(['name'], 'WEBHOOK_INVALID_NAME', `Username cannot contain "clyde" or "discord"`));
    return name;
  }

  create(actorId: string, channelId: string, body: { name?: unknown; avatar?: unknown } | null): ReturnType<Webhooks['api']> {
    const c = this.actions.channel(channelId);
    if (isThreadType(c.type) || ![ChannelType.GuildText, ChannelType.GuildAnnouncement, ChannelType.GuildForum, ChannelType.GuildMedia].includes(c.type))
      throw new DiscordHttpError(400, 50024, 'Cannot execute action on this channel type');
    this.actions.require(c, actorId, P.ManageWebhooks);
    const name = this.checkName(body?.name);
    if ([...this.state.webhooks.values()].filter((w) => w.channelId === channelId).length >= MAX_WEBHOOKS_PER_CHANNEL)
      throw new DiscordHttpError(400, 30007, `Maximum number of webhooks reached (${MAX_WEBHOOKS_PER_CHANNEL})`);
    const avatar = typeof body?.avatar === 'string' && body.avatar ? createHash('md5').update(body.avatar).digest('hex') : null;
    const w: WebhookRecord = {
      id: this.state.ids.next(),
      token: randomBytes(34).toString('base64url'),
      guildId: c.guild_id,
      channelId,
      name,
      avatar,
      creatorId: actorId,
      applicationId: this.state.user(actorId)?.user.bot ? this.state.applicationId : null,
    };
    this.state.webhooks.set(w.id, w);
    return this.api(w);
  }

  listChannel(actorId: string, channelId: string) {
    const c = this.actions.channel(channelId);
    this.actions.require(c, actorId, P.ManageWebhooks);
    return [...this.state.webhooks.values()].filter((w) => w.channelId === channelId).map((w) => this.api(w));
  }

  delete(actorId: string, webhookId: string): void {
    const w = this.state.webhooks.get(webhookId);
    if (!w) throw Errors.unknownWebhook();
    this.actions.require(this.actions.channel(w.channelId), actorId, P.ManageWebhooks);
    this.state.webhooks.delete(webhookId);
  }

  /** The webhook of a token-authenticated route; a wrong token is 401 Invalid Webhook Token, as Discord answers. */
  byToken(id: string, token: string): WebhookRecord {
    const w = this.state.webhooks.get(id);
    if (!w) throw Errors.unknownWebhook();
    if (w.token !== token) throw new DiscordHttpError(401, 50027, 'Invalid Webhook Token');
    return w;
  }

  private author(w: WebhookRecord, body: { username?: unknown; avatar_url?: unknown }): APIUser {
    const username = body.username === undefined || body.username === null ? w.name : this.checkName(body.username);
    const avatar = typeof body.avatar_url === 'string' && body.avatar_url ? createHash('md5').update(body.avatar_url).digest('hex') : w.avatar;
    return { id: w.id, username, avatar, discriminator: '0000', global_name: null, bot: true } as APIUser;
  }

  async execute(
    w: WebhookRecord,
    body: (MessageBody & { username?: unknown; avatar_url?: unknown; thread_name?: unknown }) | null,
    query: URLSearchParams,
    files: UploadedFile[],
  ): Promise<APIMessage | null> {
    const data = body ?? {};
    const base = this.actions.channel(w.channelId);
    let channelId = w.channelId;
    const threadId = query.get('thread_id');
    if (threadId) {
      const t = this.state.channels.get(threadId);
      if (!t || !isThreadType(t.type) || t.parent_id !== w.channelId) throw Errors.unknownChannel();
      channelId = t.id;
    } else if (base.type === ChannelType.GuildForum || base.type === ChannelType.GuildMedia) {
      throw new DiscordHttpError(400, 220001, 'Webhooks posted to forum channels must have a thread_name or thread_id');
    }
    // Webhooks take no nonce: Discord ignores it.
    const message: MessageBody = { ...data, nonce: undefined, enforce_nonce: undefined, message_reference: undefined };
    const created = await this.actions.createMessage(w.id, channelId, message, {
      webhookId: w.id,
      applicationId: w.applicationId,
      author: this.author(w, data),
      system: true,
      files,
    });
    return query.get('wait') === 'true' ? created : null;
  }

  /** A message of this webhook (in its channel or one of its threads); another's is Unknown Message. */
  private own(w: WebhookRecord, messageId: string) {
    const rec = this.state.messages.get(messageId);
    if (!rec || rec.message.webhook_id !== w.id) throw Errors.unknownMessage();
    return rec;
  }

  getMessage(w: WebhookRecord, messageId: string): APIMessage {
    return this.state.messageApi(this.own(w, messageId));
  }

  editMessage(w: WebhookRecord, messageId: string, body: MessageBody, files: UploadedFile[]): Promise<APIMessage> {
    const rec = this.own(w, messageId);
    return this.actions.editMessage(w.id, rec.message.channel_id, messageId, body, { system: true, files });
  }

  async deleteMessage(w: WebhookRecord, messageId: string): Promise<void> {
    const rec = this.own(w, messageId);
    await this.actions.deleteMessage(w.id, rec.message.channel_id, messageId, { system: true });
  }
}
