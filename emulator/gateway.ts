/**
 * The gateway: HELLO / IDENTIFY / READY + GUILD_CREATE / heartbeats / RESUME with replay / intents.
 * `dispatch()` resolves once the frame was written to every socket that should see it, so REST
 * handlers can await it before answering: a test sees the gateway event no later than the REST answer.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { WebSocketServer, WebSocket } from 'ws';
import {
  GatewayCloseCodes,
  GatewayDispatchEvents,
  GatewayIntentBits,
  GatewayOpcodes,
  type GatewayGuildCreateDispatchData,
  type GatewayReadyDispatchData,
} from 'discord-api-types/v10';
import { shardOf } from './snowflake.ts';

export interface DispatchScope {
  /** guild the event belongs to (routes it to the shard owning the guild); null = DM / global */
  guildId?: string | null;
  /** only sessions with this intent get it; undefined = everyone */
  intent?: number;
  /** for message events: blank content/embeds/attachments for sessions without MESSAGE_CONTENT */
  blankable?: boolean;
  /** deliver to only one session of the shard (interactions) */
  single?: boolean;
}

export interface Session {
  id: string;
  ws: WebSocket | null;
  intents: number;
  shard: [number, number];
  seq: number;
  /**
   * frames for resume, a ring of the last `resumeBufferSize`: the frame of seq q is frames[q % resumeBufferSize]
   * while q > seq - resumeBufferSize (dropping the oldest from the front of an array of 50,000 cost O(n) an event)
   */
  frames: string[];
  ready: boolean;
  invalid: boolean;
  identifiedAt: number;
}

export interface GatewayHost {
  token: string;
  heartbeatInterval: number;
  resumeBufferSize: number;
  gatewayUrl(): string;
  /** intents the application may use (privileged MESSAGE_CONTENT may be disabled) */
  allowsIntents(intents: number): boolean;
  ready(session: Session): GatewayReadyDispatchData;
  guildCreates(session: Session): GatewayGuildCreateDispatchData[];
  guildShardIds(): string[];
  onEvent(kind: 'identify' | 'ready' | 'resumed' | 'close', session: Session | null, detail?: unknown): void;
  requestMembers(session: Session, d: { guild_id: string | string[]; user_ids?: string | string[]; query?: string; limit?: number; nonce?: string }): void;
  log(line: string): void;
}

const MESSAGE_CONTENT = GatewayIntentBits.MessageContent;

export class Gateway {
  readonly wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  readonly sessions = new Map<string, Session>();
  private readonly sockets = new Set<WebSocket>();
  private socketSession = new WeakMap<WebSocket, Session>();
  /** each connection's TCP socket, to write several frames in one go (see `cork`) */
  private readonly transport = new WeakMap<WebSocket, Duplex>();
  /** when false, dispatches are dropped entirely (see DiscordEmulator.offline) */
  enabled = true;

  constructor(private readonly host: GatewayHost) {}

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      this.transport.set(ws, socket);
      this.onConnection(ws, req);
    });
  }

  private onConnection(ws: WebSocket, req: IncomingMessage): void {
    this.sockets.add(ws);
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.searchParams.get('compress')) this.host.log(`gateway: client asked compress=${url.searchParams.get('compress')}; sending plain text frames`);
    ws.on('message', (raw) => {
      let payload: { op: number; d: any };
      try {
        payload = JSON.parse(raw.toString());
      } catch {
        ws.close(GatewayCloseCodes.DecodeError, 'Error while decoding payload.');
        return;
      }
      this.onPayload(ws, payload);
    });
    ws.on('close', (code) => {
      this.sockets.delete(ws);
      const s = this.socketSession.get(ws);
      if (s && s.ws === ws) {
        s.ws = null;
        // A client that closes with 1000/1001 ends its session (discord.js destroy()); others may resume.
        if (code === 1000 || code === 1001) {
          s.invalid = true;
          this.sessions.delete(s.id);
        }
        this.host.onEvent('close', s, code);
      }
    });
    ws.on('error', () => {});
    void this.sendRaw(ws, JSON.stringify({ op: GatewayOpcodes.Hello, d: { heartbeat_interval: this.host.heartbeatInterval } }));
  }

  /** Per connection: the writes not yet confirmed, resolved together if it closes first. */
  private readonly unconfirmed = new WeakMap<WebSocket, Set<() => void>>();

  /**
   * Writes a frame; resolves once it is written or the connection is gone (a frame for a connection that
   * closes meanwhile is in the session's resume buffer: a storm must not wait for it forever).
   */
  private sendRaw(ws: WebSocket, frame: string): Promise<void> {
    if (ws.readyState !== WebSocket.OPEN) return Promise.resolve();
    let pending = this.unconfirmed.get(ws);
    if (!pending) {
      const set = (pending = new Set());
      this.unconfirmed.set(ws, set);
      ws.once('close', () => {
        for (const resolve of set) resolve();
        set.clear();
      });
    }
    const set = pending;
    return new Promise((resolve) => {
      const done = () => {
        set.delete(done);
        resolve();
      };
      set.add(done);
      ws.send(frame, done);
    });
  }

  private onPayload(ws: WebSocket, p: { op: number; d: any }): void {
    switch (p.op) {
      case GatewayOpcodes.Heartbeat:
        void this.sendRaw(ws, JSON.stringify({ op: GatewayOpcodes.HeartbeatAck }));
        return;
      case GatewayOpcodes.Identify:
        this.identify(ws, p.d);
        return;
      case GatewayOpcodes.Resume:
        this.resume(ws, p.d);
        return;
      case GatewayOpcodes.RequestGuildMembers: {
        const s = this.socketSession.get(ws);
        if (s) this.host.requestMembers(s, p.d);
        return;
      }
      case GatewayOpcodes.PresenceUpdate:
      case GatewayOpcodes.VoiceStateUpdate:
        return;
      default:
        ws.close(GatewayCloseCodes.UnknownOpcode, 'Unknown opcode.');
    }
  }

  private identify(ws: WebSocket, d: { token?: string; intents?: number; shard?: [number, number] }): void {
    if (this.socketSession.has(ws)) {
      ws.close(GatewayCloseCodes.AlreadyAuthenticated, 'Already authenticated.');
      return;
    }
    const token = String(d?.token ?? '').replace(/^Bot\s+/i, '');
    if (token !== this.host.token) {
      this.host.log('gateway: IDENTIFY with a bad token → 4004');
      ws.close(GatewayCloseCodes.AuthenticationFailed, 'Authentication failed.');
      return;
    }
    const shard = d.shard ?? [0, 1];
    if (!Array.isArray(shard) || shard.length !== 2 || shard[0]! >= shard[1]! || shard[1]! < 1) {
      ws.close(GatewayCloseCodes.InvalidShard, 'Invalid shard.');
      return;
    }
    const intents = Number(d.intents ?? 0);
    if (!this.host.allowsIntents(intents)) {
      ws.close(GatewayCloseCodes.DisallowedIntents, 'Disallowed intent(s).');
      return;
    }
    const session: Session = {
      id: randomBytes(16).toString('hex'),
      ws,
      intents,
      shard: [shard[0]!, shard[1]!],
      seq: 0,
      frames: [],
      ready: false,
      invalid: false,
      identifiedAt: Date.now(),
    };
    this.sessions.set(session.id, session);
    this.socketSession.set(ws, session);
    this.host.onEvent('identify', session, { intents, shard: session.shard });
    void this.push(session, GatewayDispatchEvents.Ready, JSON.stringify(this.host.ready(session)));
    for (const g of this.host.guildCreates(session)) void this.push(session, GatewayDispatchEvents.GuildCreate, JSON.stringify(g));
    session.ready = true;
    this.host.onEvent('ready', session);
  }

  private resume(ws: WebSocket, d: { token?: string; session_id?: string; seq?: number }): void {
    const token = String(d?.token ?? '').replace(/^Bot\s+/i, '');
    const s = d?.session_id ? this.sessions.get(d.session_id) : undefined;
    const seq = Number(d?.seq ?? 0);
    if (token !== this.host.token) {
      ws.close(GatewayCloseCodes.AuthenticationFailed, 'Authentication failed.');
      return;
    }
    const size = this.host.resumeBufferSize;
    const firstSeq = Math.max(1, s ? s.seq - size + 1 : 1);
    if (!s || s.invalid || seq < firstSeq - 1 || seq > s.seq) {
      this.host.log(`gateway: RESUME of unknown/expired session ${d?.session_id} → op 9`);
      void this.sendRaw(ws, JSON.stringify({ op: GatewayOpcodes.InvalidSession, d: false }));
      return;
    }
    if (s.ws && s.ws !== ws) {
      const old = s.ws;
      s.ws = null;
      old.close(4000, 'Session resumed elsewhere');
    }
    s.ws = ws;
    this.socketSession.set(ws, s);
    for (let q = seq + 1; q <= s.seq; q++) void this.sendRaw(ws, s.frames[q % size]!);
    void this.push(s, GatewayDispatchEvents.Resumed, '{}');
    this.host.onEvent('resumed', s, { replayed: s.seq - 1 - seq });
  }

  /** Assigns the next seq, buffers the frame for resume and writes it if connected. */
  private push(s: Session, t: string, dJson: string): Promise<void> {
    const seq = ++s.seq;
    const frame = `{"op":0,"t":"${t}","s":${seq},"d":${dJson}}`;
    s.frames[seq % this.host.resumeBufferSize] = frame;
    return s.ws ? this.sendRaw(s.ws, frame) : Promise.resolve();
  }

  /** Which sessions should receive an event with this scope. */
  private targets(scope: DispatchScope): Session[] {
    const out: Session[] = [];
    for (const s of this.sessions.values()) {
      if (s.invalid || !s.ready) continue;
      if (scope.intent !== undefined && (s.intents & scope.intent) === 0) continue;
      const shard = scope.guildId ? shardOf(scope.guildId, s.shard[1]) : 0;
      if (shard !== s.shard[0]) continue;
      out.push(s);
    }
    // One receiver (an interaction): a connected session, not the resumable one of a process that died.
    if (scope.single) {
      const live = out.find((s) => s.ws);
      return live ? [live] : out.slice(0, 1);
    }
    return out;
  }

  /** Dispatches `t` with `d` to every session that should see it; resolves when written. */
  dispatch(t: string, d: object, scope: DispatchScope = {}, blank?: () => object): Promise<void> {
    if (!this.enabled || this.sessions.size === 0) return Promise.resolve();
    const targets = this.targets(scope);
    if (targets.length === 0) return Promise.resolve();
    let full: string | undefined;
    let blanked: string | undefined;
    const writes: Promise<void>[] = [];
    for (const s of targets) {
      let json: string;
      if (scope.blankable && blank && (s.intents & MESSAGE_CONTENT) === 0) json = blanked ??= JSON.stringify(blank());
      else json = full ??= JSON.stringify(d);
      writes.push(this.push(s, t, json));
    }
    return writes.length === 1 ? writes[0]! : Promise.all(writes).then(() => undefined);
  }

  /** Sends a prepared frame to a session outside the dispatch path (e.g. GUILD_MEMBERS_CHUNK). */
  dispatchTo(s: Session, t: string, d: object): Promise<void> {
    return this.push(s, t, JSON.stringify(d));
  }

  /** Closes the connections (sessions stay resumable unless `invalidate`). */
  async drop(opts: { code?: number; shard?: number; invalidate?: boolean } = {}): Promise<number> {
    const closing: Promise<void>[] = [];
    for (const s of this.sessions.values()) {
      if (opts.shard !== undefined && s.shard[0] !== opts.shard) continue;
      if (opts.invalidate) {
        s.invalid = true;
        this.sessions.delete(s.id);
      }
      const ws = s.ws;
      if (!ws) continue;
      s.ws = null;
      closing.push(
        new Promise((resolve) => {
          ws.once('close', () => resolve());
          ws.close(opts.code ?? 4000, 'Emulator dropped the connection');
          setTimeout(() => {
            ws.terminate();
            resolve();
          }, 1000).unref();
        }),
      );
    }
    await Promise.all(closing);
    return closing.length;
  }

  /**
   * Holds what is written to the connections until the returned function is called, then writes it in one
   * system call per connection: each event stays its own WebSocket frame (as Discord sends them), but a storm
   * no longer costs a write (and a wake-up of the client) per event.
   */
  cork(): () => void {
    const held = [...this.sockets].flatMap((ws) => this.transport.get(ws) ?? []);
    for (const t of held) t.cork();
    return () => {
      for (const t of held) t.uncork();
    };
  }

  connectedSessions(): Session[] {
    return [...this.sessions.values()].filter((s) => s.ws && s.ready && !s.invalid);
  }

  async close(): Promise<void> {
    for (const ws of this.sockets) ws.terminate();
    this.sockets.clear();
    this.sessions.clear();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}
