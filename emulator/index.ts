/**
 * Local Discord emulator (REST + gateway) for end-to-end tests with the real, unmodified discord.js.
 *
 * ```ts
 * import { startDiscordEmulator } from '../emulator/index.ts';
 * const discord = await startDiscordEmulator({
 *   guilds: [{ name: 'blog', channels: [{ name: 'posts', type: 'text' }, { name: 'forum', type: 'forum' }], botPermissions?: bigint }],
 *   //   a channel may carry overwrites: [{ role: 'bot' | '@everyone' | roleName, allow?, deny? } | { user: username, allow?, deny? }]
 *   users: [{ username: 'alice', manageGuild?: true }, { username: 'bob', bot?: true }],
 * });
 * // the bot: DISCORD_API_URL = discord.restUrl, DISCORD_TOKEN = discord.token  (client option rest: { api: discord.restUrl })
 * ```
 *
 * Driver reference (refs: a user = APIUser | username | id; a channel = name | id | { id }; a message = APIMessage | id):
 *   discord.restUrl / gatewayUrl / baseUrl / token / applicationId / botUser
 *   discord.guild(nameOrId) → GuildInfo { id, name, everyoneRoleId, botRoleId, managerRoleId }
 *   discord.channel(nameOrId, guild?) → APIChannel (text, forum or thread), discord.user(nameOrId) → APIUser
 *   await discord.waitForReady({ shards = 1, timeout })        ready sessions connected ≥ shards
 *   await discord.say(user, channel, 'text' | body, { replyTo?, attachments?: [{ filename, data?|content?, contentType? }], nonce?, enforceNonce? }) → APIMessage
 *   await discord.edit(message, 'text' | body) ; await discord.delete(message, { by? }) ; await discord.bulkDelete(channel, ids, { by? })
 *   await discord.react(user, message, '5️⃣', { burst? }) ; await discord.unreact(user, message, '5️⃣', { burst? })   (burst: a super reaction, kept apart)
 *   await discord.removeReaction(by, message, emoji, user) ; await discord.removeAllReactions(message, { by? }) ; await discord.removeEmoji(message, emoji, { by? })
 *   await discord.createThread(user, channel, name, { fromMessage?, message? (forum starter body/text), type? }) → APIThreadChannel
 *   await discord.updateThread(thread, { name?, archived?, locked? }, { by? }) ; await discord.deleteChannel(channel)
 *   await discord.registerCommands(commands, { guild? })       (same store as the bot's PUT)
 *   const res = await discord.runCommand(user, channel, 'blog', { subcommand?, group?, options?, force?, timeout?, settleMs? })
 *       res.content / embeds / flags / ephemeral / deferred / message / followUps (live) ; await res.waitForFollowUps(n)
 *   const choices = await discord.autocomplete(user, channel, 'blog', { subcommand?, focused: 'post', value: 'we', options? })
 *   const pressed = await discord.pressButton(user, res | message, 'custom_id', { timeout?, settleMs? })   (a button of the bot's message, ephemeral ones too)
 *   await discord.waitForMessage(pred, { timeout, includeExisting = true }) ; await discord.waitForRequest(pred | 'POST /channels/{channel_id}/messages', { timeout, includePast = true })
 *   discord.requests (RecordedRequest[]) ; discord.clearRequests() ; discord.routes()
 *   discord.webhooks(channel?) → channel webhooks (POST /channels/{id}/webhooks; executed at /webhooks/{id}/{token}) ; discord.webhookToken(id)
 *   discord.messages(channel) oldest first ; discord.message(id) ; discord.reactions(message, { burst? }) → Map<emoji, userIds[]>
 *   discord.failNext(route, { status: 429 | 500 | 502 | 503, retryAfter?, times?, scope?, when? })
 *   attachment URLs are signed like Discord's (?ex=&is=&hm=, valid 24 h); the CDN (baseUrl/attachments/...) answers an expired or
 *   badly signed one 404 "This content is no longer available."; POST /attachments/refresh-urls gives fresh ones.
 *   discord.now() ; discord.advanceClock(ms) ; discord.setAttachmentUrlTtl(seconds)   (the emulator's clock for URL expiry)
 *   discord.setAvatar(user, png, { guild? }) → hash   (the user's avatar, or with guild the member's server avatar; the CDN serves
 *   baseUrl/avatars/{user}/{hash}.png and baseUrl/guilds/{guild}/users/{user}/avatars/{hash}.png, any ?size=; messages carry the hashes)
 *   await discord.dropGateway({ code = 4000, shard?, invalidate? }) ; await discord.waitForResume({ timeout })
 *   await discord.offline(async () => { ... })                 changes with the gateway muted (nothing dispatched, nothing buffered)
 *   await discord.setBotPermissions(guild, bits) ; await discord.setManageGuild(user, on, guild?)
 *   discord.role(guild, name) → APIRole   (guild option roles: [{ name, mentionable?, permissions? }])
 *   forum channels: { type: 'forum', tags?: ['News', …], requireTag? } → available_tags, REQUIRE_TAG; a post without a tag there fails 40067
 *   a message's mention_roles / mention_everyone follow Discord's rules (allowed_mentions, mentionable roles, Mention Everyone)
 *   await discord.storm(events) ; await discord.broadcastRaw(t, d, { guildId? })
 *   discord.sessions() ; discord.interaction(id) ; await discord.stop()   (idempotent)
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import {
  ChannelFlags,
  ChannelType,
  GatewayDispatchEvents as E,
  GatewayIntentBits,
  type APIApplicationCommand,
  type APIChannel,
  type APIMessage,
  type APIRole,
  type APIThreadChannel,
  type APIUser,
  type GatewayGuildCreateDispatchData,
  type GatewayReadyDispatchData,
  type RESTPutAPIApplicationCommandsJSONBody,
} from 'discord-api-types/v10';
import { Actions, type MessageBody, type UploadedFile } from './actions.ts';
import { DiscordHttpError } from './errors.ts';
import { Gateway, type Session } from './gateway.ts';
import { Interactions, type CommandInvocation } from './interactions.ts';
import { Rest, baseGuild, type FailureSpec, type RecordedRequest } from './rest.ts';
import { SnowflakeGenerator, shardOf } from './snowflake.ts';
import {
  DEFAULT_BOT_PERMISSIONS,
  DEFAULT_EVERYONE_PERMISSIONS,
  DiscordState,
  P,
  isThreadType,
  type ChannelRecord,
  type GuildRecord,
  type InteractionRecord,
  type PermissionOverwrite,
  attachmentKey,
} from './state.ts';
import { createValidator } from './validation.ts';
import { NO_LONGER_AVAILABLE } from './cdn.ts';

export { DiscordHttpError, SnowflakeGenerator, shardOf, DEFAULT_BOT_PERMISSIONS, DEFAULT_EVERYONE_PERMISSIONS };
export type { RecordedRequest, FailureSpec, CommandInvocation };

// ------------------------------------------------------------------ options

export interface EmulatorChannelOptions {
  name: string;
  type?: 'text' | 'forum';
  id?: string;
  topic?: string;
  /** a forum's available tags, by name (ids are generated; `discord.channel(name).available_tags` has them) */
  tags?: Array<string | { name: string; moderated?: boolean }>;
  /** a forum with the REQUIRE_TAG flag: every new post needs a tag */
  requireTag?: boolean;
  /**
   * permission overwrites: for a role by name ('@everyone', a role of `roles`, or 'bot' for the bot's own role) or a
   * member by username; applied as Discord applies them (also to the interactions' app_permissions there)
   */
  overwrites?: Array<{ role?: string; user?: string; allow?: bigint; deny?: bigint }>;
}

export interface EmulatorGuildOptions {
  name: string;
  id?: string;
  channels?: EmulatorChannelOptions[];
  /** the bot role's permissions (default DEFAULT_BOT_PERMISSIONS, which includes MANAGE_MESSAGES) */
  botPermissions?: bigint;
  /** @everyone's permissions (default DEFAULT_EVERYONE_PERMISSIONS) */
  everyonePermissions?: bigint;
  /** custom emoji names available in this guild */
  emojis?: string[];
  /** extra roles (after the built-in ones); `mentionable` default false, as Discord's default */
  roles?: Array<{ name: string; mentionable?: boolean; permissions?: bigint }>;
}

export interface EmulatorUserOptions {
  username: string;
  id?: string;
  bot?: boolean;
  globalName?: string;
  /** gives the user the "Managers" role (Manage Server) in every guild */
  manageGuild?: boolean;
}

export interface EmulatorOptions {
  guilds?: EmulatorGuildOptions[];
  users?: EmulatorUserOptions[];
  token?: string;
  botUsername?: string;
  applicationId?: string;
  /** validate bodies against discord-api-spec schemas (default true; Discord's real limits are always checked) */
  validate?: boolean;
  /** send X-RateLimit-* headers on success (default true) */
  rateLimitHeaders?: boolean;
  /** keep the request log (default true) */
  recordRequests?: boolean;
  /** the app has the privileged Message Content intent enabled (default true); false → 4014 if requested, blank REST content */
  messageContentIntent?: boolean;
  /** frames kept per session for RESUME (default 50_000) */
  resumeBufferSize?: number;
  /** Discord's 3 s limit for the first interaction callback (default 3000; 0 disables) */
  interactionAckTimeoutMs?: number;
  /** recommended shard count answered by GET /gateway/bot (default 1) */
  shards?: number;
  heartbeatInterval?: number;
  /** debug log (default: silent unless DISCORD_EMULATOR_DEBUG is set) */
  log?: (line: string) => void;
}

export interface GuildInfo {
  id: string;
  name: string;
  everyoneRoleId: string;
  botRoleId: string;
  managerRoleId: string;
}

export type UserRef = APIUser | string;
export type ChannelRef = string | { id: string };
export type MessageRef = string | { id: string };

export interface SayOptions {
  replyTo?: MessageRef;
  attachments?: Array<{ filename: string; data?: Buffer | string; contentType?: string }>;
  nonce?: string;
  enforceNonce?: boolean;
  embeds?: MessageBody['embeds'];
}

export interface CommandResult {
  readonly interactionId: string;
  readonly content: string;
  readonly embeds: APIMessage['embeds'];
  readonly flags: number;
  readonly ephemeral: boolean;
  readonly deferred: boolean;
  /** the @original message (null for a modal or a deferred update) */
  readonly message: APIMessage | null;
  /** follow-up messages, live */
  readonly followUps: APIMessage[];
  waitForFollowUps(count: number, opts?: { timeout?: number }): Promise<APIMessage[]>;
}

export type StormEvent =
  | { type: 'message'; user: UserRef; channel: ChannelRef; content: string }
  | { type: 'react'; user: UserRef; message: MessageRef; emoji: string }
  | { type: 'unreact'; user: UserRef; message: MessageRef; emoji: string }
  | { type: 'raw'; t: string; d: object; guildId?: string };

// ------------------------------------------------------------------ implementation

class Waiters {
  private set = new Set<() => void>();
  add(fn: () => void): () => void {
    this.set.add(fn);
    return () => this.set.delete(fn);
  }
  fire(): void {
    for (const fn of [...this.set]) fn();
  }
}

/** A channel option's overwrite as Discord sends it: a role by name ('bot': the bot's own role) or a member by username. */
function overwriteOf(s: DiscordState, g: GuildRecord, o: { role?: string; user?: string; allow?: bigint; deny?: bigint }): PermissionOverwrite {
  const bits = { allow: (o.allow ?? 0n).toString(), deny: (o.deny ?? 0n).toString() };
  if (o.user !== undefined) {
    const u = [...s.users.values()].find((x) => x.user.username === o.user);
    if (!u) throw new Error(`emulator: unknown user ${o.user} in a channel overwrite`);
    return { id: u.user.id, type: 1, ...bits };
  }
  const role = o.role === 'bot' ? g.roles.get(g.botRoleId) : o.role === '@everyone' ? g.roles.get(g.id) : [...g.roles.values()].find((r) => r.name === o.role);
  if (!role) throw new Error(`emulator: unknown role ${o.role ?? '(none)'} in a channel overwrite`);
  return { id: role.id, type: 0, ...bits };
}

function waitUntil<T>(waiters: Waiters, check: () => T | undefined, timeout: number, what: string, pollMs = 0): Promise<T> {
  const first = check();
  if (first !== undefined) return Promise.resolve(first);
  return new Promise<T>((resolve, reject) => {
    const attempt = () => {
      const v = check();
      if (v !== undefined) {
        clearTimeout(timer);
        if (poll) clearInterval(poll);
        remove();
        resolve(v);
      }
    };
    const remove = waiters.add(attempt);
    const poll = pollMs > 0 ? setInterval(attempt, pollMs) : null;
    const timer = setTimeout(() => {
      remove();
      if (poll) clearInterval(poll);
      reject(new Error(`discord emulator: timed out after ${timeout} ms waiting for ${what}`));
    }, timeout);
  });
}

export class DiscordEmulator {
  readonly state = new DiscordState();
  readonly gateway: Gateway;
  readonly actions: Actions;
  readonly interactionsApi: Interactions;
  readonly rest: Rest;
  readonly token: string;
  readonly applicationId: string;
  readonly botUser: APIUser;
  private server: Server;
  private port = 0;
  private stopped: Promise<void> | null = null;
  private readonly log: (line: string) => void;
  private readonly changed = new Waiters();
  private resumeCount = 0;
  private resumeMark = 0;
  private readonly opts: EmulatorOptions;

  constructor(opts: EmulatorOptions = {}) {
    this.opts = opts;
    this.log = opts.log ?? (process.env.DISCORD_EMULATOR_DEBUG ? (l) => console.error(`[discord-emulator] ${l}`) : () => {});
    const s = this.state;
    s.messageContentIntentEnabled = opts.messageContentIntent ?? true;
    // bot user + application
    const botId = s.ids.next();
    this.botUser = {
      id: botId,
      username: opts.botUsername ?? 'blogcord',
      discriminator: '0',
      global_name: null,
      avatar: null,
      bot: true,
      flags: 0,
    } as unknown as APIUser;
    s.users.set(botId, { user: this.botUser });
    s.botUserId = botId;
    this.applicationId = opts.applicationId ?? botId;
    s.applicationId = this.applicationId;
    this.token = opts.token ?? `${Buffer.from(botId).toString('base64url')}.emulator.${randomBytes(18).toString('base64url')}`;
    // hidden server owner (so that no test user has every permission by ownership)
    const ownerId = s.ids.next();
    s.users.set(ownerId, { user: { id: ownerId, username: 'server-owner', discriminator: '0', global_name: null, avatar: null } });
    for (const u of opts.users ?? []) {
      const id = u.id ?? s.ids.next();
      s.users.set(id, {
        user: { id, username: u.username, discriminator: '0', global_name: u.globalName ?? null, avatar: null, ...(u.bot ? { bot: true } : {}) },
      });
    }
    // guilds: ids one millisecond apart in the past, so they spread over shards
    const base = Date.now() - 60_000;
    (opts.guilds ?? []).forEach((go, i) => this.addGuild(go, go.id ?? SnowflakeGenerator.at(base + i), ownerId, opts.users ?? []));

    this.gateway = new Gateway({
      token: this.token,
      heartbeatInterval: opts.heartbeatInterval ?? 41250,
      resumeBufferSize: opts.resumeBufferSize ?? 50_000,
      gatewayUrl: () => this.gatewayUrl,
      allowsIntents: (intents) => s.messageContentIntentEnabled || (intents & GatewayIntentBits.MessageContent) === 0,
      ready: (session) => this.readyPayload(session),
      guildCreates: (session) => this.guildsOfShard(session.shard).map((g) => this.guildCreatePayload(g)),
      guildShardIds: () => [...s.guilds.keys()],
      onEvent: (kind) => {
        if (kind === 'resumed') this.resumeCount++;
        this.changed.fire();
      },
      requestMembers: (session, d) => this.requestMembers(session, d),
      log: this.log,
    });
    this.actions = new Actions(s, this.gateway, () => this.baseUrl);
    this.actions.messageListeners.add(() => this.changed.fire());
    this.interactionsApi = new Interactions(s, this.actions);
    this.interactionsApi.ackTimeoutMs = opts.interactionAckTimeoutMs ?? 3000;
    this.interactionsApi.listeners.add(() => this.changed.fire());
    this.rest = new Rest(s, this.actions, this.interactionsApi, createValidator(opts.validate ?? true), {
      token: this.token,
      rateLimitHeaders: opts.rateLimitHeaders ?? true,
      recordRequests: opts.recordRequests ?? true,
      gatewayUrl: () => this.gatewayUrl,
      baseUrl: () => this.baseUrl,
      shards: () => opts.shards ?? 1,
      log: this.log,
      onRequest: () => this.changed.fire(),
    });
    this.server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      if (url.pathname.startsWith('/api/v10/')) {
        this.rest.handle(req, res, url.pathname.slice('/api/v10'.length), url.searchParams).catch((err) => {
          this.log(`rest: ${err}`);
          if (!res.headersSent) res.writeHead(500).end();
        });
        return;
      }
      const avatar = /^\/(avatars\/\d+\/[0-9a-f]+|guilds\/\d+\/users\/\d+\/avatars\/[0-9a-f]+)\.(png|webp|jpg|jpeg)$/.exec(url.pathname);
      if (avatar) {
        // The CDN's avatars (any size asked: the one image stored).
        const img = s.avatars.get(avatar[1]!);
        if (img) res.writeHead(200, { 'Content-Type': img.contentType, 'Content-Length': String(img.body.length) }).end(img.body);
        else res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('404: Not Found');
        return;
      }
      if (url.pathname.startsWith('/attachments/')) {
        // The CDN: an unknown, expired or badly signed attachment URL is Discord's plain-text 404.
        const a = s.attachments.get(attachmentKey(url.pathname));
        if (a && s.signer.check(url.pathname, url.searchParams) === 'ok')
          res.writeHead(200, { 'Content-Type': a.contentType, 'Content-Length': String(a.body.length) }).end(a.body);
        else res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end(NO_LONGER_AVAILABLE);
        return;
      }
      res.writeHead(404, { 'Content-Type': 'application/json' }).end(JSON.stringify({ message: '404: Not Found', code: 0 }));
    });
    this.server.on('upgrade', (req, socket, head) => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      if (url.pathname === '/gateway' || url.pathname === '/gateway/') this.gateway.handleUpgrade(req, socket, head);
      else socket.destroy();
    });
  }

  async listen(): Promise<this> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }
  get restUrl(): string {
    return `${this.baseUrl}/api`;
  }
  get gatewayUrl(): string {
    return `ws://127.0.0.1:${this.port}/gateway`;
  }

  // ---------------------------------------------------------------- setup

  private addGuild(go: EmulatorGuildOptions, id: string, ownerId: string, users: EmulatorUserOptions[]): GuildRecord {
    const s = this.state;
    const role = (rid: string, name: string, permissions: bigint, position: number, extra: Partial<APIRole> = {}): APIRole =>
      ({
        id: rid,
        name,
        color: 0,
        colors: { primary_color: 0, secondary_color: null, tertiary_color: null },
        hoist: false,
        icon: null,
        unicode_emoji: null,
        position,
        permissions: permissions.toString(),
        managed: false,
        mentionable: false,
        flags: 0,
        ...extra,
      }) as APIRole;
    const botRoleId = s.ids.next();
    const managerRoleId = s.ids.next();
    const g: GuildRecord = {
      id,
      name: go.name,
      ownerId,
      roles: new Map(),
      botRoleId,
      managerRoleId,
      members: new Map(),
      channelIds: [],
      emojis: new Map(),
      createdAt: new Date().toISOString(),
    };
    g.roles.set(id, role(id, '@everyone', go.everyonePermissions ?? DEFAULT_EVERYONE_PERMISSIONS, 0));
    g.roles.set(managerRoleId, role(managerRoleId, 'Managers', P.ManageGuild, 1));
    for (const [i, r] of (go.roles ?? []).entries()) {
      const rid = s.ids.next();
      g.roles.set(rid, role(rid, r.name, r.permissions ?? 0n, 3 + i, { mentionable: r.mentionable ?? false }));
    }
    g.roles.set(
      botRoleId,
      role(botRoleId, this.botUser.username, go.botPermissions ?? DEFAULT_BOT_PERMISSIONS, 2, { managed: true, tags: { bot_id: this.botUser.id } }),
    );
    const join = (userId: string, roles: string[]) => g.members.set(userId, { userId, roles, joinedAt: new Date().toISOString(), nick: null });
    join(ownerId, []);
    join(this.botUser.id, [botRoleId]);
    for (const u of users) {
      const rec = [...s.users.values()].find((x) => x.user.username === u.username)!;
      join(rec.user.id, u.manageGuild ? [managerRoleId] : []);
    }
    for (const name of go.emojis ?? []) {
      const eid = s.ids.next();
      g.emojis.set(eid, { id: eid, name, animated: false });
    }
    s.guilds.set(id, g);
    (go.channels ?? []).forEach((co, position) => {
      const cid = co.id ?? s.ids.next();
      const forum = co.type === 'forum';
      const c: ChannelRecord = {
        id: cid,
        type: forum ? ChannelType.GuildForum : ChannelType.GuildText,
        guild_id: id,
        name: co.name,
        position,
        parent_id: null,
        topic: co.topic ?? null,
        nsfw: false,
        last_message_id: null,
        rate_limit_per_user: 0,
        flags: 0,
        permission_overwrites: (co.overwrites ?? []).map((o) => overwriteOf(s, g, o)),
        ...(forum
          ? {
              available_tags: (co.tags ?? []).map((t) => {
                const tag = typeof t === 'string' ? { name: t } : t;
                return { id: s.ids.next(), name: tag.name, moderated: tag.moderated ?? false, emoji_id: null, emoji_name: null };
              }),
              default_reaction_emoji: null,
              default_sort_order: null,
              default_forum_layout: 0,
              flags: co.requireTag ? ChannelFlags.RequireTag : 0,
            }
          : {}),
      };
      s.channels.set(cid, c);
      g.channelIds.push(cid);
    });
    return g;
  }

  private guildsOfShard(shard: [number, number]): GuildRecord[] {
    return [...this.state.guilds.values()].filter((g) => g.members.has(this.botUser.id) && shardOf(g.id, shard[1]) === shard[0]);
  }

  private readyPayload(session: Session): GatewayReadyDispatchData {
    return {
      v: 10,
      user: { ...this.botUser, verified: true, mfa_enabled: false, email: null } as GatewayReadyDispatchData['user'],
      guilds: this.guildsOfShard(session.shard).map((g) => ({ id: g.id, unavailable: true })),
      session_id: session.id,
      resume_gateway_url: this.gatewayUrl,
      shard: session.shard,
      application: { id: this.applicationId, flags: (1 << 19) | (1 << 23) },
      user_settings: {},
      relationships: [],
      private_channels: [],
      presences: [],
      guild_join_requests: [],
      geo_ordered_rtc_regions: [],
      auth: {},
    } as unknown as GatewayReadyDispatchData;
  }

  private guildCreatePayload(g: GuildRecord): GatewayGuildCreateDispatchData {
    const s = this.state;
    const channels = g.channelIds.map((id) => s.channels.get(id)!);
    return {
      ...baseGuild(s, g.id),
      joined_at: g.members.get(this.botUser.id)!.joinedAt,
      large: false,
      unavailable: false,
      member_count: g.members.size,
      voice_states: [],
      members: [...g.members.keys()].map((id) => s.memberApi(g.id, id, true)),
      channels: channels.filter((c) => !isThreadType(c.type)).map((c) => s.channelApi(c)),
      threads: s.activeThreads(g.id).map((t) => ({
        ...s.threadApi(t),
        ...(t.threadMembers?.has(this.botUser.id)
          ? { member: { id: t.id, user_id: this.botUser.id, join_timestamp: new Date().toISOString(), flags: 0 } }
          : {}),
      })),
      presences: [],
      stage_instances: [],
      guild_scheduled_events: [],
      soundboard_sounds: [],
    } as unknown as GatewayGuildCreateDispatchData;
  }

  private requestMembers(
    session: Session,
    d: { guild_id: string | string[]; user_ids?: string | string[]; query?: string; limit?: number; nonce?: string },
  ): void {
    const guildIds = Array.isArray(d.guild_id) ? d.guild_id : [d.guild_id];
    for (const gid of guildIds) {
      const g = this.state.guilds.get(gid);
      if (!g) continue;
      let ids = [...g.members.keys()];
      const wanted = d.user_ids === undefined ? null : new Set(Array.isArray(d.user_ids) ? d.user_ids : [d.user_ids]);
      if (wanted) ids = ids.filter((id) => wanted.has(id));
      if (d.query) ids = ids.filter((id) => this.state.user(id)?.user.username.toLowerCase().startsWith(d.query!.toLowerCase()));
      if (d.limit) ids = ids.slice(0, d.limit);
      const notFound = wanted ? [...wanted].filter((id) => !g.members.has(id)) : [];
      void this.gateway.dispatchTo(session, E.GuildMembersChunk, {
        guild_id: gid,
        members: ids.map((id) => this.state.memberApi(gid, id, true)),
        chunk_index: 0,
        chunk_count: 1,
        ...(notFound.length ? { not_found: notFound } : {}),
        ...(d.nonce ? { nonce: d.nonce } : {}),
      });
    }
  }

  // ---------------------------------------------------------------- lookups

  guild(ref: string): GuildInfo {
    const g = this.state.guilds.get(ref) ?? [...this.state.guilds.values()].find((x) => x.name === ref);
    if (!g) throw new Error(`discord emulator: no guild ${ref}`);
    return { id: g.id, name: g.name, everyoneRoleId: g.id, botRoleId: g.botRoleId, managerRoleId: g.managerRoleId };
  }

  channel(ref: ChannelRef, guild?: string): APIChannel {
    return this.state.channelApi(this.channelRecord(ref, guild));
  }

  thread(ref: ChannelRef): APIThreadChannel {
    const c = this.channelRecord(ref);
    if (!isThreadType(c.type)) throw new Error(`discord emulator: ${c.name} is not a thread`);
    return this.state.threadApi(c);
  }

  private channelRecord(ref: ChannelRef, guild?: string): ChannelRecord {
    const key = typeof ref === 'string' ? ref : ref.id;
    const byId = this.state.channels.get(key);
    if (byId) return byId;
    const gid = guild ? this.guild(guild).id : undefined;
    const found = [...this.state.channels.values()].filter((c) => c.name === key && (!gid || c.guild_id === gid));
    if (found.length === 0) throw new Error(`discord emulator: no channel ${key}`);
    return found[found.length - 1]!;
  }

  user(ref: UserRef): APIUser {
    if (typeof ref !== 'string') return ref;
    const u = this.state.users.get(ref) ?? [...this.state.users.values()].find((x) => x.user.username === ref);
    if (!u) throw new Error(`discord emulator: no user ${ref}`);
    return u.user;
  }

  private userId(ref: UserRef): string {
    return this.user(ref).id;
  }

  private messageRecordOf(ref: MessageRef) {
    const id = typeof ref === 'string' ? ref : ref.id;
    const rec = this.state.messages.get(id);
    if (!rec) throw new Error(`discord emulator: no message ${id} (deleted?)`);
    return rec;
  }

  messages(channel: ChannelRef): APIMessage[] {
    const c = this.channelRecord(channel);
    return this.state.idsOf(c.id).map((id) => this.state.messageApi(this.state.messages.get(id)!));
  }

  message(id: string): APIMessage | undefined {
    const rec = this.state.messages.get(id);
    return rec ? this.state.messageApi(rec) : undefined;
  }

  /** the channel webhooks of a channel (or of every channel), as GET /channels/{id}/webhooks answers them */
  webhooks(channel?: ChannelRef) {
    const id = channel === undefined ? null : this.channelRecord(channel).id;
    return [...this.state.webhooks.values()].filter((w) => id === null || w.channelId === id).map((w) => this.rest.webhooks.api(w));
  }

  /** a channel webhook's token (to check it never leaks) */
  webhookToken(webhookId: string): string {
    const w = this.state.webhooks.get(webhookId);
    if (!w) throw new Error(`discord emulator: no webhook ${webhookId}`);
    return w.token;
  }

  /** emoji (unicode, or the custom emoji's id) → user ids in reaction order */
  reactions(message: MessageRef, opts: { burst?: boolean } = {}): Map<string, string[]> {
    const rec = this.messageRecordOf(message);
    return new Map([...rec.reactions.values()].map((r) => [r.emoji.id ?? r.emoji.name ?? '', [...(opts.burst ? r.burst : r.users)]]));
  }

  get requests(): RecordedRequest[] {
    return this.rest.requests;
  }

  clearRequests(): void {
    this.rest.requests.length = 0;
  }

  routes(): string[] {
    return this.rest.listRoutes();
  }

  sessions(): Array<{ id: string; shard: [number, number]; intents: number; connected: boolean; seq: number }> {
    return [...this.gateway.sessions.values()].map((s) => ({ id: s.id, shard: s.shard, intents: s.intents, connected: Boolean(s.ws), seq: s.seq }));
  }

  interaction(id: string): InteractionRecord | undefined {
    return this.state.interactions.get(id);
  }

  // ---------------------------------------------------------------- waiting

  waitForReady(opts: { shards?: number; timeout?: number } = {}): Promise<void> {
    const n = opts.shards ?? 1;
    return waitUntil(
      this.changed,
      () => (this.gateway.connectedSessions().length >= n ? true : undefined),
      opts.timeout ?? 10_000,
      `${n} ready gateway session(s)`,
    ).then(() => undefined);
  }

  waitForResume(opts: { timeout?: number } = {}): Promise<void> {
    const mark = this.resumeMark;
    return waitUntil(this.changed, () => (this.resumeCount > mark ? true : undefined), opts.timeout ?? 10_000, 'a RESUMED session').then(() => undefined);
  }

  waitForMessage(pred: (m: APIMessage) => boolean, opts: { timeout?: number; includeExisting?: boolean } = {}): Promise<APIMessage> {
    const seen = new Set<string>();
    const startIds = opts.includeExisting === false ? new Set(this.state.messages.keys()) : null;
    let last: APIMessage | undefined;
    const listener = (_k: string, m: APIMessage) => {
      if (!startIds?.has(m.id) && !seen.has(m.id + m.edited_timestamp) && pred(this.message(m.id) ?? m)) last = this.message(m.id) ?? m;
    };
    this.actions.messageListeners.add(listener);
    const check = () => {
      if (last) return last;
      if (startIds) return undefined;
      for (const rec of this.state.messages.values()) {
        const m = this.state.messageApi(rec);
        if (pred(m)) return m;
      }
      return undefined;
    };
    let first = true;
    return waitUntil(
      this.changed,
      () => {
        if (first) {
          first = false;
          return check();
        }
        return last;
      },
      opts.timeout ?? 5000,
      'a matching message',
    ).finally(() => this.actions.messageListeners.delete(listener));
  }

  waitForRequest(pred: string | ((r: RecordedRequest) => boolean), opts: { timeout?: number; includePast?: boolean } = {}): Promise<RecordedRequest> {
    const test = typeof pred === 'string' ? (r: RecordedRequest) => r.route === pred : pred;
    let from = opts.includePast === false ? this.rest.requests.length : 0;
    return waitUntil(
      this.changed,
      () => {
        const list = this.rest.requests;
        for (; from < list.length; from++) if (test(list[from]!)) return list[from]!;
        return undefined;
      },
      opts.timeout ?? 5000,
      `a request ${typeof pred === 'string' ? pred : 'matching the predicate'}`,
    );
  }

  // ---------------------------------------------------------------- users act

  async say(user: UserRef, channel: ChannelRef, content: string | MessageBody, opts: SayOptions = {}): Promise<APIMessage> {
    const c = this.channelRecord(channel);
    const body: MessageBody = typeof content === 'string' ? { content } : { ...content };
    if (opts.embeds) body.embeds = opts.embeds;
    if (opts.replyTo) body.message_reference = { message_id: typeof opts.replyTo === 'string' ? opts.replyTo : opts.replyTo.id, channel_id: c.id };
    if (opts.nonce !== undefined) {
      body.nonce = opts.nonce;
      body.enforce_nonce = opts.enforceNonce ?? true;
    }
    const files: UploadedFile[] = (opts.attachments ?? []).map((a, i) => ({
      field: `files[${i}]`,
      filename: a.filename,
      contentType: a.contentType ?? 'application/octet-stream',
      data: Buffer.isBuffer(a.data) ? a.data : Buffer.from(a.data ?? a.filename),
    }));
    return this.actions.createMessage(this.userId(user), c.id, body, { files });
  }

  async edit(message: MessageRef, content: string | MessageBody): Promise<APIMessage> {
    const rec = this.messageRecordOf(message);
    const body = typeof content === 'string' ? { content } : content;
    return this.actions.editMessage(rec.message.author.id, rec.message.channel_id, rec.message.id, body);
  }

  async delete(message: MessageRef, opts: { by?: UserRef } = {}): Promise<void> {
    const rec = this.messageRecordOf(message);
    await this.actions.deleteMessage(opts.by ? this.userId(opts.by) : rec.message.author.id, rec.message.channel_id, rec.message.id, { system: !opts.by });
  }

  async bulkDelete(channel: ChannelRef, ids: string[], opts: { by?: UserRef } = {}): Promise<void> {
    await this.actions.bulkDelete(
      opts.by ? this.userId(opts.by) : this.state.guildOfChannel(this.channelRecord(channel).id)!.ownerId,
      this.channelRecord(channel).id,
      ids,
    );
  }

  /** A reaction by a person; `{ burst: true }` a super reaction. */
  async react(user: UserRef, message: MessageRef, emoji: string, opts: { burst?: boolean } = {}): Promise<void> {
    const rec = this.messageRecordOf(message);
    await this.actions.addReaction(this.userId(user), rec.message.channel_id, rec.message.id, emoji, opts);
  }

  /** A person takes back their reaction: the normal one, or with `{ burst: true }` the super one (each kind apart, as in the client). */
  async unreact(user: UserRef, message: MessageRef, emoji: string, opts: { burst?: boolean } = {}): Promise<void> {
    const rec = this.messageRecordOf(message);
    const id = this.userId(user);
    await this.actions.removeReaction(id, rec.message.channel_id, rec.message.id, emoji, id, opts.burst ? 'burst' : 'normal');
  }

  async removeReaction(by: UserRef, message: MessageRef, emoji: string, user: UserRef): Promise<void> {
    const rec = this.messageRecordOf(message);
    await this.actions.removeReaction(this.userId(by), rec.message.channel_id, rec.message.id, emoji, this.userId(user));
  }

  /** by default performed by the server owner (a moderator) */
  async removeAllReactions(message: MessageRef, opts: { by?: UserRef } = {}): Promise<void> {
    const rec = this.messageRecordOf(message);
    const by = opts.by ? this.userId(opts.by) : this.state.guildOfChannel(rec.message.channel_id)!.ownerId;
    await this.actions.removeAllReactions(by, rec.message.channel_id, rec.message.id);
  }

  async removeEmoji(message: MessageRef, emoji: string, opts: { by?: UserRef } = {}): Promise<void> {
    const rec = this.messageRecordOf(message);
    const by = opts.by ? this.userId(opts.by) : this.state.guildOfChannel(rec.message.channel_id)!.ownerId;
    await this.actions.removeEmojiReactions(by, rec.message.channel_id, rec.message.id, emoji);
  }

  /** A user-made thread: from a message (`fromMessage`), a forum post (forum channel; `message` = starter), or a bare public thread. */
  async createThread(
    user: UserRef,
    channel: ChannelRef,
    name: string,
    opts: { fromMessage?: MessageRef; message?: string | MessageBody; type?: ChannelType } = {},
  ): Promise<APIThreadChannel> {
    const c = this.channelRecord(channel);
    const uid = this.userId(user);
    if (opts.fromMessage) {
      const id = typeof opts.fromMessage === 'string' ? opts.fromMessage : opts.fromMessage.id;
      return this.state.threadApi(await this.actions.threadFromMessage(uid, c.id, id, { name }));
    }
    const message =
      c.type === ChannelType.GuildForum ? (typeof opts.message === 'string' ? { content: opts.message } : (opts.message ?? { content: name })) : undefined;
    const { thread } = await this.actions.createThread(uid, c.id, { name, type: opts.type ?? ChannelType.PublicThread, ...(message ? { message } : {}) });
    return this.state.threadApi(thread);
  }

  async updateThread(
    thread: ChannelRef,
    body: { name?: string; archived?: boolean; locked?: boolean },
    opts: { by?: UserRef } = {},
  ): Promise<APIThreadChannel> {
    const t = this.channelRecord(thread);
    const by = opts.by ? this.userId(opts.by) : this.state.guilds.get(t.guild_id)!.ownerId;
    return this.state.threadApi(await this.actions.updateChannel(by, t.id, body));
  }

  async deleteChannel(channel: ChannelRef): Promise<void> {
    const c = this.channelRecord(channel);
    await this.actions.deleteChannel(this.state.guilds.get(c.guild_id)!.ownerId, c.id);
  }

  async typing(user: UserRef, channel: ChannelRef): Promise<void> {
    await this.actions.typing(this.userId(user), this.channelRecord(channel).id);
  }

  // ---------------------------------------------------------------- permissions

  /** A role of a guild by name (or id). */
  role(guild: string, name: string): APIRole {
    const g = this.state.guilds.get(this.guild(guild).id)!;
    const role = g.roles.get(name) ?? [...g.roles.values()].find((r) => r.name === name);
    if (!role) throw new Error(`discord emulator: guild ${g.name} has no role ${name}`);
    return { ...role };
  }

  async setBotPermissions(guild: string, permissions: bigint): Promise<void> {
    const g = this.guild(guild);
    await this.actions.setRolePermissions(g.id, g.botRoleId, permissions);
  }

  async setManageGuild(user: UserRef, on: boolean, guild?: string): Promise<void> {
    const uid = this.userId(user);
    const guilds = guild ? [this.guild(guild).id] : [...this.state.guilds.keys()];
    for (const gid of guilds) {
      const g = this.state.guilds.get(gid)!;
      const m = g.members.get(uid);
      if (!m) continue;
      const roles = m.roles.filter((r) => r !== g.managerRoleId);
      if (on) roles.push(g.managerRoleId);
      await this.actions.setMemberRoles(gid, uid, roles);
    }
  }

  // ---------------------------------------------------------------- commands & interactions

  /** Registers commands the way the bot's bulk PUT does (guild scope when `guild` is given). */
  registerCommands(commands: RESTPutAPIApplicationCommandsJSONBody, opts: { guild?: string } = {}): APIApplicationCommand[] {
    const gid = opts.guild ? this.guild(opts.guild).id : undefined;
    const map = gid ? (this.state.guildCommands.get(gid) ?? new Map<string, APIApplicationCommand>()) : this.state.globalCommands;
    if (gid) this.state.guildCommands.set(gid, map);
    map.clear();
    for (const c of commands) {
      const id = this.state.ids.next();
      map.set(id, {
        id,
        application_id: this.applicationId,
        version: id,
        type: 1,
        description: '',
        options: [],
        default_member_permissions: null,
        ...c,
        ...(gid ? { guild_id: gid } : {}),
      } as APIApplicationCommand);
    }
    return [...map.values()];
  }

  commands(guild?: string): APIApplicationCommand[] {
    return this.state.commandsFor(guild ? this.guild(guild).id : null);
  }

  async runCommand(
    user: UserRef,
    channel: ChannelRef,
    name: string,
    inv: CommandInvocation & { timeout?: number; settleMs?: number } = {},
  ): Promise<CommandResult> {
    const c = this.channelRecord(channel);
    const rec = await this.interactionsApi.invoke(this.userId(user), c.id, name, inv, false);
    const timeout = inv.timeout ?? 5000;
    const settle = inv.settleMs ?? 25;
    await waitUntil(
      this.changed,
      () => (rec.responded && Date.now() - rec.lastActivity >= settle ? true : undefined),
      timeout,
      `a response to /${name} (interaction ${rec.id})`,
      Math.max(5, Math.ceil(settle / 2)),
    ).catch((err: Error) => {
      throw new Error(`${err.message}; state: callback=${rec.callbackType} deferred=${rec.deferred} responded=${rec.responded}`);
    });
    return this.commandResult(rec);
  }

  /**
   * Presses a button on a message of the bot: a command's answer (its ephemeral answer too) or a channel message.
   * Resolves once the bot answered the press (updated the message or replied), like runCommand.
   */
  async pressButton(
    user: UserRef,
    on: CommandResult | MessageRef,
    customId: string,
    opts: { timeout?: number; settleMs?: number } = {},
  ): Promise<CommandResult> {
    const messageId = typeof on === 'string' ? on : 'interactionId' in on ? on.message?.id : on.id;
    if (!messageId) throw new Error('discord emulator: that command answer has no message to press a button on');
    const rec = await this.interactionsApi.pressButton(this.userId(user), messageId, customId);
    const settle = opts.settleMs ?? 25;
    await waitUntil(
      this.changed,
      () => (rec.responded && Date.now() - rec.lastActivity >= settle ? true : undefined),
      opts.timeout ?? 5000,
      `a response to button ${customId} (interaction ${rec.id})`,
      Math.max(5, Math.ceil(settle / 2)),
    ).catch((err: Error) => {
      throw new Error(`${err.message}; state: callback=${rec.callbackType} deferred=${rec.deferred} responded=${rec.responded}`);
    });
    return this.commandResult(rec);
  }

  async autocomplete(
    user: UserRef,
    channel: ChannelRef,
    name: string,
    inv: CommandInvocation & { focused: string; timeout?: number },
  ): Promise<Array<{ name: string; value: string | number }>> {
    const c = this.channelRecord(channel);
    const rec = await this.interactionsApi.invoke(this.userId(user), c.id, name, inv, true);
    await waitUntil(this.changed, () => (rec.choices ? true : undefined), inv.timeout ?? 5000, `autocomplete choices for /${name}`);
    return rec.choices as Array<{ name: string; value: string | number }>;
  }

  private commandResult(rec: InteractionRecord): CommandResult {
    const ix = this.interactionsApi;
    const changed = this.changed;
    return {
      interactionId: rec.id,
      get message() {
        return ix.snapshot(rec).original;
      },
      get content() {
        return ix.snapshot(rec).original?.content ?? '';
      },
      get embeds() {
        return ix.snapshot(rec).original?.embeds ?? [];
      },
      get flags() {
        return ix.snapshot(rec).original?.flags ?? 0;
      },
      get ephemeral() {
        return rec.ephemeral;
      },
      get deferred() {
        return rec.deferred;
      },
      get followUps() {
        return ix.snapshot(rec).followUps;
      },
      waitForFollowUps(count: number, opts: { timeout?: number } = {}) {
        return waitUntil(
          changed,
          () => {
            const f = ix.snapshot(rec).followUps;
            return f.length >= count ? f : undefined;
          },
          opts.timeout ?? 5000,
          `${count} follow-up(s)`,
        );
      },
    };
  }

  // ---------------------------------------------------------------- failures & gateway control

  /** Fails the next matching request(s). `route` is a template as in the request log ('*' = any). */
  /** The emulator's clock (ms): Date.now() plus every advanceClock so far. Signed attachment URLs expire by it. */
  now(): number {
    return this.state.signer.now();
  }

  /** Moves the emulator's clock forward (attachment URLs issued before may expire); returns the new time. */
  advanceClock(ms: number): number {
    if (!(ms >= 0)) throw new RangeError('advanceClock takes a non-negative number of milliseconds');
    this.state.signer.offsetMs += ms;
    return this.now();
  }

  /**
   * Gives a user an avatar (or, with `guild`, a server avatar as a member there): its hash is the image's md5, and
   * the CDN serves the bytes. Later messages and member objects carry the hash. Returns the hash.
   */
  setAvatar(user: UserRef, image: Buffer, opts: { guild?: string; contentType?: string } = {}): string {
    const id = this.userId(user);
    const hash = createHash('md5').update(image).digest('hex');
    const stored = { body: image, contentType: opts.contentType ?? 'image/png' };
    if (opts.guild) {
      const g = this.state.guilds.get(this.guild(opts.guild).id);
      const m = g?.members.get(id);
      if (!g || !m) throw new Error(`discord emulator: ${id} is not a member of ${opts.guild}`);
      m.avatar = hash;
      this.state.avatars.set(`guilds/${g.id}/users/${id}/avatars/${hash}`, stored);
    } else {
      const rec = this.state.users.get(id)!;
      rec.user = { ...rec.user, avatar: hash };
      this.state.avatars.set(`avatars/${id}/${hash}`, stored);
    }
    return hash;
  }

  /** How long attachment URLs signed from now on are valid (Discord: 86,400 s). */
  setAttachmentUrlTtl(seconds: number): void {
    if (!(seconds > 0)) throw new RangeError('setAttachmentUrlTtl takes a positive number of seconds');
    this.state.signer.ttlSeconds = seconds;
  }

  failNext(route: string, spec: FailureSpec): void {
    if (route !== '*' && !this.rest.listRoutes().includes(route))
      throw new Error(`discord emulator: unknown route ${route}; known: ${this.rest.listRoutes().join(', ')}`);
    this.rest.failures.push({ ...spec, route, left: spec.times ?? 1 });
  }

  async dropGateway(opts: { code?: number; shard?: number; invalidate?: boolean } = {}): Promise<number> {
    this.resumeMark = this.resumeCount;
    return this.gateway.drop(opts);
  }

  /** Runs `fn` with the gateway muted: state changes, nothing is dispatched or buffered for resume. */
  async offline<T>(fn: () => Promise<T> | T): Promise<T> {
    this.gateway.enabled = false;
    try {
      return await fn();
    } finally {
      this.gateway.enabled = true;
    }
  }

  /**
   * Fires many events without awaiting each socket write (benchmarks); resolves when all are written. With
   * `keep: false` the messages are dispatched but not kept in the channels' history (a million-event stream
   * would otherwise hold a million messages here; nothing reads them back).
   */
  async storm(events: StormEvent[], opts: { keep?: boolean } = {}): Promise<APIMessage[]> {
    const created: APIMessage[] = [];
    const batch: Promise<void>[] = [];
    this.actions.batch = batch;
    // The frames of STORM_WRITE events are written together (one system call, not one an event).
    let uncork = this.gateway.cork();
    try {
      for (const [i, e] of events.entries()) {
        if (i > 0 && i % STORM_WRITE === 0) {
          uncork();
          uncork = this.gateway.cork();
        }
        switch (e.type) {
          case 'message': {
            const m = await this.actions.createMessage(this.userId(e.user), this.channelRecord(e.channel).id, { content: e.content });
            if (opts.keep === false) this.state.removeMessage(m.id);
            created.push(m);
            break;
          }
          case 'react': {
            const rec = this.messageRecordOf(e.message);
            await this.actions.addReaction(this.userId(e.user), rec.message.channel_id, rec.message.id, e.emoji);
            break;
          }
          case 'unreact': {
            const rec = this.messageRecordOf(e.message);
            const uid = this.userId(e.user);
            await this.actions.removeReaction(uid, rec.message.channel_id, rec.message.id, e.emoji, uid);
            break;
          }
          case 'raw':
            await this.actions.raw(e.t, e.d, { guildId: e.guildId ?? null });
            break;
        }
      }
    } finally {
      uncork();
      this.actions.batch = null;
    }
    await Promise.all(batch);
    return created;
  }

  broadcastRaw(t: string, d: object, scope: { guildId?: string | null; intent?: number } = {}): Promise<void> {
    return this.gateway.dispatch(t, d, scope);
  }

  stop(): Promise<void> {
    this.stopped ??= (async () => {
      await this.gateway.close();
      this.server.closeAllConnections?.();
      await new Promise<void>((resolve) => this.server.close(() => resolve()));
    })();
    return this.stopped;
  }
}

/** How many events of a storm are written to a connection at once. */
const STORM_WRITE = 64;

export async function startDiscordEmulator(options: EmulatorOptions = {}): Promise<DiscordEmulator> {
  return new DiscordEmulator(options).listen();
}
