/**
 * Every state change goes through here, whether it came from the bot over REST or from a test user
 * through the driver: permission checks, state change, gateway dispatch (awaited before returning).
 */
import {
  ChannelFlags,
  ChannelType,
  GatewayDispatchEvents as E,
  GatewayIntentBits as I,
  MessageFlags,
  MessageType,
  type APIAttachment,
  type APIEmbed,
  type APIMessage,
  type APIPartialEmoji,
  type APIUser,
} from 'discord-api-types/v10';
import { DiscordHttpError, Errors, errorAt, type DiscordErrorTree } from './errors.ts';
import type { Gateway } from './gateway.ts';
import { P, blankContent, BURST_COLORS, isThreadType, type ChannelRecord, type DiscordState, type GuildRecord, type MessageRecord } from './state.ts';
import { isEmptyMessage } from './validation.ts';

export interface MessageBody {
  content?: string | null;
  embeds?: APIEmbed[] | null;
  allowed_mentions?: { parse?: string[]; users?: string[]; roles?: string[]; replied_user?: boolean } | null;
  message_reference?: { message_id?: string; channel_id?: string; guild_id?: string; fail_if_not_exists?: boolean; type?: number } | null;
  nonce?: string | number | null;
  enforce_nonce?: boolean | null;
  tts?: boolean | null;
  flags?: number | null;
  components?: unknown[] | null;
  attachments?: Array<{ id?: string | number; filename?: string; description?: string }> | null;
  sticker_ids?: string[] | null;
  poll?: unknown;
}

export interface UploadedFile {
  field: string;
  filename: string;
  contentType: string;
  data: Buffer;
}

export interface CreateMessageExtra {
  type?: MessageType;
  webhookId?: string;
  /** the message's author as shown (a channel webhook's pseudo-user); the author id is then not a member */
  author?: APIUser;
  /** the application id a webhook message carries (application-owned webhooks, interactions); default the app's */
  applicationId?: string | null;
  interaction?: { id: string; type: number; userId: string; name?: string };
  /** skip the permission check (system messages, interaction responses) */
  system?: boolean;
  /** forced id (forum starter messages: id = thread id) */
  id?: string;
  /** ephemeral: not stored in the channel, not dispatched */
  ephemeral?: boolean;
  /** extra files (multipart) */
  files?: UploadedFile[];
  /** a deferred interaction's loading message may be empty */
  allowEmpty?: boolean;
}

const NONCE_WINDOW_MS = 5 * 60_000;
const TWO_WEEKS_MS = 14 * 24 * 3600_000;

export class Actions {
  /** when set, dispatch promises are collected here instead of awaited (storm mode) */
  batch: Promise<void>[] | null = null;
  /** observers of channel messages (driver waitForMessage); kind: create | update | delete */
  readonly messageListeners = new Set<(kind: 'create' | 'update' | 'delete', message: APIMessage) => void>();

  private notify(kind: 'create' | 'update' | 'delete', message: APIMessage): void {
    for (const l of this.messageListeners) l(kind, message);
  }

  constructor(
    readonly state: DiscordState,
    readonly gateway: Gateway,
    private readonly baseUrl: () => string,
  ) {}

  private async emit(t: string, d: object, scope: Parameters<Gateway['dispatch']>[2], blank?: () => object): Promise<void> {
    const p = this.gateway.dispatch(t, d, scope, blank);
    if (this.batch) this.batch.push(p);
    else await p;
  }

  // ---------------------------------------------------------------- lookups & permissions

  channel(id: string): ChannelRecord {
    const c = this.state.channels.get(id);
    if (!c) throw Errors.unknownChannel();
    return c;
  }

  guildOf(c: ChannelRecord): GuildRecord {
    const g = this.state.guilds.get(c.guild_id);
    if (!g) throw Errors.unknownGuild();
    return g;
  }

  messageIn(channelId: string, messageId: string): MessageRecord {
    const rec = this.state.messages.get(messageId);
    if (!rec || rec.message.channel_id !== channelId) throw Errors.unknownMessage();
    return rec;
  }

  perms(c: ChannelRecord, userId: string): bigint {
    return this.state.channelPermissions(c.id, userId);
  }

  /** 50001 without VIEW_CHANNEL, 50013 without `bit`. */
  require(c: ChannelRecord, userId: string, bit: bigint): void {
    const p = this.perms(c, userId);
    if ((p & P.ViewChannel) === 0n) throw Errors.missingAccess();
    if ((p & bit) !== bit) throw Errors.missingPermissions();
  }

  canView(c: ChannelRecord, userId: string): void {
    if ((this.perms(c, userId) & P.ViewChannel) === 0n) throw Errors.missingAccess();
  }

  author(userId: string): APIUser {
    const u = this.state.user(userId);
    if (!u) throw Errors.unknownUser();
    return u.user;
  }

  // ---------------------------------------------------------------- messages

  async createMessage(authorId: string, channelId: string, body: MessageBody, extra: CreateMessageExtra = {}): Promise<APIMessage> {
    const c = this.channel(channelId);
    const files = extra.files ?? [];
    if (!extra.system) {
      const thread = isThreadType(c.type);
      this.require(c, authorId, thread ? P.SendMessagesInThreads : P.SendMessages);
      if (c.type === ChannelType.GuildForum) throw new DiscordHttpError(400, 50008, 'Cannot send messages in a non-text channel');
      if (thread && c.thread_metadata?.locked && (this.perms(c, authorId) & P.ManageThreads) === 0n) throw Errors.threadLocked();
    }
    if (!extra.allowEmpty && isEmptyMessage(body, files.length)) throw Errors.emptyMessage();
    // Uploading files needs Attach Files (Discord answers 50013 Missing Permissions without it).
    if (!extra.system && files.length > 0) this.require(c, authorId, P.AttachFiles);
    checkAttachments(body.attachments ?? null, files);

    // nonce + enforce_nonce: the same author's repeated nonce returns the first message
    const nonce = body.nonce ?? null;
    const nonceKey = nonce !== null && nonce !== undefined ? `${authorId}\u0000${String(nonce)}` : null;
    if (nonceKey && body.enforce_nonce) {
      const hit = this.state.nonces.get(nonceKey);
      if (hit && Date.now() - hit.at < NONCE_WINDOW_MS) {
        const prev = this.state.messages.get(hit.messageId);
        if (prev) return { ...this.state.messageApi(prev), nonce: nonce as string };
      }
    }

    // reply target
    let referenced: MessageRecord | undefined;
    const ref = body.message_reference;
    if (ref?.message_id && (ref.type ?? 0) === 0) {
      const refChannel = ref.channel_id ?? channelId;
      referenced = this.state.messages.get(ref.message_id);
      if (!referenced || referenced.message.channel_id !== refChannel) {
        referenced = undefined;
        if (ref.fail_if_not_exists !== false) {
          throw Errors.invalidFormBody(errorAt(['message_reference'], 'MESSAGE_REFERENCE_UNKNOWN_MESSAGE', 'Unknown message'));
        }
      }
    }

    const author = extra.author ?? this.author(authorId);
    const id = extra.id ?? this.state.ids.next();
    const now = new Date().toISOString();
    const content = body.content ?? '';
    const mentions = this.resolveMentions(content, body.allowed_mentions ?? null, referenced, c);
    const pinged = this.resolvePings(content, body.allowed_mentions ?? null, c, authorId);
    const attachments = this.buildAttachments(channelId, body.attachments ?? null, files);
    const message: APIMessage = {
      id,
      channel_id: channelId,
      author: { ...author },
      content,
      timestamp: now,
      edited_timestamp: null,
      tts: Boolean(body.tts),
      mention_everyone: pinged.everyone,
      mentions,
      mention_roles: pinged.roles,
      attachments,
      embeds: (body.embeds ?? []).map(normaliseEmbed).map((e) => resolveAttachmentImage(e, attachments)),
      pinned: false,
      type: extra.type ?? (referenced ? MessageType.Reply : MessageType.Default),
      flags: (body.flags ?? 0) & (MessageFlags.SuppressEmbeds | MessageFlags.SuppressNotifications | MessageFlags.Ephemeral | MessageFlags.IsComponentsV2),
      components: (body.components ?? []) as APIMessage['components'],
    };
    if (extra.webhookId) {
      message.webhook_id = extra.webhookId;
      const app = extra.applicationId === undefined ? this.state.applicationId : extra.applicationId;
      if (app) message.application_id = app;
    }
    if (extra.interaction) {
      const u = this.author(extra.interaction.userId);
      message.interaction_metadata = {
        id: extra.interaction.id,
        type: extra.interaction.type,
        user: u,
        authorizing_integration_owners: {},
        ...(extra.interaction.name ? { name: extra.interaction.name } : {}),
      } as APIMessage['interaction_metadata'];
    }
    if (referenced) {
      message.message_reference = { type: 0, message_id: referenced.message.id, channel_id: referenced.message.channel_id, guild_id: c.guild_id };
      message.referenced_message = this.state.messageApi(referenced);
    } else if (ref && ref.type !== undefined && ref.type !== 0) {
      message.message_reference = { ...ref, type: ref.type } as APIMessage['message_reference'];
    }
    if (isThreadType(c.type)) message.position = c.total_message_sent ?? 0;
    const rec: MessageRecord = { message, reactions: new Map() };
    if (extra.ephemeral) return message;

    this.state.insertMessage(rec);
    if (nonceKey) this.state.nonces.set(nonceKey, { messageId: id, at: Date.now() });
    c.last_message_id = id;
    if (isThreadType(c.type)) {
      if (message.type !== MessageType.ThreadStarterMessage && !extra.id) c.message_count = (c.message_count ?? 0) + 1;
      c.total_message_sent = (c.total_message_sent ?? 0) + 1;
      // A message in an archived (unlocked) thread unarchives it, like Discord.
      if (c.thread_metadata?.archived && !extra.system) {
        c.thread_metadata.archived = false;
        c.thread_metadata.archive_timestamp = now;
        await this.emit(E.ThreadUpdate, this.state.threadApi(c), { guildId: c.guild_id, intent: I.Guilds });
      }
    }

    // A channel webhook's message has no member (its author is not one).
    const member = extra.author ? {} : { member: this.state.memberApi(c.guild_id, authorId, false) };
    const event = { ...message, guild_id: c.guild_id, ...member, ...(nonce !== null ? { nonce } : {}) };
    this.notify('create', message);
    await this.emit(E.MessageCreate, event, { guildId: c.guild_id, intent: I.GuildMessages, blankable: this.state.shouldBlank(message) }, () =>
      blankContent(event),
    );
    return nonce !== null ? { ...message, nonce: nonce as string } : { ...message };
  }

  /**
   * Discord's role and @everyone/@here mentions: a role mention `<@&id>` pings the role when allowed_mentions lets
   * roles through (no allowed_mentions, `parse` with 'roles', or the id in `roles`) and the role is mentionable or
   * the author has Mention Everyone in the channel; @everyone/@here ping when 'everyone' is parsed and the author has
   * Mention Everyone. `parse: ['roles']` together with `roles` is an invalid body (as Discord answers).
   */
  private resolvePings(content: string, allowed: MessageBody['allowed_mentions'], c: ChannelRecord, authorId: string): { roles: string[]; everyone: boolean } {
    if (allowed?.parse?.includes('roles') && allowed.roles?.length) {
      throw Errors.invalidFormBody(
        errorAt(['allowed_mentions'], 'MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE', 'parse:["roles"] and roles: [ids] are mutually exclusive.'),
      );
    }
    if (allowed?.parse?.includes('users') && allowed.users?.length) {
      throw Errors.invalidFormBody(
        errorAt(['allowed_mentions'], 'MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE', 'parse:["users"] and users: [ids] are mutually exclusive.'),
      );
    }
    const g = this.state.guilds.get(c.guild_id);
    const mentionEveryone = (this.perms(c, authorId) & P.MentionEveryone) !== 0n;
    const parseRoles = !allowed || (allowed.parse?.includes('roles') ?? false);
    const explicit = new Set(allowed?.roles ?? []);
    const roles: string[] = [];
    for (const m of content.matchAll(/<@&(\d{17,20})>/g)) {
      const id = m[1]!;
      const role = g?.roles.get(id);
      if (!role || roles.includes(id) || id === c.guild_id) continue;
      if (!parseRoles && !explicit.has(id)) continue;
      if (role.mentionable || mentionEveryone) roles.push(id);
    }
    const parseEveryone = !allowed || (allowed.parse?.includes('everyone') ?? false);
    const everyone = parseEveryone && mentionEveryone && /@(everyone|here)/.test(content);
    return { roles, everyone };
  }

  private resolveMentions(content: string, allowed: MessageBody['allowed_mentions'], referenced: MessageRecord | undefined, c: ChannelRecord): APIUser[] {
    const out = new Map<string, APIUser>();
    const parseUsers = !allowed || (allowed.parse?.includes('users') ?? false);
    const explicit = new Set(allowed?.users ?? []);
    for (const m of content.matchAll(/<@!?(\d{17,20})>/g)) {
      const id = m[1]!;
      if (!parseUsers && !explicit.has(id)) continue;
      const u = this.state.user(id);
      if (u && this.state.guilds.get(c.guild_id)?.members.has(id)) out.set(id, { ...u.user });
    }
    if (referenced && (allowed?.replied_user ?? !allowed)) out.set(referenced.message.author.id, { ...referenced.message.author });
    return [...out.values()];
  }

  /** The attachments of an edit with new files (an ephemeral interaction reply, which the interactions module keeps): checked and stored like a message's. */
  uploadAttachments(channelId: string, declared: MessageBody['attachments'], files: UploadedFile[]): APIAttachment[] {
    checkAttachments(declared, files);
    return this.buildAttachments(channelId, declared, files);
  }

  private buildAttachments(channelId: string, declared: MessageBody['attachments'], files: UploadedFile[]): APIAttachment[] {
    const out: APIAttachment[] = [];
    const byIndex = new Map<string, UploadedFile>();
    files.forEach((f, i) => {
      const m = /^files\[(\d+)\]$/.exec(f.field);
      byIndex.set(m ? m[1]! : String(i), f);
    });
    const entries =
      declared && declared.length
        ? declared
        : [...byIndex.keys()].map((k) => ({ id: k, filename: undefined as string | undefined, description: undefined as string | undefined }));
    for (const a of entries) {
      const f = byIndex.get(String(a.id ?? ''));
      if (!f) continue;
      const id = this.state.ids.next();
      const filename = a.filename ?? f.filename;
      // Signed as Discord signs them: valid for a day (the emulator's signer), then refreshed through POST /attachments/refresh-urls.
      const url = this.state.signer.sign(`${this.baseUrl()}/attachments/${channelId}/${id}/${encodeURIComponent(filename)}`);
      this.state.attachments.set(`${channelId}/${id}/${filename}`, { body: f.data, contentType: f.contentType });
      const size = f.contentType === 'image/png' ? pngSize(f.data) : null;
      out.push({
        id,
        filename,
        size: f.data.length,
        url,
        proxy_url: url,
        content_type: f.contentType,
        ...(size ?? {}),
        ...(a.description ? { description: a.description } : {}),
      });
    }
    return out;
  }

  async editMessage(
    actorId: string,
    channelId: string,
    messageId: string,
    body: MessageBody & { attachments?: MessageBody['attachments'] },
    opts: { system?: boolean; files?: UploadedFile[] } = {},
  ): Promise<APIMessage> {
    const c = this.channel(channelId);
    const rec = this.messageIn(channelId, messageId);
    const m = rec.message;
    if (!opts.system) {
      this.canView(c, actorId);
      if (m.author.id !== actorId) {
        // others may only toggle SUPPRESS_EMBEDS with MANAGE_MESSAGES
        throw Errors.cannotEditOthers();
      }
    }
    const next: APIMessage = { ...m };
    if (body.content !== undefined) next.content = body.content ?? '';
    if (body.embeds !== undefined) next.embeds = (body.embeds ?? []).map(normaliseEmbed);
    if (opts.files?.length) checkAttachments(body.attachments?.filter((a) => !m.attachments.some((x) => x.id === String(a.id))) ?? null, opts.files);
    if (body.components !== undefined) next.components = (body.components ?? []) as APIMessage['components'];
    if (body.flags !== undefined && body.flags !== null)
      next.flags = ((m.flags ?? 0) & ~MessageFlags.SuppressEmbeds) | (body.flags & MessageFlags.SuppressEmbeds);
    if (body.attachments !== undefined || (opts.files && opts.files.length)) {
      const keep = new Set((body.attachments ?? []).map((a) => String(a.id)));
      const kept = body.attachments === undefined ? m.attachments : m.attachments.filter((a) => keep.has(a.id));
      next.attachments = [
        ...kept,
        ...this.buildAttachments(channelId, body.attachments?.filter((a) => !m.attachments.some((x) => x.id === String(a.id))) ?? null, opts.files ?? []),
      ];
    }
    next.embeds = next.embeds.map((e) => resolveAttachmentImage(e, next.attachments));
    if (body.content !== undefined) {
      next.mentions = this.resolveMentions(next.content, body.allowed_mentions ?? null, undefined, c);
      const pinged = this.resolvePings(next.content, body.allowed_mentions ?? null, c, m.author.id);
      next.mention_roles = pinged.roles;
      next.mention_everyone = pinged.everyone;
    }
    if (isEmptyMessage({ ...next, sticker_ids: next.sticker_items?.map((s) => s.id) ?? null }) && !(next.flags! & MessageFlags.Loading))
      throw Errors.emptyMessage();
    next.edited_timestamp = new Date().toISOString();
    if (next.flags) next.flags &= ~MessageFlags.Loading;
    rec.message = next;
    this.notify('update', next);
    const member = this.state.user(m.author.id) ? { member: this.state.memberApi(c.guild_id, m.author.id, false) } : {};
    const event = { ...this.state.messageApi(rec), guild_id: c.guild_id, ...member };
    await this.emit(E.MessageUpdate, event, { guildId: c.guild_id, intent: I.GuildMessages, blankable: this.state.shouldBlank(next) }, () =>
      blankContent(event),
    );
    return this.state.messageApi(rec);
  }

  async deleteMessage(actorId: string, channelId: string, messageId: string, opts: { system?: boolean } = {}): Promise<void> {
    const c = this.channel(channelId);
    const rec = this.messageIn(channelId, messageId);
    if (!opts.system) {
      if (rec.message.author.id !== actorId) this.require(c, actorId, P.ManageMessages);
      else this.canView(c, actorId);
    }
    this.state.removeMessage(messageId);
    this.notify('delete', rec.message);
    await this.emit(E.MessageDelete, { id: messageId, channel_id: channelId, guild_id: c.guild_id }, { guildId: c.guild_id, intent: I.GuildMessages });
  }

  async bulkDelete(actorId: string, channelId: string, ids: string[]): Promise<void> {
    const c = this.channel(channelId);
    this.require(c, actorId, P.ManageMessages);
    if (!Array.isArray(ids) || ids.length < 2 || ids.length > 100) {
      throw Errors.invalidFormBody(
        errorAt(
          ['messages'],
          ids.length < 2 ? 'BASE_TYPE_MIN_LENGTH' : 'BASE_TYPE_MAX_LENGTH',
          ids.length < 2 ? 'Must be 2 or more in length.' : 'Must be 100 or fewer in length.',
        ),
      );
    }
    const now = Date.now();
    for (const id of ids) if (now - this.state.messageTime(id) > TWO_WEEKS_MS) throw Errors.tooOldToBulkDelete();
    const deleted: string[] = [];
    for (const id of new Set(ids)) {
      const rec = this.state.messages.get(id);
      if (rec && rec.message.channel_id === channelId) {
        this.state.removeMessage(id);
        deleted.push(id);
      }
    }
    if (deleted.length)
      await this.emit(E.MessageDeleteBulk, { ids: deleted, channel_id: channelId, guild_id: c.guild_id }, { guildId: c.guild_id, intent: I.GuildMessages });
  }

  // ---------------------------------------------------------------- reactions

  /** Parses an emoji as it arrives in a route (`👍`, `name:id`, `a:name:id`, `<:name:id>`). */
  parseEmoji(raw: string, guildId: string): { key: string; emoji: APIPartialEmoji } {
    const s = raw.trim().replace(/^<|>$/g, '');
    const custom = /^(a:)?([\w~-]{1,32}):(\d{17,20})$/.exec(s) ?? /^(a:)?([\w~-]{1,32})?:?(\d{17,20})$/.exec(s);
    if (custom) {
      const id = custom[3]!;
      // any guild's emoji is usable by the bot (external emojis); unknown ids → 10014
      for (const g of this.state.guilds.values()) {
        const e = g.emojis.get(id);
        if (e) return { key: id, emoji: { id, name: e.name, ...(e.animated ? { animated: true } : {}) } };
      }
      throw Errors.unknownEmoji();
    }
    if (!s || s.includes(':') || !/[\p{Extended_Pictographic}\p{Regional_Indicator}\u20E3\u00A9\u00AE\u2122]/u.test(s) || /[\p{L}\p{N}]{2,}/u.test(s)) {
      // maybe a custom emoji by name
      const g = this.state.guilds.get(guildId);
      for (const e of g?.emojis.values() ?? []) if (e.name === s) return { key: e.id, emoji: { id: e.id, name: e.name } };
      throw Errors.unknownEmoji();
    }
    return { key: s, emoji: { id: null, name: s } };
  }

  private reactableMessage(channelId: string, messageId: string): { c: ChannelRecord; rec: MessageRecord } {
    const c = this.channel(channelId);
    const rec = this.messageIn(channelId, messageId);
    if (isThreadType(c.type) && c.thread_metadata?.archived) throw Errors.threadArchived();
    return { c, rec };
  }

  /**
   * A normal reaction, or with `burst` a super reaction (only people add those, in the client; the API has no
   * route for them). One person may hold both kinds of one emoji: Discord counts and lists them apart.
   */
  async addReaction(userId: string, channelId: string, messageId: string, emojiRaw: string, opts: { burst?: boolean } = {}): Promise<void> {
    const { c, rec } = this.reactableMessage(channelId, messageId);
    this.require(c, userId, P.ReadMessageHistory);
    const { key, emoji } = this.parseEmoji(emojiRaw, c.guild_id);
    let r = rec.reactions.get(key);
    if (!r) {
      this.require(c, userId, P.AddReactions);
      if (rec.reactions.size >= 20) throw new DiscordHttpError(400, 30010, 'Maximum number of reactions reached (20)');
      rec.reactions.set(key, (r = { emoji, users: new Set(), burst: new Set() }));
    }
    const burst = opts.burst === true;
    const holders = burst ? r.burst : r.users;
    if (holders.has(userId)) return; // idempotent, no event
    holders.add(userId);
    await this.emit(
      E.MessageReactionAdd,
      {
        user_id: userId,
        channel_id: channelId,
        message_id: messageId,
        guild_id: c.guild_id,
        member: this.state.memberApi(c.guild_id, userId, true),
        emoji,
        message_author_id: rec.message.author.id,
        burst,
        burst_colors: burst ? [...BURST_COLORS] : [],
        type: burst ? 1 : 0,
      },
      { guildId: c.guild_id, intent: I.GuildMessageReactions },
    );
  }

  /**
   * Removes a person's reaction. `kinds` says which: a person in the client takes back one kind (`normal` or
   * `burst`); the REST routes (`@me`, and a moderator's Delete User Reaction) take every kind the person holds
   * of that emoji. One MESSAGE_REACTION_REMOVE per kind removed, with its `burst` and `type` (no
   * `burst_colors`: Discord leaves them out of removals).
   */
  async removeReaction(
    actorId: string,
    channelId: string,
    messageId: string,
    emojiRaw: string,
    targetUserId: string,
    kinds: 'normal' | 'burst' | 'all' = 'all',
  ): Promise<void> {
    const { c, rec } = this.reactableMessage(channelId, messageId);
    if (targetUserId !== actorId) this.require(c, actorId, P.ManageMessages);
    const { key, emoji } = this.parseEmoji(emojiRaw, c.guild_id);
    const r = rec.reactions.get(key);
    if (!r) return; // Discord answers 204 and sends nothing
    const removed: boolean[] = [];
    if (kinds !== 'burst' && r.users.delete(targetUserId)) removed.push(false);
    if (kinds !== 'normal' && r.burst.delete(targetUserId)) removed.push(true);
    if (r.users.size === 0 && r.burst.size === 0) rec.reactions.delete(key);
    for (const burst of removed) {
      await this.emit(
        E.MessageReactionRemove,
        {
          user_id: targetUserId,
          channel_id: channelId,
          message_id: messageId,
          guild_id: c.guild_id,
          emoji,
          burst,
          type: burst ? 1 : 0,
        },
        { guildId: c.guild_id, intent: I.GuildMessageReactions },
      );
    }
  }

  async removeAllReactions(actorId: string, channelId: string, messageId: string): Promise<void> {
    const { c, rec } = this.reactableMessage(channelId, messageId);
    this.require(c, actorId, P.ManageMessages);
    rec.reactions.clear();
    await this.emit(
      E.MessageReactionRemoveAll,
      { channel_id: channelId, message_id: messageId, guild_id: c.guild_id },
      { guildId: c.guild_id, intent: I.GuildMessageReactions },
    );
  }

  async removeEmojiReactions(actorId: string, channelId: string, messageId: string, emojiRaw: string): Promise<void> {
    const { c, rec } = this.reactableMessage(channelId, messageId);
    this.require(c, actorId, P.ManageMessages);
    const { key, emoji } = this.parseEmoji(emojiRaw, c.guild_id);
    if (!rec.reactions.delete(key)) return;
    await this.emit(
      E.MessageReactionRemoveEmoji,
      { channel_id: channelId, message_id: messageId, guild_id: c.guild_id, emoji },
      { guildId: c.guild_id, intent: I.GuildMessageReactions },
    );
  }

  /** Get Reactions: the normal reactors (type 0, the default) or the super reactors (type 1), never both. */
  reactors(channelId: string, messageId: string, emojiRaw: string, q: { after?: string; limit: number; type?: 0 | 1 }): APIUser[] {
    const c = this.channel(channelId);
    const rec = this.messageIn(channelId, messageId);
    const { key } = this.parseEmoji(emojiRaw, c.guild_id);
    const r = rec.reactions.get(key);
    if (!r) return [];
    const ids = [...(q.type === 1 ? r.burst : r.users)].sort((a, b) => (a.length !== b.length ? a.length - b.length : a < b ? -1 : a > b ? 1 : 0));
    const after = q.after;
    const from = after ? ids.filter((id) => id.length > after.length || (id.length === after.length && id > after)) : ids;
    return from
      .slice(0, q.limit)
      .map((id) => ({ ...(this.state.user(id)?.user ?? { id, username: 'unknown', discriminator: '0', global_name: null, avatar: null }) }));
  }

  // ---------------------------------------------------------------- threads

  private newThread(
    parent: ChannelRecord,
    id: string,
    ownerId: string,
    name: string,
    type: ChannelType,
    autoArchive?: number | null,
    appliedTags?: string[] | null,
  ): ChannelRecord {
    const now = new Date().toISOString();
    const t: ChannelRecord = {
      id,
      type,
      guild_id: parent.guild_id,
      parent_id: parent.id,
      owner_id: ownerId,
      name,
      last_message_id: null,
      rate_limit_per_user: 0,
      flags: 0,
      thread_metadata: {
        archived: false,
        auto_archive_duration: (autoArchive ?? 4320) as 60 | 1440 | 4320 | 10080,
        archive_timestamp: now,
        locked: false,
        create_timestamp: now,
        ...(type === ChannelType.PrivateThread ? { invitable: true } : {}),
      },
      message_count: 0,
      member_count: 1,
      total_message_sent: 0,
      threadMembers: new Set([ownerId]),
      ...(parent.type === ChannelType.GuildForum ? { applied_tags: appliedTags ?? [] } : {}),
    };
    this.state.channels.set(id, t);
    this.guildOf(parent).channelIds.push(id);
    return t;
  }

  private async emitThreadCreate(t: ChannelRecord): Promise<void> {
    const d = { ...this.state.threadApi(t), newly_created: true };
    await this.emit(E.ThreadCreate, d, { guildId: t.guild_id, intent: I.Guilds });
  }

  async threadFromMessage(
    actorId: string,
    channelId: string,
    messageId: string,
    body: { name: string; auto_archive_duration?: number | null },
  ): Promise<ChannelRecord> {
    const c = this.channel(channelId);
    if (c.type !== ChannelType.GuildText && c.type !== ChannelType.GuildAnnouncement) {
      throw new DiscordHttpError(400, 50024, 'Cannot execute action on this channel type');
    }
    const rec = this.messageIn(channelId, messageId);
    this.require(c, actorId, P.CreatePublicThreads);
    if (rec.message.thread || this.state.channels.has(messageId)) throw Errors.threadAlreadyCreated();
    const t = this.newThread(c, messageId, actorId, body.name, ChannelType.PublicThread, body.auto_archive_duration);
    rec.message = { ...rec.message, thread: this.state.threadApi(t) as APIMessage['thread'], flags: (rec.message.flags ?? 0) | MessageFlags.HasThread };
    await this.emitThreadCreate(t);
    return t;
  }

  /**
   * A forum post's tags: at most 5, each one of the forum's available tags (a moderated tag needs Manage Threads);
   * a forum with the REQUIRE_TAG flag refuses a new post without one (40067, as Discord).
   */
  private checkAppliedTags(forum: ChannelRecord, tags: readonly string[], actorId: string, creating: boolean): void {
    if (tags.length > 5) throw Errors.invalidFormBody(errorAt(['applied_tags'], 'BASE_TYPE_MAX_LENGTH', 'Must be 5 or fewer in length.'));
    const available = (forum.available_tags ?? []) as Array<{ id: string; moderated?: boolean }>;
    for (const [i, id] of tags.entries()) {
      const tag = available.find((t) => t.id === id);
      if (!tag) throw Errors.invalidFormBody(errorAt(['applied_tags', String(i)], 'TAG_INVALID', 'Unknown tag.'));
      if (tag.moderated && (this.perms(forum, actorId) & P.ManageThreads) === 0n) throw Errors.missingPermissions();
    }
    if (creating && ((forum.flags ?? 0) & ChannelFlags.RequireTag) !== 0 && tags.length === 0) {
      throw new DiscordHttpError(400, 40067, 'A tag is required to create a forum post in this channel');
    }
  }

  /** POST /channels/{c}/threads: a forum post (with `message`) or a thread without a message. */
  async createThread(
    actorId: string,
    channelId: string,
    body: { name: string; type?: number | null; auto_archive_duration?: number | null; applied_tags?: string[] | null; message?: MessageBody },
    files: UploadedFile[] = [],
  ): Promise<{ thread: ChannelRecord; message: APIMessage | null }> {
    const c = this.channel(channelId);
    if (c.type === ChannelType.GuildForum || c.type === ChannelType.GuildMedia) {
      this.require(c, actorId, P.SendMessages);
      if (!body.message) throw Errors.invalidFormBody(errorAt(['message'], 'BASE_TYPE_REQUIRED', 'This field is required'));
      if (isEmptyMessage(body.message, files.length)) throw Errors.emptyMessage();
      this.checkAppliedTags(c, body.applied_tags ?? [], actorId, true);
      const id = this.state.ids.next();
      const t = this.newThread(c, id, actorId, body.name, ChannelType.PublicThread, body.auto_archive_duration, body.applied_tags);
      await this.emitThreadCreate(t);
      const message = await this.createMessage(actorId, id, body.message, { id, system: true, files });
      t.last_message_id = id;
      c.last_message_id = id;
      return { thread: t, message };
    }
    if (c.type !== ChannelType.GuildText && c.type !== ChannelType.GuildAnnouncement) {
      throw new DiscordHttpError(400, 50024, 'Cannot execute action on this channel type');
    }
    const type = body.type ?? ChannelType.PrivateThread;
    this.require(c, actorId, type === ChannelType.PrivateThread ? P.CreatePrivateThreads : P.CreatePublicThreads);
    const id = this.state.ids.next();
    const t = this.newThread(c, id, actorId, body.name, type, body.auto_archive_duration);
    await this.emitThreadCreate(t);
    if (type !== ChannelType.PrivateThread) {
      // Discord posts a "started a thread" system message in the parent channel
      await this.createMessage(
        actorId,
        channelId,
        { content: body.name, message_reference: { channel_id: id, guild_id: c.guild_id, type: 0 } as never },
        { type: MessageType.ThreadCreated, system: true },
      );
    }
    return { thread: t, message: null };
  }

  async updateChannel(
    actorId: string,
    channelId: string,
    body: {
      name?: string | null;
      archived?: boolean | null;
      locked?: boolean | null;
      auto_archive_duration?: number | null;
      applied_tags?: string[] | null;
      topic?: string | null;
    },
  ): Promise<ChannelRecord> {
    const c = this.channel(channelId);
    const isThread = isThreadType(c.type);
    const perms = this.perms(c, actorId);
    if ((perms & P.ViewChannel) === 0n) throw Errors.missingAccess();
    if (isThread) {
      const owner = c.owner_id === actorId;
      const managing = (perms & P.ManageThreads) !== 0n;
      const onlyUnarchive = body.archived === false && Object.keys(body).length === 1 && !c.thread_metadata?.locked;
      if (!managing && !owner && !onlyUnarchive) throw Errors.missingPermissions();
      if (body.locked !== undefined && body.locked !== null && !managing) throw Errors.missingPermissions();
      const md = c.thread_metadata!;
      if (md.archived && body.archived !== false && (body.name !== undefined || body.applied_tags !== undefined)) throw Errors.threadArchived();
      if (body.name !== undefined && body.name !== null) c.name = body.name;
      if (body.applied_tags) {
        const parent = c.parent_id ? this.state.channels.get(c.parent_id) : undefined;
        if (parent) this.checkAppliedTags(parent, body.applied_tags, actorId, false);
        c.applied_tags = body.applied_tags;
      }
      if (body.auto_archive_duration) md.auto_archive_duration = body.auto_archive_duration as 60;
      if (body.locked !== undefined && body.locked !== null) md.locked = body.locked;
      if (body.archived !== undefined && body.archived !== null && body.archived !== md.archived) {
        md.archived = body.archived;
        md.archive_timestamp = new Date().toISOString();
      }
      await this.emit(E.ThreadUpdate, this.state.threadApi(c), { guildId: c.guild_id, intent: I.Guilds });
      return c;
    }
    if ((perms & P.ManageChannels) === 0n) throw Errors.missingPermissions();
    if (body.name) c.name = body.name;
    if (body.topic !== undefined) c.topic = body.topic;
    await this.emit(E.ChannelUpdate, this.state.channelApi(c), { guildId: c.guild_id, intent: I.Guilds });
    return c;
  }

  async deleteChannel(actorId: string, channelId: string): Promise<ChannelRecord> {
    const c = this.channel(channelId);
    const isThread = isThreadType(c.type);
    this.require(c, actorId, isThread ? P.ManageThreads : P.ManageChannels);
    this.state.channels.delete(channelId);
    const g = this.guildOf(c);
    g.channelIds = g.channelIds.filter((id) => id !== channelId);
    for (const id of this.state.idsOf(channelId)) this.state.messages.delete(id);
    this.state.channelMessages.delete(channelId);
    if (isThread) {
      const starter = this.state.messages.get(channelId);
      if (starter?.message.thread) {
        const { thread: _t, ...rest } = starter.message;
        starter.message = rest as APIMessage;
      }
      await this.emit(E.ThreadDelete, { id: c.id, guild_id: c.guild_id, parent_id: c.parent_id, type: c.type }, { guildId: c.guild_id, intent: I.Guilds });
    } else {
      await this.emit(E.ChannelDelete, this.state.channelApi(c), { guildId: c.guild_id, intent: I.Guilds });
    }
    return c;
  }

  async joinThread(userId: string, threadId: string): Promise<void> {
    const t = this.channel(threadId);
    if (!isThreadType(t.type)) throw Errors.unknownChannel();
    this.canView(t, userId);
    if (t.thread_metadata?.archived) throw Errors.threadArchived();
    t.threadMembers ??= new Set();
    if (t.threadMembers.has(userId)) return;
    t.threadMembers.add(userId);
    t.member_count = t.threadMembers.size;
    if (userId === this.state.botUserId) {
      await this.emit(
        E.ThreadMemberUpdate,
        { id: t.id, user_id: userId, join_timestamp: new Date().toISOString(), flags: 0, guild_id: t.guild_id },
        { guildId: t.guild_id, intent: I.Guilds },
      );
    }
  }

  async typing(userId: string, channelId: string): Promise<void> {
    const c = this.channel(channelId);
    this.require(c, userId, isThreadType(c.type) ? P.SendMessagesInThreads : P.SendMessages);
    await this.emit(
      E.TypingStart,
      {
        channel_id: channelId,
        guild_id: c.guild_id,
        user_id: userId,
        timestamp: Math.floor(Date.now() / 1000),
        member: this.state.memberApi(c.guild_id, userId),
      },
      { guildId: c.guild_id, intent: I.GuildMessageTyping },
    );
  }

  // ---------------------------------------------------------------- guild-level

  async setRolePermissions(guildId: string, roleId: string, permissions: bigint): Promise<void> {
    const g = this.state.guilds.get(guildId);
    const role = g?.roles.get(roleId);
    if (!g || !role) throw Errors.unknownGuild();
    role.permissions = permissions.toString();
    await this.emit(E.GuildRoleUpdate, { guild_id: guildId, role: { ...role } }, { guildId, intent: I.Guilds });
  }

  async setMemberRoles(guildId: string, userId: string, roles: string[]): Promise<void> {
    const g = this.state.guilds.get(guildId);
    const m = g?.members.get(userId);
    if (!g || !m) throw Errors.unknownMember();
    m.roles = roles;
    await this.emit(E.GuildMemberUpdate, { guild_id: guildId, ...this.state.memberApi(guildId, userId, true) }, { guildId, intent: I.GuildMembers });
  }

  /** A raw dispatch (tests, storms). */
  raw(t: string, d: object, scope: Parameters<Gateway['dispatch']>[2] = {}): Promise<void> {
    return this.emit(t, d, scope);
  }
}

/**
 * Discord's checks of a message's files: a declared attachment (`attachments[n]`, id n) needs the upload `files[n]`,
 * its description is at most 1024 characters, and an upload claiming to be a PNG must be one.
 */
function checkAttachments(declared: MessageBody['attachments'], files: UploadedFile[]): void {
  const tree: DiscordErrorTree = {};
  const uploaded = new Set(files.map((f, i) => /^files\[(\d+)\]$/.exec(f.field)?.[1] ?? String(i)));
  (declared ?? []).forEach((a, i) => {
    if (!uploaded.has(String(a.id ?? '')))
      errorAt(['attachments', i, 'id'], 'ATTACHMENT_NOT_FOUND', 'Unknown attachment: no file was uploaded with this id.', tree);
    if (typeof a.description === 'string' && a.description.length > 1024)
      errorAt(['attachments', i, 'description'], 'BASE_TYPE_MAX_LENGTH', 'Must be 1024 or fewer in length.', tree);
  });
  files.forEach((f) => {
    if (f.contentType === 'image/png' && !pngSize(f.data)) errorAt([f.field], 'INVALID_FILE', 'The file is not a valid PNG image.', tree);
  });
  if (Object.keys(tree).length) throw Errors.invalidFormBody(tree);
}

/** Width and height from a PNG's IHDR chunk, or null when the bytes are not a PNG. */
function pngSize(data: Buffer): { width: number; height: number } | null {
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  if (data.length < 24 || !data.subarray(0, 8).equals(signature) || data.toString('latin1', 12, 16) !== 'IHDR') return null;
  return { width: data.readUInt32BE(16), height: data.readUInt32BE(20) };
}

/** An embed image `attachment://name` becomes that attachment's URL (with its size), as Discord shows it; an unknown name is dropped. */
export function resolveAttachmentImage(e: APIEmbed, attachments: readonly APIAttachment[]): APIEmbed {
  const url = e.image?.url;
  if (!url?.startsWith('attachment://')) return e;
  const a = attachments.find((x) => x.filename === url.slice('attachment://'.length));
  if (!a) {
    const { image: _dropped, ...rest } = e;
    return rest;
  }
  return { ...e, image: { url: a.url, proxy_url: a.proxy_url, ...(a.width ? { width: a.width, height: a.height ?? 0 } : {}) } };
}

function normaliseEmbed(e: APIEmbed): APIEmbed {
  const out: APIEmbed = { type: 'rich' as APIEmbed['type'], ...e };
  if (e.timestamp) out.timestamp = new Date(e.timestamp).toISOString().replace('Z', '+00:00');
  if (e.fields) out.fields = e.fields.map((f) => ({ name: f.name, value: f.value, inline: f.inline ?? false }));
  if (e.color === null) delete out.color;
  return out;
}

export type { DiscordErrorTree };
