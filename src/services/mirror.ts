// The discussion mirror: which Discord messages are comments, and what a comment holds. Plain data in
// (the gateway listeners map discord.js objects, catch-up passes REST JSON); no discord.js here.
import { MessageType, type APIGuildMember, type APIMessage } from 'discord-api-types/v10';
import type { Db } from '../db/index.ts';
import type { Logger } from '../logger.ts';
import type { Attachment, CommentInput } from '../repositories/comments.ts';
import { getPostsByThreadIds } from '../repositories/posts.ts';
import type { CommentWriter } from './comment-writer.ts';

/** A Discord message as the mirror needs it, whatever it came from (gateway event or REST page). */
export interface MessageData {
  id: string;
  channelId: string;
  /** MessageType: only Default (0) and Reply (19) can be comments. */
  type: number;
  authorId: string;
  authorBot: boolean;
  /** Discord's `system` author flag (official system messages). */
  authorSystem?: boolean;
  webhookId: string | null;
  /** member nick → global name → username, already resolved. */
  authorName: string;
  /** The avatar: 'g:<hash>' the member's server avatar, else 'u:<hash>' the user's; null: Discord's default (or unknown). */
  authorAvatar?: string | null;
  content: string;
  /** The message reference (a reply's parent), if any. */
  reference: { messageId: string | null; channelId: string | null; type?: number } | null;
  attachments: Attachment[];
  /** ISO-8601. */
  createdAt: string;
  editedAt: string | null;
}

/** What the mirror knows about a post thread. */
export interface PostThread {
  postId: string;
  threadId: string;
  /** The announcement message (in the text channel, or the forum post's starter message inside the thread). */
  messageId: string | null;
}

/** Discord's display name of a member: server nick, then global name, then username. */
export function displayName(user: { username: string; global_name?: string | null }, member?: Pick<APIGuildMember, 'nick'> | null): string {
  return member?.nick || user.global_name || user.username;
}

const iso = (t: string | number | Date): string => new Date(t).toISOString();

/** An avatar hash as Discord gives it (never a URL, nor anything else). */
const AVATAR_HASH = /^(a_)?[0-9a-f]{1,64}$/;
const avatarHash = (h: string | null | undefined): string | null => (typeof h === 'string' && AVATAR_HASH.test(h) ? h : null);

/** The avatar as stored: the member's server avatar first, then the user's own (hashes only: never a URL with the id). */
export function avatarOf(user: { avatar?: string | null }, member?: { avatar?: string | null } | null): string | null {
  const g = avatarHash(member?.avatar);
  if (g) return `g:${g}`;
  const u = avatarHash(user.avatar);
  return u ? `u:${u}` : null;
}

/**
 * REST or gateway JSON → MessageData (REST pages carry no member, so the name falls back to the global name and
 * the avatar to the user's).
 */
export function fromApiMessage(m: APIMessage & { member?: Pick<APIGuildMember, 'nick' | 'avatar'> | null }): MessageData {
  return {
    id: m.id,
    channelId: m.channel_id,
    type: m.type,
    authorId: m.author.id,
    authorBot: Boolean(m.author.bot),
    authorSystem: Boolean(m.author.system),
    webhookId: m.webhook_id ?? null,
    authorName: displayName(m.author, m.member),
    authorAvatar: avatarOf(m.author, m.member),
    content: m.content ?? '',
    reference: m.message_reference
      ? { messageId: m.message_reference.message_id ?? null, channelId: m.message_reference.channel_id ?? null, type: m.message_reference.type }
      : null,
    attachments: (m.attachments ?? []).map((a) => ({ url: a.url, name: a.filename, contentType: a.content_type ?? null })),
    createdAt: iso(m.timestamp),
    editedAt: m.edited_timestamp ? iso(m.edited_timestamp) : null,
  };
}

/**
 * Why a message in a post thread is not a comment, or null when it is one. Bots, webhooks and system
 * messages (anything but a default message or a reply) are not comments, nor is the thread's starter.
 */
export function notACommentReason(m: MessageData, thread: PostThread): string | null {
  if (m.type !== MessageType.Default && m.type !== MessageType.Reply) return 'system message';
  if (m.authorBot) return 'bot';
  if (m.authorSystem) return 'system author';
  if (m.webhookId) return 'webhook';
  if (m.id === thread.threadId || m.id === thread.messageId) return 'thread starter';
  return null;
}

/**
 * The comment row of a message. `replyToId` is set only for a reply inside the same thread to another
 * message than the starter/announcement (a reply to the announcement is a top-level comment).
 */
/**
 * Text as both databases can store it: PostgreSQL refuses the NUL character in text, and one such message
 * would otherwise fail its whole batch again and again. It becomes U+FFFD, as an undecodable byte would.
 */
const storable = (text: string): string => (text.includes('\u0000') ? text.replaceAll('\u0000', '\uFFFD') : text);

export function toCommentInput(m: MessageData, thread: PostThread): CommentInput {
  const ref = m.reference;
  const sameThread = ref?.messageId && (ref.type ?? 0) === 0 && (ref.channelId === null || ref.channelId === thread.threadId);
  const replyToId = sameThread && ref.messageId !== thread.threadId && ref.messageId !== thread.messageId && ref.messageId !== m.id ? ref.messageId : null;
  return {
    id: m.id,
    postId: thread.postId,
    threadId: thread.threadId,
    authorId: m.authorId,
    authorName: storable(m.authorName.slice(0, 200)),
    ...(m.authorAvatar ? { authorAvatar: m.authorAvatar } : {}),
    content: storable(m.content),
    replyToId,
    attachments: m.attachments.map((a) => ({ url: a.url, name: storable(a.name), contentType: a.contentType ?? null })),
    createdAt: m.createdAt,
    editedAt: m.editedAt,
  };
}

/**
 * threadId → post thread, or null for a channel that is no post's thread. Bounded (oldest entries go
 * first); a miss is remembered only briefly so a thread published a moment ago is found. The threads not
 * cached that are asked for in the same turn of the event loop (the events of one read from the gateway)
 * are looked up together in one query: a burst across a hundred threads must not take a hundred pooled
 * connections ahead of the writes.
 */
export class PostThreadCache {
  readonly #db: Db;
  readonly #max: number;
  readonly #missTtlMs: number;
  readonly #hitTtlMs: number;
  readonly #entries = new Map<string, { value: PostThread | null; until: number }>();
  readonly #inFlight = new Map<string, Promise<PostThread | null>>();
  /** Threads waiting for the next lookup query, with the settlers of their promises. */
  #queued = new Map<string, { resolve: (v: PostThread | null) => void; reject: (err: unknown) => void }>();

  constructor(db: Db, { maxEntries = 10_000, missTtlMs = 3_000, hitTtlMs = 10 * 60_000 } = {}) {
    this.#db = db;
    this.#max = maxEntries;
    this.#missTtlMs = missTtlMs;
    this.#hitTtlMs = hitTtlMs;
  }

  get size(): number {
    return this.#entries.size;
  }

  lookup(threadId: string): Promise<PostThread | null> {
    const hit = this.#entries.get(threadId);
    if (hit && hit.until > Date.now()) return Promise.resolve(hit.value);
    const pending = this.#inFlight.get(threadId);
    if (pending) return pending;
    const p = new Promise<PostThread | null>((resolve, reject) => {
      if (this.#queued.size === 0) setImmediate(() => void this.#lookUpQueued());
      this.#queued.set(threadId, { resolve, reject });
    });
    this.#inFlight.set(threadId, p);
    return p;
  }

  async #lookUpQueued(): Promise<void> {
    const queued = this.#queued;
    this.#queued = new Map();
    const ids = [...queued.keys()];
    try {
      const posts = await getPostsByThreadIds(this.#db, ids);
      const now = Date.now();
      for (const [threadId, { resolve }] of queued) {
        const post = posts.get(threadId);
        const value = post ? { postId: post.id, threadId, messageId: post.messageId } : null;
        this.#entries.delete(threadId);
        this.#entries.set(threadId, { value, until: now + (value ? this.#hitTtlMs : this.#missTtlMs) });
        resolve(value);
      }
      while (this.#entries.size > this.#max) this.#entries.delete(this.#entries.keys().next().value!);
    } catch (err) {
      for (const { reject } of queued.values()) reject(err);
    } finally {
      for (const id of ids) this.#inFlight.delete(id);
    }
  }

  /** Forgets what is known about a thread (a new thread, a deleted one). */
  forget(threadId: string): void {
    this.#entries.delete(threadId);
  }
}

export type MirrorOutcome = 'stored' | 'deleted' | 'closed' | 'ignored' | 'resync';

/** Closes the discussion of the posts whose announcement (message id) or thread was deleted; returns their ids. */
export type CloseDiscussions = (by: { messageIds?: readonly string[]; threadIds?: readonly string[] }, at: string) => Promise<string[]>;

/**
 * The mirror of one process: gateway events in, comment operations out to the micro-batching writer.
 * Every method is cheap and never throws for bad input; what cannot be mirrored from the event alone (a
 * partial update) asks for a catch-up of the thread.
 */
export class Mirror {
  constructor(
    readonly writer: CommentWriter,
    readonly threads: PostThreadCache,
    private readonly log: Logger,
    /** Asks for a catch-up of one thread (full: page its whole history). */
    private readonly requestSync: (threadId: string, opts: { full: boolean }) => Promise<void>,
    /** A deleted announcement or thread closes its post's discussion on the web (repositories/posts closeDiscussions). */
    private readonly closeDiscussions: CloseDiscussions = async () => [],
  ) {}

  /** A message was created (or, with `update`, edited; an edit of a message never seen inserts it). */
  async messageSeen(m: MessageData): Promise<MirrorOutcome> {
    // Cheap rules first: bots and system messages never cost a database lookup.
    if (m.authorBot || m.webhookId || (m.type !== MessageType.Default && m.type !== MessageType.Reply)) return 'ignored';
    const thread = await this.threads.lookup(m.channelId);
    if (!thread) return 'ignored';
    const reason = notACommentReason(m, thread);
    if (reason) return 'ignored';
    this.writer.upsert(toCommentInput(m, thread));
    return 'stored';
  }

  /** An update whose message content is not known (an uncached partial): catch-up reads it from Discord. */
  async messageUpdatedPartially(channelId: string): Promise<MirrorOutcome> {
    const thread = await this.threads.lookup(channelId);
    if (!thread) return 'ignored';
    await this.#sync(thread.threadId, false);
    return 'resync';
  }

  /**
   * Messages deleted in a channel: comments of a post thread become erased tombstones; a post's announcement among
   * them (in a text channel, or a forum post's starter inside its thread) closes that post's discussion.
   */
  async messagesDeleted(channelId: string, ids: readonly string[], at = new Date().toISOString()): Promise<MirrorOutcome> {
    if (ids.length === 0) return 'ignored';
    const thread = await this.threads.lookup(channelId);
    if (!thread) return this.announcementsDeleted(ids, at);
    if (thread.messageId && ids.includes(thread.messageId)) await this.closeDiscussions({ messageIds: [thread.messageId] }, at);
    this.writer.delete(thread.postId, thread.threadId, ids, at);
    return 'deleted';
  }

  /** Messages deleted outside any post thread: the announcements among them close their posts' discussions. */
  async announcementsDeleted(ids: readonly string[], at = new Date().toISOString()): Promise<MirrorOutcome> {
    if (ids.length === 0) return 'ignored';
    return (await this.closeDiscussions({ messageIds: ids }, at)).length ? 'closed' : 'ignored';
  }

  /** A thread was deleted: every comment of it becomes an erased tombstone, and its post's discussion is closed. */
  async threadDeleted(threadId: string, at = new Date().toISOString()): Promise<MirrorOutcome> {
    const thread = await this.threads.lookup(threadId);
    this.threads.forget(threadId);
    if (!thread) return 'ignored';
    await this.closeDiscussions({ threadIds: [thread.threadId] }, at);
    this.writer.deleteThread(thread.postId, thread.threadId, at);
    return 'deleted';
  }

  /** A thread changed (renamed, archived, unarchived): nothing is lost; an unarchived one is caught up. */
  async threadUpdated(threadId: string, change: { unarchived: boolean }): Promise<MirrorOutcome> {
    if (!change.unarchived) return 'ignored';
    const thread = await this.threads.lookup(threadId);
    if (!thread) return 'ignored';
    await this.#sync(threadId, false);
    return 'resync';
  }

  /** A thread was created: a post published a moment ago must not stay a cached miss. */
  threadCreated(threadId: string): void {
    this.threads.forget(threadId);
  }

  async #sync(threadId: string, full: boolean): Promise<void> {
    try {
      await this.requestSync(threadId, { full });
    } catch (err) {
      // Redis down: the periodic catch-up repairs the thread later.
      this.log.warn({ err, threadId }, 'could not ask for a catch-up of the thread');
    }
  }

  /** Flushes what is buffered (shutdown). */
  close(opts?: { timeoutMs?: number }): Promise<void> {
    return this.writer.close(opts);
  }
}
