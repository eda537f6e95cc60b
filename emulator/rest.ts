/**
 * REST: a small router over `/api/v10/...`, auth, body parsing (JSON + multipart payload_json),
 * validation, rate-limit headers, injected failures, and the request log.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createHash } from 'node:crypto';
import { ApplicationCommandType, ChannelType, type APIApplicationCommand, type APIUser } from 'discord-api-types/v10';
import type { Actions, MessageBody, UploadedFile } from './actions.ts';
import { DiscordHttpError, Errors, errorAt } from './errors.ts';
import type { Interactions } from './interactions.ts';
import { attachmentKey, isThreadType, type DiscordState } from './state.ts';
import type { Validator } from './validation.ts';
import { Webhooks } from './webhooks.ts';
import { compareIds } from './snowflake.ts';

export interface RecordedRequest {
  method: string;
  /** route template, e.g. 'POST /channels/{channel_id}/messages'; 'GET /unknown/path' when unmatched */
  route: string;
  path: string;
  params: Record<string, string>;
  query: Record<string, string>;
  body: unknown;
  files: Array<{ field: string; filename: string; size: number }>;
  status: number;
  /** response body (parsed JSON) or null */
  response: unknown;
  auth: boolean;
  at: number;
  /** true when the answer was an injected failure (failNext) */
  injected?: boolean;
}

export interface FailureSpec {
  status: 429 | 500 | 502 | 503 | 504 | number;
  /** seconds, for 429 (default 0.1) */
  retryAfter?: number;
  /** how many matching requests fail (default 1) */
  times?: number;
  /** X-RateLimit-Scope for 429 (default 'user'); 'global' also sets X-RateLimit-Global */
  scope?: 'user' | 'shared' | 'global';
  /** only fail requests this predicate accepts */
  when?: (req: { params: Record<string, string>; body: unknown }) => boolean;
}

interface Ctx {
  method: string;
  params: Record<string, string>;
  query: URLSearchParams;
  body: any;
  files: UploadedFile[];
  /** the authenticated bot user id ('' on unauthenticated routes) */
  actor: string;
}

type Handler = (ctx: Ctx) => Promise<unknown> | unknown;

interface Route {
  method: string;
  template: string;
  segments: string[];
  auth: boolean;
  handler: Handler;
  literals: number;
}

export interface RestOptions {
  token: string;
  rateLimitHeaders: boolean;
  recordRequests: boolean;
  gatewayUrl: () => string;
  /** where the CDN (attachment URLs) is served */
  baseUrl: () => string;
  shards: () => number;
  log: (line: string) => void;
  onRequest: (r: RecordedRequest) => void;
}

const NO_CONTENT = Symbol('no content');

export class Rest {
  private routes: Route[] = [];
  readonly requests: RecordedRequest[] = [];
  readonly failures: Array<FailureSpec & { route: string; left: number }> = [];
  private buckets = new Map<string, string>();
  readonly webhooks: Webhooks;

  constructor(
    private readonly state: DiscordState,
    private readonly actions: Actions,
    private readonly interactions: Interactions,
    private readonly validator: Validator,
    private readonly opts: RestOptions,
  ) {
    this.webhooks = new Webhooks(state, actions);
    this.register();
    // literal segments win over params
    this.routes.sort((a, b) => b.literals - a.literals);
  }

  private add(spec: string, handler: Handler, auth = true): void {
    const [method, path] = spec.split(' ') as [string, string];
    const segments = path.split('/').filter(Boolean);
    this.routes.push({ method, template: spec, segments, auth, handler, literals: segments.filter((s) => !s.startsWith('{')).length });
  }

  private match(method: string, segs: string[]): { route: Route; params: Record<string, string> } | null {
    for (const r of this.routes) {
      if (r.method !== method || r.segments.length !== segs.length) continue;
      const params: Record<string, string> = {};
      let ok = true;
      for (let i = 0; i < segs.length; i++) {
        const t = r.segments[i]!;
        if (t.startsWith('{')) params[t.slice(1, -1)] = segs[i]!;
        else if (t !== segs[i]) {
          ok = false;
          break;
        }
      }
      if (ok) return { route: r, params };
    }
    return null;
  }

  // ---------------------------------------------------------------- HTTP entry

  async handle(req: IncomingMessage, res: ServerResponse, pathname: string, search: URLSearchParams): Promise<void> {
    const method = (req.method ?? 'GET').toUpperCase();
    const segs = pathname
      .split('/')
      .filter(Boolean)
      .map((s) => {
        try {
          return decodeURIComponent(s);
        } catch {
          return s;
        }
      });
    const m = this.match(method, segs);
    const raw = await readBody(req);
    const authHeader = req.headers.authorization;
    const rec: RecordedRequest = {
      method,
      route: m ? m.route.template : `${method} /${segs.join('/')}`,
      path: pathname,
      params: m?.params ?? {},
      query: Object.fromEntries(search),
      body: null,
      files: [],
      status: 0,
      response: null,
      auth: Boolean(authHeader),
      at: Date.now(),
    };
    let status = 200;
    let payload: unknown = null;
    const headers: Record<string, string> = {};
    try {
      if (!m) {
        this.opts.log(`rest: no route for ${method} ${pathname}`);
        throw Errors.notFound();
      }
      const { body, files } = await parseBody(raw, String(req.headers['content-type'] ?? ''));
      rec.body = body;
      rec.files = files.map((f) => ({ field: f.field, filename: f.filename, size: f.data.length }));
      if (m.route.auth && authHeader !== `Bot ${this.opts.token}`) throw Errors.unauthorized();
      const fail = this.takeFailure(m.route.template, m.params, body);
      if (fail) {
        rec.injected = true;
        const bucket = this.bucket(m.route.template);
        if (fail.status === 429) {
          const retryAfter = fail.retryAfter ?? 0.1;
          const scope = fail.scope ?? 'user';
          Object.assign(headers, {
            'Retry-After': String(retryAfter),
            'X-RateLimit-Limit': '5',
            'X-RateLimit-Remaining': '0',
            'X-RateLimit-Reset': ((Date.now() + retryAfter * 1000) / 1000).toFixed(3),
            'X-RateLimit-Reset-After': retryAfter.toFixed(3),
            'X-RateLimit-Bucket': bucket,
            'X-RateLimit-Scope': scope,
            ...(scope === 'global' ? { 'X-RateLimit-Global': 'true' } : {}),
          });
          throw new DiscordHttpError(429, 0, 'You are being rate limited.', undefined, { retry_after: retryAfter, global: scope === 'global' });
        }
        throw new DiscordHttpError(fail.status, 0, fail.status === 502 ? '502: Bad Gateway' : `${fail.status}: Internal Server Error`);
      }
      const out = await m.route.handler({ method, params: m.params, query: search, body, files, actor: m.route.auth ? this.state.botUserId : '' });
      if (out === NO_CONTENT || out === undefined || out === null) status = 204;
      else payload = out;
      if (this.opts.rateLimitHeaders && m.route.auth) {
        Object.assign(headers, {
          'X-RateLimit-Limit': '50',
          'X-RateLimit-Remaining': '49',
          'X-RateLimit-Reset': ((Date.now() + 1000) / 1000).toFixed(3),
          'X-RateLimit-Reset-After': '1.000',
          'X-RateLimit-Bucket': this.bucket(m.route.template),
        });
      }
    } catch (err) {
      if (err instanceof DiscordHttpError) {
        status = err.status;
        payload = err.toJSON();
      } else {
        status = 500;
        payload = { message: '500: Internal Server Error', code: 0 };
        this.opts.log(`rest: handler crashed on ${method} ${pathname}: ${(err as Error).stack ?? err}`);
      }
    }
    rec.status = status;
    rec.response = payload;
    if (this.opts.recordRequests) this.requests.push(rec);
    this.opts.onRequest(rec);
    if (status === 204) {
      res.writeHead(204, headers);
      res.end();
    } else {
      const text = JSON.stringify(payload);
      res.writeHead(status, { ...headers, 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(text)) });
      res.end(text);
    }
  }

  private bucket(template: string): string {
    let b = this.buckets.get(template);
    if (!b) this.buckets.set(template, (b = createHash('sha1').update(template).digest('hex').slice(0, 16)));
    return b;
  }

  private takeFailure(template: string, params: Record<string, string>, body: unknown): FailureSpec | null {
    for (let i = 0; i < this.failures.length; i++) {
      const f = this.failures[i]!;
      if (f.route !== template && f.route !== '*') continue;
      if (f.when && !f.when({ params, body })) continue;
      f.left -= 1;
      if (f.left <= 0) this.failures.splice(i, 1);
      return f;
    }
    return null;
  }

  listRoutes(): string[] {
    return this.routes.map((r) => r.template);
  }

  // ---------------------------------------------------------------- routes

  private register(): void {
    const s = this.state;
    const a = this.actions;
    const ix = this.interactions;
    const v = this.validator;
    const limit = (q: URLSearchParams, def: number, max = 100) => {
      const raw = q.get('limit');
      if (raw === null) return def;
      const n = Number(raw);
      if (!Number.isInteger(n) || n < 1 || n > max)
        throw Errors.invalidFormBody({ limit: { _errors: [{ code: 'NUMBER_TYPE_MAX', message: `Must be between 1 and ${max}.` }] } });
      return n;
    };
    const me = (): APIUser => s.botUser();

    this.add('GET /gateway', () => ({ url: this.opts.gatewayUrl() }), false);
    this.add('GET /gateway/bot', () => ({
      url: this.opts.gatewayUrl(),
      shards: this.opts.shards(),
      session_start_limit: { total: 1000, remaining: 999, reset_after: 14_400_000, max_concurrency: 1 },
    }));
    this.add('GET /users/@me', () => me());
    // Fresh signed URLs for attachment URLs (expired or not): at most 50 a request; a URL that is not one of the
    // CDN's attachments is left out of the answer, as Discord does.
    this.add('POST /attachments/refresh-urls', ({ body }) => {
      const urls = (body as { attachment_urls?: unknown } | null)?.attachment_urls;
      if (!Array.isArray(urls) || urls.length === 0)
        throw Errors.invalidFormBody({ attachment_urls: { _errors: [{ code: 'BASE_TYPE_REQUIRED', message: 'This field is required' }] } });
      if (urls.length > 50)
        throw Errors.invalidFormBody({ attachment_urls: { _errors: [{ code: 'BASE_TYPE_MAX_LENGTH', message: 'Must be 50 or fewer in length.' }] } });
      const refreshed_urls: Array<{ original: string; refreshed: string }> = [];
      urls.forEach((original: unknown, i) => {
        if (typeof original !== 'string')
          throw Errors.invalidFormBody({
            attachment_urls: { [i]: { _errors: [{ code: 'STRING_TYPE_CONVERT', message: 'Could not interpret value as string.' }] } },
          });
        const refreshed = s.signer.refresh(original, this.opts.baseUrl(), (path) => s.attachments.has(attachmentKey(path)));
        if (refreshed) refreshed_urls.push({ original, refreshed });
      });
      return { refreshed_urls };
    });
    this.add(
      'GET /users/{user_id}',
      ({ params }) =>
        s.user(params.user_id!)?.user ??
        (() => {
          throw Errors.unknownUser();
        })(),
    );
    this.add('GET /applications/@me', () => ({
      id: s.applicationId,
      name: me().username,
      icon: null,
      description: '',
      bot_public: true,
      bot_require_code_grant: false,
      verify_key: '0'.repeat(64),
      flags: (1 << 19) | (1 << 23),
      bot: me(),
      team: null,
      owner: { ...me() },
      summary: '',
      approximate_guild_count: s.guilds.size,
    }));

    // ------------------------------------------------------------ commands
    const appCheck = (params: Record<string, string>) => {
      if (params.application_id !== s.applicationId) throw Errors.missingAccess();
    };
    const commandMap = (guildId?: string) => {
      if (!guildId) return s.globalCommands;
      if (!s.guilds.has(guildId)) throw Errors.unknownGuild();
      let m = s.guildCommands.get(guildId);
      if (!m) s.guildCommands.set(guildId, (m = new Map()));
      return m;
    };
    const toCommand = (body: any, guildId: string | undefined, existing?: APIApplicationCommand): APIApplicationCommand =>
      ({
        id: existing?.id ?? s.ids.next(),
        application_id: s.applicationId,
        version: s.ids.next(),
        type: body.type ?? ApplicationCommandType.ChatInput,
        name: body.name,
        name_localizations: body.name_localizations ?? null,
        description: body.description ?? '',
        description_localizations: body.description_localizations ?? null,
        options: body.options ?? [],
        default_member_permissions:
          body.default_member_permissions === undefined || body.default_member_permissions === null ? null : String(body.default_member_permissions),
        dm_permission: body.dm_permission ?? true,
        nsfw: body.nsfw ?? false,
        contexts: body.contexts ?? null,
        integration_types: body.integration_types ?? [0],
        ...(guildId ? { guild_id: guildId } : {}),
      }) as APIApplicationCommand;
    for (const scope of ['', '/guilds/{guild_id}']) {
      const base = `/applications/{application_id}${scope}/commands`;
      this.add(`GET ${base}`, ({ params }) => {
        appCheck(params);
        return [...commandMap(params.guild_id).values()];
      });
      this.add(`PUT ${base}`, ({ params, body }) => {
        appCheck(params);
        if (!Array.isArray(body)) throw Errors.invalidFormBody({ _errors: [{ code: 'BASE_TYPE_ARRAY', message: 'Must be an array.' }] });
        const errors: Record<string, any> = {};
        body.forEach((c: unknown, i: number) => {
          try {
            v.check('commandUpdate', c);
          } catch (e) {
            if (e instanceof DiscordHttpError) errors[i] = e.errors;
            else throw e;
          }
        });
        if (Object.keys(errors).length) throw Errors.invalidFormBody(errors);
        const m = commandMap(params.guild_id);
        const byName = new Map([...m.values()].map((c) => [`${c.type}:${c.name}`, c]));
        m.clear();
        for (const c of body) {
          const cmd = toCommand(c, params.guild_id, byName.get(`${c.type ?? 1}:${c.name}`));
          m.set(cmd.id, cmd);
        }
        return [...m.values()];
      });
      this.add(`POST ${base}`, ({ params, body }) => {
        appCheck(params);
        v.check('commandCreate', body);
        const m = commandMap(params.guild_id);
        const existing = [...m.values()].find((c) => c.name === body.name && c.type === (body.type ?? 1));
        const cmd = toCommand(body, params.guild_id, existing);
        m.set(cmd.id, cmd);
        return cmd;
      });
      this.add(`GET ${base}/{command_id}`, ({ params }) => {
        appCheck(params);
        return (
          commandMap(params.guild_id).get(params.command_id!) ??
          (() => {
            throw Errors.unknownCommand();
          })()
        );
      });
      this.add(`PATCH ${base}/{command_id}`, ({ params, body }) => {
        appCheck(params);
        v.check('commandPatch', body);
        const m = commandMap(params.guild_id);
        const old = m.get(params.command_id!);
        if (!old) throw Errors.unknownCommand();
        const cmd = toCommand({ ...old, ...body }, params.guild_id, old);
        m.set(cmd.id, cmd);
        return cmd;
      });
      this.add(`DELETE ${base}/{command_id}`, ({ params }) => {
        appCheck(params);
        if (!commandMap(params.guild_id).delete(params.command_id!)) throw Errors.unknownCommand();
        return NO_CONTENT;
      });
    }

    // ------------------------------------------------------------ guilds
    const guild = (id: string) => {
      const g = s.guilds.get(id);
      if (!g || !g.members.has(s.botUserId)) throw Errors.unknownGuild();
      return g;
    };
    this.add('GET /guilds/{guild_id}', ({ params }) => {
      const g = guild(params.guild_id!);
      return { ...baseGuild(s, g.id), approximate_member_count: g.members.size };
    });
    this.add('GET /guilds/{guild_id}/channels', ({ params }) =>
      guild(params.guild_id!)
        .channelIds.map((id) => s.channels.get(id)!)
        .filter((c) => !isThreadType(c.type))
        .map((c) => s.channelApi(c)),
    );
    this.add('GET /guilds/{guild_id}/roles', ({ params }) => [...guild(params.guild_id!).roles.values()]);
    this.add('GET /guilds/{guild_id}/members/{user_id}', ({ params }) => {
      const g = guild(params.guild_id!);
      const id = params.user_id === '@me' ? s.botUserId : params.user_id!;
      if (!g.members.has(id)) throw Errors.unknownMember();
      return s.memberApi(g.id, id, true);
    });
    this.add('GET /guilds/{guild_id}/members', ({ params, query }) => {
      const g = guild(params.guild_id!);
      const after = query.get('after') ?? '0';
      return [...g.members.keys()]
        .filter((id) => compareIds(id, after) > 0)
        .sort(compareIds)
        .slice(0, limit(query, 1, 1000))
        .map((id) => s.memberApi(g.id, id, true));
    });
    this.add('GET /guilds/{guild_id}/threads/active', ({ params }) => {
      const g = guild(params.guild_id!);
      const threads = s.activeThreads(g.id);
      return {
        threads: threads.map((t) => s.threadApi(t)),
        members: threads.filter((t) => t.threadMembers?.has(s.botUserId)).map((t) => threadMember(t.id, s.botUserId)),
      };
    });
    this.add('GET /guilds/{guild_id}/emojis', ({ params }) =>
      [...guild(params.guild_id!).emojis.values()].map((e) => ({ ...e, roles: [], require_colons: true, managed: false, available: true })),
    );

    // ------------------------------------------------------------ channels
    this.add('GET /channels/{channel_id}', ({ params, actor }) => {
      const c = a.channel(params.channel_id!);
      a.canView(c, actor);
      return s.channelApi(c);
    });
    this.add('PATCH /channels/{channel_id}', async ({ params, body, actor }) => {
      const c = a.channel(params.channel_id!);
      if (isThreadType(c.type)) v.check('updateThread', body, { threadName: body?.name === undefined || body?.name === null ? undefined : body.name });
      return s.channelApi(await a.updateChannel(actor, c.id, body ?? {}));
    });
    this.add('DELETE /channels/{channel_id}', async ({ params, actor }) => s.channelApi(await a.deleteChannel(actor, params.channel_id!)));
    this.add('POST /channels/{channel_id}/typing', async ({ params, actor }) => {
      await a.typing(actor, params.channel_id!);
      return NO_CONTENT;
    });

    // ------------------------------------------------------------ messages
    this.add('GET /channels/{channel_id}/messages', ({ params, query, actor }) => {
      const c = a.channel(params.channel_id!);
      a.require(c, actor, 0n);
      if ((s.channelPermissions(c.id, actor) & (1n << 16n)) === 0n) return [];
      const before = query.get('before') ?? undefined;
      const after = query.get('after') ?? undefined;
      const around = query.get('around') ?? undefined;
      return s.history(c.id, { before, after, around, limit: limit(query, 50) }).map((m) => s.messageApi(m, { forRest: true }));
    });
    this.add('GET /channels/{channel_id}/messages/{message_id}', ({ params, actor }) => {
      const c = a.channel(params.channel_id!);
      a.require(c, actor, 1n << 16n);
      return s.messageApi(a.messageIn(c.id, params.message_id!), { forRest: true });
    });
    this.add('POST /channels/{channel_id}/messages', async ({ params, body, files, actor }) => {
      v.check('createMessage', body, { message: body ?? {} });
      return a.createMessage(actor, params.channel_id!, (body ?? {}) as MessageBody, { files });
    });
    this.add('PATCH /channels/{channel_id}/messages/{message_id}', async ({ params, body, files, actor }) => {
      v.check('editMessage', body, { message: body ?? {} });
      return a.editMessage(actor, params.channel_id!, params.message_id!, (body ?? {}) as MessageBody, { files });
    });
    this.add('DELETE /channels/{channel_id}/messages/{message_id}', async ({ params, actor }) => {
      await a.deleteMessage(actor, params.channel_id!, params.message_id!);
      return NO_CONTENT;
    });
    this.add('POST /channels/{channel_id}/messages/bulk-delete', async ({ params, body, actor }) => {
      await a.bulkDelete(actor, params.channel_id!, Array.isArray(body?.messages) ? body.messages.map(String) : []);
      return NO_CONTENT;
    });

    // ------------------------------------------------------------ reactions
    const R = '/channels/{channel_id}/messages/{message_id}/reactions';
    this.add(`PUT ${R}/{emoji}/@me`, async ({ params, actor }) => {
      await a.addReaction(actor, params.channel_id!, params.message_id!, params.emoji!);
      return NO_CONTENT;
    });
    this.add(`DELETE ${R}/{emoji}/@me`, async ({ params, actor }) => {
      await a.removeReaction(actor, params.channel_id!, params.message_id!, params.emoji!, actor);
      return NO_CONTENT;
    });
    this.add(`DELETE ${R}/{emoji}/{user_id}`, async ({ params, actor }) => {
      await a.removeReaction(actor, params.channel_id!, params.message_id!, params.emoji!, params.user_id!);
      return NO_CONTENT;
    });
    this.add(`DELETE ${R}/{emoji}`, async ({ params, actor }) => {
      await a.removeEmojiReactions(actor, params.channel_id!, params.message_id!, params.emoji!);
      return NO_CONTENT;
    });
    this.add(`DELETE ${R}`, async ({ params, actor }) => {
      await a.removeAllReactions(actor, params.channel_id!, params.message_id!);
      return NO_CONTENT;
    });
    this.add(`GET ${R}/{emoji}`, ({ params, query, actor }) => {
      const c = a.channel(params.channel_id!);
      a.require(c, actor, 1n << 16n);
      const type = query.get('type');
      if (type !== null && type !== '0' && type !== '1')
        throw Errors.invalidFormBody(errorAt(['type'], 'ENUM_TYPE_COERCE', `Value "${type}" is not a valid enum value.`));
      return a.reactors(c.id, params.message_id!, params.emoji!, {
        after: query.get('after') ?? undefined,
        limit: limit(query, 25),
        type: type === '1' ? 1 : 0,
      });
    });

    // ------------------------------------------------------------ threads
    this.add('POST /channels/{channel_id}/messages/{message_id}/threads', async ({ params, body, actor }) => {
      v.check('threadFromMessage', body, { threadName: body?.name });
      const t = await a.threadFromMessage(actor, params.channel_id!, params.message_id!, body);
      return s.threadApi(t);
    });
    this.add('POST /channels/{channel_id}/threads', async ({ params, body, files, actor }) => {
      const c = a.channel(params.channel_id!);
      const forum = c.type === ChannelType.GuildForum || c.type === ChannelType.GuildMedia;
      v.check(forum ? 'forumThread' : 'threadWithoutMessage', body, {
        threadName: body?.name,
        ...(forum && body?.message ? { message: body.message, messagePrefix: ['message'] } : {}),
      });
      const { thread, message } = await a.createThread(actor, c.id, body, files);
      return { ...s.threadApi(thread), ...(message ? { message } : {}), member: threadMember(thread.id, actor) };
    });
    this.add('GET /channels/{channel_id}/threads/archived/public', ({ params, query, actor }) => {
      const c = a.channel(params.channel_id!);
      a.require(c, actor, 1n << 16n);
      const before = query.get('before');
      const beforeMs = before ? Date.parse(before) : Infinity;
      const lim = limit(query, 50);
      const all = [...s.channels.values()]
        .filter(
          (t) =>
            t.parent_id === c.id &&
            t.type === ChannelType.PublicThread &&
            t.thread_metadata?.archived &&
            Date.parse(t.thread_metadata.archive_timestamp) < beforeMs,
        )
        .sort((x, y) => Date.parse(y.thread_metadata!.archive_timestamp) - Date.parse(x.thread_metadata!.archive_timestamp) || compareIds(y.id, x.id));
      const page = all.slice(0, lim);
      return {
        threads: page.map((t) => s.threadApi(t)),
        members: page.filter((t) => t.threadMembers?.has(actor)).map((t) => threadMember(t.id, actor)),
        has_more: all.length > lim,
      };
    });
    this.add('PUT /channels/{channel_id}/thread-members/@me', async ({ params, actor }) => {
      await a.joinThread(actor, params.channel_id!);
      return NO_CONTENT;
    });
    this.add('DELETE /channels/{channel_id}/thread-members/@me', ({ params, actor }) => {
      const t = a.channel(params.channel_id!);
      t.threadMembers?.delete(actor);
      t.member_count = t.threadMembers?.size ?? 0;
      return NO_CONTENT;
    });
    this.add('GET /channels/{channel_id}/thread-members/{user_id}', ({ params }) => {
      const t = a.channel(params.channel_id!);
      const id = params.user_id === '@me' ? s.botUserId : params.user_id!;
      if (!t.threadMembers?.has(id)) throw new DiscordHttpError(404, 10007, 'Unknown Member');
      return threadMember(t.id, id);
    });

    // ------------------------------------------------------------ interactions (token auth)
    this.add(
      'POST /interactions/{interaction_id}/{interaction_token}/callback',
      async ({ params, query, body, files }) => {
        const rec = ix.byId(params.interaction_id!, params.interaction_token!);
        const type = Number(body?.type);
        const schema =
          type === 4 || type === 5
            ? 'callbackMessage'
            : type === 6 || type === 7
              ? 'callbackUpdate'
              : type === 8
                ? 'callbackAutocomplete'
                : type === 9
                  ? 'callbackModal'
                  : null;
        v.check(schema, body, body?.data && (type === 4 || type === 7) ? { message: body.data, messagePrefix: ['data'] } : {});
        const out = await ix.callback(rec, body, files, query.get('with_response') === 'true');
        return out ?? NO_CONTENT;
      },
      false,
    );
    // ------------------------------------------------------------ channel webhooks
    const wh = this.webhooks;
    this.add('POST /channels/{channel_id}/webhooks', ({ params, body, actor }) => wh.create(actor, params.channel_id!, body));
    this.add('GET /channels/{channel_id}/webhooks', ({ params, actor }) => wh.listChannel(actor, params.channel_id!));
    this.add('DELETE /webhooks/{webhook_id}', ({ params, actor }) => {
      wh.delete(actor, params.webhook_id!);
      return NO_CONTENT;
    });

    // Interaction follow-ups and channel webhooks share /webhooks/{id}/{token}: the application's id names the first.
    // The template keeps the interaction names ({application_id} = the webhook id, {interaction_token} = its token),
    // which the request log and failNext already use.
    const W = '/webhooks/{application_id}/{interaction_token}';
    const isInteraction = (params: Record<string, string>) => params.application_id === s.applicationId;
    this.add(
      `POST ${W}`,
      async ({ params, body, files, query }) => {
        v.check('webhookExecute', body, { message: body ?? {} });
        if (!isInteraction(params)) return (await wh.execute(wh.byToken(params.application_id!, params.interaction_token!), body, query, files)) ?? NO_CONTENT;
        const rec = ix.byToken(params.application_id!, params.interaction_token!);
        return ix.followUp(rec, body ?? {}, files);
      },
      false,
    );
    this.add(
      `GET ${W}/messages/{message_id}`,
      ({ params }) =>
        isInteraction(params)
          ? ix.webhookMessage(ix.byToken(params.application_id!, params.interaction_token!), params.message_id!)
          : wh.getMessage(wh.byToken(params.application_id!, params.interaction_token!), params.message_id!),
      false,
    );
    this.add(
      `PATCH ${W}/messages/{message_id}`,
      async ({ params, body, files }) => {
        v.check('webhookEdit', body, { message: body ?? {} });
        if (!isInteraction(params)) return wh.editMessage(wh.byToken(params.application_id!, params.interaction_token!), params.message_id!, body ?? {}, files);
        const rec = ix.byToken(params.application_id!, params.interaction_token!);
        return ix.editWebhookMessage(rec, params.message_id!, body ?? {}, files);
      },
      false,
    );
    this.add(
      `DELETE ${W}/messages/{message_id}`,
      async ({ params }) => {
        if (isInteraction(params)) await ix.deleteWebhookMessage(ix.byToken(params.application_id!, params.interaction_token!), params.message_id!);
        else await wh.deleteMessage(wh.byToken(params.application_id!, params.interaction_token!), params.message_id!);
        return NO_CONTENT;
      },
      false,
    );
  }
}

export function threadMember(threadId: string, userId: string) {
  return { id: threadId, user_id: userId, join_timestamp: new Date().toISOString(), flags: 0 };
}

export function baseGuild(s: DiscordState, guildId: string) {
  const g = s.guilds.get(guildId)!;
  return {
    id: g.id,
    name: g.name,
    icon: null,
    splash: null,
    discovery_splash: null,
    owner_id: g.ownerId,
    afk_channel_id: null,
    afk_timeout: 300,
    verification_level: 0,
    default_message_notifications: 1,
    explicit_content_filter: 0,
    roles: [...g.roles.values()],
    emojis: [...g.emojis.values()].map((e) => ({ ...e, roles: [], require_colons: true, managed: false, available: true })),
    features: [],
    mfa_level: 0,
    application_id: null,
    system_channel_id: null,
    system_channel_flags: 0,
    rules_channel_id: null,
    vanity_url_code: null,
    description: null,
    banner: null,
    premium_tier: 0,
    premium_subscription_count: 0,
    preferred_locale: 'en-US',
    public_updates_channel_id: null,
    nsfw_level: 0,
    stickers: [],
    premium_progress_bar_enabled: false,
    safety_alerts_channel_id: null,
    max_members: 500000,
    max_video_channel_users: 25,
    incidents_data: null,
  };
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function parseBody(raw: Buffer, contentType: string): Promise<{ body: unknown; files: UploadedFile[] }> {
  if (raw.length === 0) return { body: null, files: [] };
  if (contentType.startsWith('multipart/form-data')) {
    const form = await new Response(new Uint8Array(raw), { headers: { 'content-type': contentType } }).formData();
    let body: unknown = {};
    const files: UploadedFile[] = [];
    for (const [field, value] of form as unknown as Iterable<[string, string | File]>) {
      if (field === 'payload_json' && typeof value === 'string') {
        try {
          body = JSON.parse(value);
        } catch {
          throw Errors.invalidJson();
        }
      } else if (typeof value !== 'string') {
        files.push({
          field,
          filename: (value as File).name,
          contentType: value.type || 'application/octet-stream',
          data: Buffer.from(await value.arrayBuffer()),
        });
      }
    }
    return { body, files };
  }
  try {
    return { body: JSON.parse(raw.toString('utf8')), files: [] };
  } catch {
    throw Errors.invalidJson();
  }
}
