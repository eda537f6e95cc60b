/**
 * Interactions: building INTERACTION_CREATE from a registered command, the callback endpoint and the
 * interaction webhook (@original, follow-ups). Tokens stand in for auth on these routes, like Discord.
 */
import { randomBytes } from 'node:crypto';
import {
  ApplicationCommandOptionType as O,
  ApplicationCommandType,
  ComponentType,
  GatewayDispatchEvents as E,
  InteractionResponseType as R,
  InteractionType,
  MessageFlags,
  MessageType,
  type APIApplicationCommand,
  type APIApplicationCommandInteractionDataOption,
  type APIApplicationCommandOption,
  type APIInteraction,
  type APIMessage,
} from 'discord-api-types/v10';
import { resolveAttachmentImage, type Actions, type MessageBody, type UploadedFile } from './actions.ts';
import { DiscordHttpError, Errors } from './errors.ts';
import { type DiscordState, type InteractionRecord, blankContent } from './state.ts';

export type OptionValue = string | number | boolean | { id: string };

export interface CommandInvocation {
  subcommand?: string;
  group?: string;
  options?: Record<string, OptionValue | undefined>;
  /** autocomplete: the focused option's name and its partial value */
  focused?: string;
  value?: string;
  locale?: string;
  /** run even if the member lacks the command's default_member_permissions (Discord would hide it) */
  force?: boolean;
}

const FIFTEEN_MIN = 15 * 60_000;

export class Interactions {
  ackTimeoutMs = 3000;
  /** listeners the driver uses to resolve runCommand/autocomplete */
  readonly listeners = new Set<(rec: InteractionRecord, what: string) => void>();

  /** ephemeral message id → the interaction whose private message it is (a button on it edits it there) */
  private readonly privateOwner = new Map<string, InteractionRecord>();

  constructor(
    private readonly state: DiscordState,
    private readonly actions: Actions,
  ) {}

  /**
   * A press of a button on a message the bot sent: a channel message, or an interaction's ephemeral answer (only
   * the person who ran that command sees it, so only they can press). Dispatches a MESSAGE_COMPONENT
   * INTERACTION_CREATE like Discord; an unknown, disabled or link button is refused, as a client could not press it.
   */
  async pressButton(userId: string, messageId: string, customId: string): Promise<InteractionRecord> {
    const owner = this.privateOwner.get(messageId);
    const message = owner
      ? owner.privateMessages.get(messageId)
      : this.state.messages.get(messageId)
        ? this.state.messageApi(this.state.messages.get(messageId)!)
        : undefined;
    if (!message) throw new Error(`emulator: no message ${messageId} to press a button on`);
    if (owner && owner.userId !== userId) throw new Error(`emulator: message ${messageId} is ephemeral to ${owner.userId}; nobody else sees its buttons`);
    if (message.author?.id !== this.state.botUserId) throw new Error('emulator: only the application’s own messages carry its buttons');
    type Button = { type: number; custom_id?: string; disabled?: boolean; style?: number };
    const buttons = ((message.components ?? []) as Array<{ components?: Button[] }>)
      .flatMap((row) => row.components ?? [])
      .filter((c) => c.type === ComponentType.Button);
    const button = buttons.find((b) => b.custom_id === customId);
    if (!button)
      throw new Error(`emulator: message ${messageId} has no button "${customId}" (has: ${buttons.map((b) => b.custom_id ?? '(link)').join(', ') || 'none'})`);
    if (button.disabled) throw new Error(`emulator: button "${customId}" is disabled`);
    const c = this.actions.channel(message.channel_id);
    const g = this.actions.guildOf(c);
    const id = this.state.ids.next();
    const token = `itok_${id}_${randomBytes(24).toString('base64url')}`;
    const payload = {
      id,
      application_id: this.state.applicationId,
      type: InteractionType.MessageComponent,
      token,
      version: 1,
      data: { custom_id: customId, component_type: ComponentType.Button },
      message,
      guild_id: g.id,
      guild: { id: g.id, locale: 'en-US', features: [] },
      channel_id: c.id,
      channel: { ...this.state.channelApi(c), permissions: this.state.channelPermissions(c.id, userId).toString() },
      member: {
        ...this.state.memberApi(g.id, userId, true),
        user: this.actions.author(userId),
        permissions: this.state.channelPermissions(c.id, userId).toString(),
      },
      app_permissions: this.state.channelPermissions(c.id, this.state.botUserId).toString(),
      locale: 'en-US',
      guild_locale: 'en-US',
      entitlements: [],
      authorizing_integration_owners: { '0': g.id },
      context: 0,
      attachment_size_limit: 10 * 1024 * 1024,
    } as unknown as APIInteraction;
    const rec: InteractionRecord = {
      id,
      token,
      type: payload.type,
      applicationId: this.state.applicationId,
      guildId: g.id,
      channelId: c.id,
      userId,
      createdAt: Date.now(),
      callbackType: null,
      ephemeral: false,
      deferred: false,
      responded: false,
      originalMessageId: null,
      // An ephemeral message lives with the interaction that sent it: edits through this one land there too.
      privateMessages: owner ? owner.privateMessages : new Map(),
      followUpIds: [],
      choices: null,
      messageId,
      lastActivity: Date.now(),
    };
    this.state.interactions.set(id, rec);
    this.state.interactionsByToken.set(token, rec);
    await this.actions.raw(E.InteractionCreate, payload, { guildId: g.id, single: true });
    return rec;
  }

  private touch(rec: InteractionRecord, what: string): void {
    rec.lastActivity = Date.now();
    for (const l of this.listeners) l(rec, what);
  }

  /** Creates an interaction for a registered command and dispatches INTERACTION_CREATE. */
  async invoke(userId: string, channelId: string, name: string, inv: CommandInvocation, autocomplete: boolean): Promise<InteractionRecord> {
    const c = this.actions.channel(channelId);
    const g = this.actions.guildOf(c);
    const cmd = this.state.findCommand(g.id, name);
    if (!cmd) throw new Error(`emulator: command /${name} is not registered (guild ${g.name}); register it via the bot's PUT or discord.registerCommands()`);
    const memberPerms = this.state.memberPermissions(g.id, userId);
    if (!inv.force && cmd.default_member_permissions && cmd.default_member_permissions !== '0') {
      const need = BigInt(cmd.default_member_permissions);
      if ((memberPerms & need) !== need)
        throw new Error(
          `emulator: ${this.state.user(userId)?.user.username} lacks default_member_permissions ${need} for /${name} (Discord hides it); pass { force: true } to run it anyway`,
        );
    }
    const { options, resolved } = this.buildOptions(cmd, inv, autocomplete, g.id);
    const id = this.state.ids.next();
    const token = `itok_${id}_${randomBytes(24).toString('base64url')}`;
    const user = this.actions.author(userId);
    const data: Record<string, unknown> = { id: cmd.id, name: cmd.name, type: ApplicationCommandType.ChatInput, options };
    if (cmd.guild_id) data.guild_id = cmd.guild_id;
    if (resolved) data.resolved = resolved;
    const payload = {
      id,
      application_id: this.state.applicationId,
      type: autocomplete ? InteractionType.ApplicationCommandAutocomplete : InteractionType.ApplicationCommand,
      token,
      version: 1,
      data,
      guild_id: g.id,
      guild: { id: g.id, locale: 'en-US', features: [] },
      channel_id: c.id,
      channel: { ...this.state.channelApi(c), permissions: this.state.channelPermissions(c.id, userId).toString() },
      member: { ...this.state.memberApi(g.id, userId, true), user, permissions: this.state.channelPermissions(c.id, userId).toString() },
      app_permissions: this.state.channelPermissions(c.id, this.state.botUserId).toString(),
      locale: inv.locale ?? 'en-US',
      guild_locale: 'en-US',
      entitlements: [],
      authorizing_integration_owners: { '0': g.id },
      context: 0,
      attachment_size_limit: 10 * 1024 * 1024,
    } as unknown as APIInteraction;
    const rec: InteractionRecord = {
      id,
      token,
      type: payload.type,
      applicationId: this.state.applicationId,
      guildId: g.id,
      channelId: c.id,
      userId,
      commandName: cmd.name,
      createdAt: Date.now(),
      callbackType: null,
      ephemeral: false,
      deferred: false,
      responded: false,
      originalMessageId: null,
      privateMessages: new Map(),
      followUpIds: [],
      choices: null,
      lastActivity: Date.now(),
    };
    this.state.interactions.set(id, rec);
    this.state.interactionsByToken.set(token, rec);
    await this.actions.raw(E.InteractionCreate, payload, { guildId: g.id, single: true });
    return rec;
  }

  private buildOptions(cmd: APIApplicationCommand, inv: CommandInvocation, autocomplete: boolean, guildId: string) {
    const resolved: {
      channels?: Record<string, unknown>;
      users?: Record<string, unknown>;
      members?: Record<string, unknown>;
      roles?: Record<string, unknown>;
    } = {};
    let defs: readonly APIApplicationCommandOption[] = cmd.options ?? [];
    const wrap: Array<{ name: string; type: number }> = [];
    if (inv.group) {
      const gdef = defs.find((o) => o.name === inv.group && o.type === O.SubcommandGroup);
      if (!gdef || !('options' in gdef)) throw new Error(`emulator: /${cmd.name} has no subcommand group ${inv.group}`);
      wrap.push({ name: inv.group, type: O.SubcommandGroup });
      defs = gdef.options ?? [];
    }
    if (inv.subcommand) {
      const sdef = defs.find((o) => o.name === inv.subcommand && o.type === O.Subcommand);
      if (!sdef || !('options' in sdef)) throw new Error(`emulator: /${cmd.name} has no subcommand ${inv.subcommand}`);
      wrap.push({ name: inv.subcommand, type: O.Subcommand });
      defs = sdef.options ?? [];
    }
    const values: Record<string, OptionValue | undefined> = { ...inv.options };
    if (autocomplete) {
      if (!inv.focused) throw new Error('emulator: autocomplete needs { focused }');
      values[inv.focused] = inv.value ?? '';
    }
    const leaf: APIApplicationCommandInteractionDataOption[] = [];
    for (const [name, v] of Object.entries(values)) {
      if (v === undefined) continue;
      const def = defs.find((o) => o.name === name);
      if (!def) throw new Error(`emulator: /${cmd.name} ${inv.subcommand ?? ''} has no option "${name}" (has: ${defs.map((d) => d.name).join(', ')})`);
      const focused = autocomplete && name === inv.focused;
      let value: unknown = v;
      switch (def.type) {
        case O.String:
          value = String(v);
          break;
        case O.Integer:
          value = focused ? String(v) : Number(v);
          if (!focused && !Number.isInteger(value)) throw new Error(`emulator: option ${name} must be an integer`);
          break;
        case O.Number:
          value = focused ? String(v) : Number(v);
          break;
        case O.Boolean:
          value = Boolean(v);
          break;
        case O.Channel: {
          const ref = typeof v === 'object' ? v.id : String(v);
          const ch = this.state.channels.get(ref) ?? [...this.state.channels.values()].find((x) => x.guild_id === guildId && x.name === ref);
          if (!ch) throw new Error(`emulator: unknown channel ${ref} for option ${name}`);
          value = ch.id;
          (resolved.channels ??= {})[ch.id] = {
            id: ch.id,
            name: ch.name,
            type: ch.type,
            permissions: this.state.channelPermissions(ch.id, this.state.botUserId).toString(),
            ...(ch.parent_id ? { parent_id: ch.parent_id } : {}),
            ...(ch.thread_metadata ? { thread_metadata: ch.thread_metadata } : {}),
          };
          break;
        }
        case O.Role: {
          const ref = typeof v === 'object' ? v.id : String(v);
          const g = this.state.guilds.get(guildId)!;
          const role = g.roles.get(ref) ?? [...g.roles.values()].find((r) => r.name === ref);
          if (!role) throw new Error(`emulator: unknown role ${ref} for option ${name}`);
          value = role.id;
          (resolved.roles ??= {})[role.id] = { ...role };
          break;
        }
        case O.User:
        case O.Mentionable: {
          const ref = typeof v === 'object' ? v.id : String(v);
          const u = this.state.users.get(ref) ?? [...this.state.users.values()].find((x) => x.user.username === ref);
          if (!u) throw new Error(`emulator: unknown user ${ref} for option ${name}`);
          value = u.user.id;
          (resolved.users ??= {})[u.user.id] = u.user;
          const { user: _u, ...member } = {
            ...this.state.memberApi(guildId, u.user.id, false),
            permissions: this.state.memberPermissions(guildId, u.user.id).toString(),
          } as Record<string, unknown>;
          (resolved.members ??= {})[u.user.id] = member;
          break;
        }
        default:
          value = typeof v === 'object' ? v.id : v;
      }
      leaf.push({ name, type: def.type, value, ...(focused ? { focused: true } : {}) } as APIApplicationCommandInteractionDataOption);
    }
    if (!autocomplete) {
      for (const d of defs) {
        if ('required' in d && d.required && !(d.name in values && values[d.name] !== undefined)) {
          throw new Error(`emulator: /${cmd.name} ${inv.subcommand ?? ''}: required option "${d.name}" missing`);
        }
      }
    }
    let options: APIApplicationCommandInteractionDataOption[] = leaf;
    for (const w of wrap.reverse()) options = [{ name: w.name, type: w.type, options } as APIApplicationCommandInteractionDataOption];
    return { options, resolved: Object.keys(resolved).length ? resolved : undefined };
  }

  // ---------------------------------------------------------------- callback + webhooks

  byId(id: string, token: string): InteractionRecord {
    const rec = this.state.interactions.get(id);
    if (!rec || rec.token !== token) throw Errors.unknownInteraction();
    return rec;
  }

  byToken(appId: string, token: string): InteractionRecord {
    const rec = this.state.interactionsByToken.get(token);
    if (!rec || rec.applicationId !== appId || Date.now() - rec.createdAt > FIFTEEN_MIN) throw Errors.unknownWebhook();
    return rec;
  }

  async callback(
    rec: InteractionRecord,
    body: { type: number; data?: MessageBody & { choices?: unknown[] } },
    files: UploadedFile[],
    withResponse: boolean,
  ): Promise<unknown> {
    if (rec.callbackType !== null) throw Errors.alreadyAcknowledged();
    if (this.ackTimeoutMs > 0 && Date.now() - rec.createdAt > this.ackTimeoutMs) throw Errors.unknownInteraction();
    const isCommand = rec.type === InteractionType.ApplicationCommand;
    const isAutocomplete = rec.type === InteractionType.ApplicationCommandAutocomplete;
    const bad = (msg: string) =>
      new DiscordHttpError(400, 50035, 'Invalid Form Body', { type: { _errors: [{ code: 'INTERACTION_RESPONSE_TYPE_INVALID', message: msg }] } });
    if (isAutocomplete && body.type !== R.ApplicationCommandAutocompleteResult) throw bad('Autocomplete interactions only accept type 8.');
    if (!isAutocomplete && body.type === R.ApplicationCommandAutocompleteResult) throw bad('Not an autocomplete interaction.');
    if (isCommand && (body.type === R.DeferredMessageUpdate || body.type === R.UpdateMessage))
      throw bad('Interaction response type 6/7 needs a component interaction.');
    const data = body.data ?? {};
    const ephemeral = ((data.flags ?? 0) & MessageFlags.Ephemeral) !== 0;
    let message: APIMessage | null = null;
    switch (body.type) {
      case R.ChannelMessageWithSource: {
        rec.callbackType = body.type;
        rec.ephemeral = ephemeral;
        message = await this.postAsInteraction(rec, data, files, ephemeral);
        rec.originalMessageId = message.id;
        rec.responded = true;
        break;
      }
      case R.DeferredChannelMessageWithSource: {
        rec.callbackType = body.type;
        rec.ephemeral = ephemeral;
        rec.deferred = true;
        message = await this.postAsInteraction(rec, { content: '' }, [], ephemeral, MessageFlags.Loading);
        rec.originalMessageId = message.id;
        break;
      }
      case R.DeferredMessageUpdate:
        rec.callbackType = body.type;
        rec.deferred = true;
        rec.originalMessageId = rec.messageId ?? null;
        break;
      case R.UpdateMessage:
        rec.callbackType = body.type;
        rec.originalMessageId = rec.messageId ?? null;
        if (rec.messageId && rec.privateMessages.has(rec.messageId)) message = this.editPrivate(rec, rec.messageId, data);
        else if (rec.messageId) message = await this.actions.editMessage(this.state.botUserId, rec.channelId, rec.messageId, data, { system: true, files });
        rec.responded = true;
        break;
      case R.ApplicationCommandAutocompleteResult:
        rec.callbackType = body.type;
        rec.choices = (data as { choices?: unknown[] }).choices ?? [];
        rec.responded = true;
        break;
      case R.Modal:
        rec.callbackType = body.type;
        rec.responded = true;
        break;
      default:
        throw bad(`Unsupported interaction response type ${body.type}.`);
    }
    this.touch(rec, 'callback');
    if (!withResponse) return null;
    return {
      interaction: {
        id: rec.id,
        type: rec.type,
        response_message_id: rec.originalMessageId ?? undefined,
        response_message_loading: body.type === R.DeferredChannelMessageWithSource,
        response_message_ephemeral: rec.ephemeral,
      },
      resource: { type: body.type, ...(message ? { message } : {}) },
    };
  }

  private async postAsInteraction(rec: InteractionRecord, data: MessageBody, files: UploadedFile[], ephemeral: boolean, extraFlags = 0): Promise<APIMessage> {
    const body: MessageBody = { ...data, flags: (data.flags ?? 0) | extraFlags, nonce: undefined, enforce_nonce: undefined, message_reference: undefined };
    const msg = await this.actions.createMessage(this.state.botUserId, rec.channelId, body, {
      type: MessageType.ChatInputCommand,
      webhookId: this.state.applicationId,
      interaction: { id: rec.id, type: rec.type, userId: rec.userId, name: rec.commandName },
      system: true,
      ephemeral,
      files,
      allowEmpty: extraFlags !== 0,
    });
    if (extraFlags) msg.flags = (msg.flags ?? 0) | extraFlags;
    if (ephemeral) {
      msg.flags = (msg.flags ?? 0) | MessageFlags.Ephemeral;
      rec.privateMessages.set(msg.id, msg);
      if (!this.privateOwner.has(msg.id)) this.privateOwner.set(msg.id, rec);
    } else if (extraFlags) {
      const stored = this.state.messages.get(msg.id);
      if (stored) stored.message.flags = msg.flags;
    }
    return msg;
  }

  /** The message behind @original or a follow-up id, wherever it lives. */
  webhookMessage(rec: InteractionRecord, messageId: string): APIMessage {
    const id = messageId === '@original' ? rec.originalMessageId : messageId;
    if (!id) throw Errors.unknownMessage();
    if (messageId !== '@original' && !rec.followUpIds.includes(id) && id !== rec.originalMessageId) throw Errors.unknownMessage();
    const priv = rec.privateMessages.get(id);
    if (priv) return priv;
    const stored = this.state.messages.get(id);
    if (!stored) throw Errors.unknownMessage();
    return this.state.messageApi(stored);
  }

  async editWebhookMessage(rec: InteractionRecord, messageId: string, body: MessageBody, files: UploadedFile[]): Promise<APIMessage> {
    const current = this.webhookMessage(rec, messageId);
    const priv = rec.privateMessages.get(current.id);
    let out: APIMessage;
    if (priv) {
      out = this.editPrivate(rec, current.id, body, files);
    } else {
      out = await this.actions.editMessage(this.state.botUserId, current.channel_id, current.id, body, { system: true, files });
    }
    if (current.id === rec.originalMessageId) rec.responded = true;
    this.touch(rec, 'edit');
    return out;
  }

  /** Edits an ephemeral message (it lives only in the interaction that sent it). */
  private editPrivate(rec: InteractionRecord, messageId: string, body: MessageBody, files: UploadedFile[] = []): APIMessage {
    const priv = rec.privateMessages.get(messageId)!;
    const next: APIMessage = { ...priv, edited_timestamp: new Date().toISOString(), flags: (priv.flags ?? 0) & ~MessageFlags.Loading };
    if (body.content !== undefined) next.content = body.content ?? '';
    if (body.embeds !== undefined) next.embeds = (body.embeds ?? []).map((e) => ({ type: 'rich', ...e }) as APIMessage['embeds'][number]);
    if (body.components !== undefined) next.components = (body.components ?? []) as APIMessage['components'];
    if (body.attachments !== undefined || files.length) {
      // New files of an ephemeral edit (/digest preview's chart): checked and stored like a message's.
      const keep = new Set((body.attachments ?? []).map((a) => String(a.id)));
      const kept = body.attachments === undefined ? priv.attachments : priv.attachments.filter((a) => keep.has(a.id));
      const declared = body.attachments?.filter((a) => !priv.attachments.some((x) => x.id === String(a.id))) ?? null;
      next.attachments = [...kept, ...this.actions.uploadAttachments(priv.channel_id, declared, files)];
    }
    next.embeds = next.embeds.map((e) => resolveAttachmentImage(e, next.attachments));
    rec.privateMessages.set(next.id, next);
    return next;
  }

  async deleteWebhookMessage(rec: InteractionRecord, messageId: string): Promise<void> {
    const current = this.webhookMessage(rec, messageId);
    if (rec.privateMessages.delete(current.id)) {
      // ephemeral: nothing to dispatch
    } else {
      await this.actions.deleteMessage(this.state.botUserId, current.channel_id, current.id, { system: true });
    }
    this.touch(rec, 'delete');
  }

  async followUp(rec: InteractionRecord, body: MessageBody, files: UploadedFile[]): Promise<APIMessage> {
    if (rec.callbackType === null) throw Errors.unknownWebhook();
    const ephemeral = ((body.flags ?? 0) & MessageFlags.Ephemeral) !== 0;
    // The first follow-up after a defer edits the loading message, like Discord.
    if (rec.deferred && !rec.responded && rec.originalMessageId && rec.callbackType === R.DeferredChannelMessageWithSource) {
      const out = await this.editWebhookMessage(rec, '@original', body, files);
      return out;
    }
    const msg = await this.postAsInteraction(rec, body, files, ephemeral);
    rec.followUpIds.push(msg.id);
    this.touch(rec, 'followup');
    return msg;
  }

  /** The visible messages of an interaction (for the driver). */
  snapshot(rec: InteractionRecord): { original: APIMessage | null; followUps: APIMessage[] } {
    const get = (id: string): APIMessage | null =>
      rec.privateMessages.get(id) ?? (this.state.messages.get(id) ? this.state.messageApi(this.state.messages.get(id)!) : null);
    return {
      original: rec.originalMessageId ? get(rec.originalMessageId) : null,
      followUps: rec.followUpIds.map(get).filter((m): m is APIMessage => m !== null),
    };
  }
}

export { blankContent };
