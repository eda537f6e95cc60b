/**
 * In-memory Discord state: users, guilds (roles, members, channels, threads), messages with reactions,
 * application commands, interactions. Pure data + serializers to `discord-api-types/v10` shapes.
 * Mutations with side effects (dispatches, permission checks) live in actions.ts.
 */
import { AttachmentSigner } from './cdn.ts';
import {
  ChannelType,
  MessageType,
  PermissionFlagsBits,
  type APIApplicationCommand,
  type APIChannel,
  type APIEmbed,
  type APIGuildMember,
  type APIMessage,
  type APIPartialEmoji,
  type APIReaction,
  type APIRole,
  type APIThreadChannel,
  type APIUser,
  type APIAttachment,
} from 'discord-api-types/v10';
import { SnowflakeGenerator, compareIds, snowflakeTime } from './snowflake.ts';

export const P = PermissionFlagsBits;
export const ALL_PERMISSIONS = Object.values(PermissionFlagsBits).reduce((a, b) => a | b, 0n);

/** What @everyone may do by default (a normal community server). */
export const DEFAULT_EVERYONE_PERMISSIONS =
  P.ViewChannel |
  P.SendMessages |
  P.SendMessagesInThreads |
  P.CreatePublicThreads |
  P.EmbedLinks |
  P.AttachFiles |
  P.ReadMessageHistory |
  P.AddReactions |
  P.UseApplicationCommands |
  P.UseExternalEmojis |
  P.CreateInstantInvite |
  P.ChangeNickname;

/** What the bot's own role grants by default (what blogcord's invite asks for). */
export const DEFAULT_BOT_PERMISSIONS =
  P.ViewChannel |
  P.SendMessages |
  P.SendMessagesInThreads |
  P.CreatePublicThreads |
  P.ManageThreads |
  P.EmbedLinks |
  P.AttachFiles |
  P.ReadMessageHistory |
  P.AddReactions |
  P.ManageMessages |
  P.UseExternalEmojis |
  P.UseApplicationCommands;

export interface UserRecord {
  user: APIUser;
}

export interface MemberRecord {
  userId: string;
  roles: string[];
  joinedAt: string;
  nick: string | null;
  /** The member's server avatar hash (served by the CDN at /guilds/{guild}/users/{user}/avatars/{hash}.png), or null. */
  avatar?: string | null;
}

export interface GuildRecord {
  id: string;
  name: string;
  ownerId: string;
  roles: Map<string, APIRole>;
  botRoleId: string;
  managerRoleId: string;
  members: Map<string, MemberRecord>;
  channelIds: string[];
  emojis: Map<string, { id: string; name: string; animated: boolean }>;
  createdAt: string;
}

/** A guild channel or thread, stored in (close to) its API shape. */
/** A channel's permission overwrite as Discord sends it: type 0 a role (the guild id: @everyone), 1 a member. */
export interface PermissionOverwrite {
  id: string;
  type: 0 | 1;
  allow: string;
  deny: string;
}

export interface ChannelRecord {
  id: string;
  type: ChannelType;
  guild_id: string;
  name: string;
  position?: number;
  parent_id?: string | null;
  topic?: string | null;
  nsfw?: boolean;
  last_message_id?: string | null;
  rate_limit_per_user?: number;
  flags?: number;
  permission_overwrites?: PermissionOverwrite[];
  // threads
  owner_id?: string;
  thread_metadata?: {
    archived: boolean;
    auto_archive_duration: 60 | 1440 | 4320 | 10080;
    archive_timestamp: string;
    locked: boolean;
    invitable?: boolean;
    create_timestamp?: string;
  };
  message_count?: number;
  member_count?: number;
  total_message_sent?: number;
  applied_tags?: string[];
  // forums
  available_tags?: unknown[];
  default_reaction_emoji?: unknown;
  default_sort_order?: number | null;
  default_forum_layout?: number;
  /** thread member user ids */
  threadMembers?: Set<string>;
}

export interface ReactionRecord {
  emoji: APIPartialEmoji;
  /** user ids of the normal reactions, in reaction order */
  users: Set<string>;
  /** user ids of the super (burst) reactions, in reaction order; Discord keeps them apart from the normal ones */
  burst: Set<string>;
}

/** Discord's burst colours of a super reaction (the client picks them from the emoji). */
export const BURST_COLORS = ['#f5c400', '#ffde59'];

export interface MessageRecord {
  message: APIMessage;
  reactions: Map<string, ReactionRecord>;
}

export interface InteractionRecord {
  id: string;
  token: string;
  type: number;
  applicationId: string;
  guildId: string | null;
  channelId: string;
  userId: string;
  commandName?: string;
  createdAt: number;
  /** the first callback's type, once one was accepted */
  callbackType: number | null;
  ephemeral: boolean;
  deferred: boolean;
  /** true once @original holds a visible (non-loading) response */
  responded: boolean;
  originalMessageId: string | null;
  /** ephemeral messages live only here (they are not in any channel) */
  privateMessages: Map<string, APIMessage>;
  followUpIds: string[];
  choices: unknown[] | null;
  /** for component interactions: the message the component is on */
  messageId?: string;
  lastActivity: number;
}

export interface StoredAttachment {
  body: Buffer;
  contentType: string;
}

/** A channel's incoming webhook (type 1). `token` is what executing it takes instead of a bot token. */
export interface WebhookRecord {
  id: string;
  token: string;
  guildId: string;
  channelId: string;
  name: string;
  /** an avatar hash, or null */
  avatar: string | null;
  /** the user who created it */
  creatorId: string;
  /** set when a bot made it: the webhook is then application-owned and its messages carry the application id */
  applicationId: string | null;
}

export class DiscordState {
  readonly ids = new SnowflakeGenerator();
  readonly users = new Map<string, UserRecord>();
  readonly guilds = new Map<string, GuildRecord>();
  readonly channels = new Map<string, ChannelRecord>();
  readonly messages = new Map<string, MessageRecord>();
  /** channel id → message ids, ascending */
  readonly channelMessages = new Map<string, string[]>();
  readonly globalCommands = new Map<string, APIApplicationCommand>();
  readonly guildCommands = new Map<string, Map<string, APIApplicationCommand>>();
  readonly interactions = new Map<string, InteractionRecord>();
  readonly interactionsByToken = new Map<string, InteractionRecord>();
  /** `${authorId}\u0000${nonce}` → { messageId, at } */
  readonly nonces = new Map<string, { messageId: string; at: number }>();
  readonly attachments = new Map<string, StoredAttachment>();
  /** CDN avatar images by path without extension (`avatars/{user}/{hash}`, `guilds/{guild}/users/{user}/avatars/{hash}`). */
  readonly avatars = new Map<string, StoredAttachment>();
  /** Signs the attachment URLs handed out (ex/is/hm) and checks them at the CDN; has the emulator's clock. */
  readonly signer = new AttachmentSigner();
  /** channel webhooks (incoming webhooks made with POST /channels/{id}/webhooks) */
  readonly webhooks = new Map<string, WebhookRecord>();
  botUserId = '';
  applicationId = '';
  /** the app has the privileged Message Content intent enabled in the developer portal */
  messageContentIntentEnabled = true;

  user(id: string): UserRecord | undefined {
    return this.users.get(id);
  }

  botUser(): APIUser {
    return this.users.get(this.botUserId)!.user;
  }

  guildOfChannel(channelId: string): GuildRecord | undefined {
    const c = this.channels.get(channelId);
    return c ? this.guilds.get(c.guild_id) : undefined;
  }

  isThread(c: ChannelRecord): boolean {
    return c.type === ChannelType.PublicThread || c.type === ChannelType.PrivateThread || c.type === ChannelType.AnnouncementThread;
  }

  /**
   * A member's permissions in a channel: the guild-level ones, then the channel's overwrites as Discord applies them
   * (@everyone's, then the member's roles' together, then the member's own; a thread uses its parent's).
   */
  channelPermissions(channelId: string, userId: string): bigint {
    const c = this.channels.get(channelId);
    if (!c) return 0n;
    const base = this.memberPermissions(c.guild_id, userId);
    if (base === ALL_PERMISSIONS) return base;
    const source = this.isThread(c) && c.parent_id ? (this.channels.get(c.parent_id) ?? c) : c;
    const overwrites = (source.permission_overwrites ?? []) as PermissionOverwrite[];
    if (overwrites.length === 0) return base;
    const roles = new Set(this.guilds.get(c.guild_id)?.members.get(userId)?.roles ?? []);
    const apply = (perms: bigint, list: PermissionOverwrite[]) => {
      const deny = list.reduce((d, o) => d | BigInt(o.deny), 0n);
      const allow = list.reduce((a, o) => a | BigInt(o.allow), 0n);
      return (perms & ~deny) | allow;
    };
    let perms = apply(
      base,
      overwrites.filter((o) => o.type === 0 && o.id === c.guild_id),
    );
    perms = apply(
      perms,
      overwrites.filter((o) => o.type === 0 && roles.has(o.id)),
    );
    return apply(
      perms,
      overwrites.filter((o) => o.type === 1 && o.id === userId),
    );
  }

  /** Guild-level permissions of a member (channel overwrites: `channelPermissions`). */
  memberPermissions(guildId: string, userId: string): bigint {
    const g = this.guilds.get(guildId);
    if (!g) return 0n;
    if (g.ownerId === userId) return ALL_PERMISSIONS;
    let perms = BigInt(g.roles.get(g.id)?.permissions ?? '0');
    const m = g.members.get(userId);
    for (const r of m?.roles ?? []) perms |= BigInt(g.roles.get(r)?.permissions ?? '0');
    if (perms & P.Administrator) return ALL_PERMISSIONS;
    return perms;
  }

  memberApi(guildId: string, userId: string, withUser = true): APIGuildMember {
    const g = this.guilds.get(guildId);
    const m = g?.members.get(userId);
    const member: APIGuildMember = {
      nick: m?.nick ?? null,
      avatar: m?.avatar ?? null,
      banner: null,
      roles: [...(m?.roles ?? [])],
      joined_at: m?.joinedAt ?? new Date(0).toISOString(),
      premium_since: null,
      deaf: false,
      mute: false,
      flags: 0,
      pending: false,
      communication_disabled_until: null,
    } as unknown as APIGuildMember;
    if (withUser) member.user = this.users.get(userId)?.user ?? unknownUser(userId);
    return member;
  }

  channelApi(c: ChannelRecord): APIChannel {
    const { threadMembers: _m, ...rest } = c;
    return { ...rest, thread_metadata: c.thread_metadata ? { ...c.thread_metadata } : undefined } as unknown as APIChannel;
  }

  threadApi(c: ChannelRecord): APIThreadChannel {
    return this.channelApi(c) as APIThreadChannel;
  }

  reactionsApi(rec: MessageRecord): APIReaction[] | undefined {
    if (rec.reactions.size === 0) return undefined;
    const out: APIReaction[] = [];
    for (const r of rec.reactions.values()) {
      out.push({
        emoji: { ...r.emoji },
        count: r.users.size + r.burst.size,
        count_details: { burst: r.burst.size, normal: r.users.size },
        me: r.users.has(this.botUserId),
        me_burst: r.burst.has(this.botUserId),
        burst_colors: r.burst.size ? [...BURST_COLORS] : [],
      });
    }
    return out;
  }

  /** The message as REST returns it (reactions summarised, content blanked when the app lacks the intent). */
  messageApi(rec: MessageRecord, opts: { forRest?: boolean } = {}): APIMessage {
    const m: APIMessage = { ...rec.message };
    const reactions = this.reactionsApi(rec);
    if (reactions) m.reactions = reactions;
    if (m.thread) {
      const t = this.channels.get(m.thread.id);
      if (t) m.thread = this.threadApi(t) as APIMessage['thread'];
    }
    if (opts.forRest && !this.messageContentIntentEnabled && this.shouldBlank(m)) return blankContent(m);
    return m;
  }

  shouldBlank(m: Pick<APIMessage, 'author' | 'mentions'>): boolean {
    if (m.author.id === this.botUserId) return false;
    if (m.mentions?.some((u) => u.id === this.botUserId)) return false;
    return true;
  }

  /** message ids of a channel, ascending */
  idsOf(channelId: string): string[] {
    let list = this.channelMessages.get(channelId);
    if (!list) this.channelMessages.set(channelId, (list = []));
    return list;
  }

  insertMessage(rec: MessageRecord): void {
    this.messages.set(rec.message.id, rec);
    const list = this.idsOf(rec.message.channel_id);
    const id = rec.message.id;
    if (list.length === 0 || compareIds(list[list.length - 1]!, id) < 0) list.push(id);
    else {
      let lo = 0;
      let hi = list.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (compareIds(list[mid]!, id) < 0) lo = mid + 1;
        else hi = mid;
      }
      list.splice(lo, 0, id);
    }
  }

  removeMessage(id: string): MessageRecord | undefined {
    const rec = this.messages.get(id);
    if (!rec) return undefined;
    this.messages.delete(id);
    const list = this.idsOf(rec.message.channel_id);
    const i = list.indexOf(id);
    if (i >= 0) list.splice(i, 1);
    return rec;
  }

  /** Discord's history semantics: newest first; `after` returns the messages right after the id. */
  history(channelId: string, q: { before?: string; after?: string; around?: string; limit: number }): MessageRecord[] {
    const list = this.idsOf(channelId);
    const idx = (id: string) => {
      let lo = 0;
      let hi = list.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (compareIds(list[mid]!, id) < 0) lo = mid + 1;
        else hi = mid;
      }
      return lo; // first index with list[i] >= id
    };
    let slice: string[];
    if (q.around) {
      const i = idx(q.around);
      const half = Math.floor(q.limit / 2);
      const exact = list[i] === q.around;
      const start = Math.max(0, i - half);
      slice = list.slice(start, Math.min(list.length, start + q.limit + (exact ? 0 : 0)));
    } else if (q.after) {
      let i = idx(q.after);
      if (list[i] === q.after) i++;
      slice = list.slice(i, i + q.limit);
    } else {
      const end = q.before ? idx(q.before) : list.length;
      slice = list.slice(Math.max(0, end - q.limit), end);
    }
    return slice.reverse().map((id) => this.messages.get(id)!);
  }

  activeThreads(guildId: string): ChannelRecord[] {
    const out: ChannelRecord[] = [];
    const g = this.guilds.get(guildId);
    for (const id of g?.channelIds ?? []) {
      const c = this.channels.get(id);
      if (c && this.isThread(c) && !c.thread_metadata?.archived) out.push(c);
    }
    return out;
  }

  commandsFor(guildId: string | null): APIApplicationCommand[] {
    const out = [...this.globalCommands.values()];
    if (guildId) out.push(...(this.guildCommands.get(guildId)?.values() ?? []));
    return out;
  }

  findCommand(guildId: string | null, name: string): APIApplicationCommand | undefined {
    if (guildId) {
      for (const c of this.guildCommands.get(guildId)?.values() ?? []) if (c.name === name) return c;
    }
    for (const c of this.globalCommands.values()) if (c.name === name) return c;
    return undefined;
  }

  messageTime(id: string): number {
    return snowflakeTime(id);
  }
}

export function unknownUser(id: string): APIUser {
  return { id, username: `unknown-${id}`, discriminator: '0', global_name: null, avatar: null };
}

export function blankContent<T extends { content: string; embeds: APIEmbed[]; attachments: APIAttachment[]; components?: unknown }>(m: T): T {
  return { ...m, content: '', embeds: [], attachments: [], components: [] };
}

export function isThreadType(type: number): boolean {
  return type === ChannelType.PublicThread || type === ChannelType.PrivateThread || type === ChannelType.AnnouncementThread;
}

export { MessageType };

/** The stored attachment's key (`channel/id/filename`) of a CDN path `/attachments/channel/id/filename`. */
export function attachmentKey(pathname: string): string {
  return pathname.slice('/attachments/'.length).split('/').map(decodeURIComponent).join('/');
}
