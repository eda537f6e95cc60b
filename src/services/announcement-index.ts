// Which messages are announcements: a bounded cache in front of the posts table, so a burst of reactions on
// one announcement asks the database once.
import type { Db } from '../db/index.ts';
import { getPostByMessageId, getPostIdsByMessageIds } from '../repositories/posts.ts';

/**
 * messageId → postId (null: not an announcement), bounded, with a long TTL for announcements and a short
 * one for other messages (so a post announced a moment ago is found as soon as its row is written).
 */
export class AnnouncementIndex {
  readonly #cache = new Map<string, { postId: string | null; until: number }>();
  constructor(
    private readonly db: Db,
    readonly options: { max?: number; hitTtlMs?: number; missTtlMs?: number; now?: () => number } = {},
  ) {}

  /** The cached answer for `messageId` if it has not expired (made the most recently used), else undefined; no database. */
  cached(messageId: string): string | null | undefined {
    return this.#fresh(messageId)?.postId;
  }

  async postIdOf(messageId: string): Promise<string | null> {
    const hit = this.#fresh(messageId);
    if (hit) return hit.postId;
    const post = await getPostByMessageId(this.db, messageId);
    return this.#remember(messageId, post?.id ?? null);
  }

  /** Looks up, in one query, those of these messages that are not cached, so `postIdOf` answers them from the cache. */
  async prime(messageIds: Iterable<string>): Promise<void> {
    const missing = [...new Set(messageIds)].filter((id) => !this.#fresh(id));
    if (missing.length === 0) return;
    const found = await getPostIdsByMessageIds(this.db, missing);
    for (const id of missing) this.#remember(id, found.get(id) ?? null);
  }

  /** A cached answer that has not expired (made the most recently used). */
  #fresh(messageId: string): { postId: string | null } | null {
    const hit = this.#cache.get(messageId);
    if (!hit || hit.until <= (this.options.now ?? Date.now)()) return null;
    // Refresh recency (Map keeps insertion order: the first entry is the least recently used).
    this.#cache.delete(messageId);
    this.#cache.set(messageId, hit);
    return hit;
  }

  #remember(messageId: string, postId: string | null): string | null {
    const ttl = postId ? (this.options.hitTtlMs ?? 10 * 60_000) : (this.options.missTtlMs ?? 5_000);
    this.#cache.delete(messageId);
    this.#cache.set(messageId, { postId, until: (this.options.now ?? Date.now)() + ttl });
    const max = this.options.max ?? 10_000;
    while (this.#cache.size > max) this.#cache.delete(this.#cache.keys().next().value!);
    return postId;
  }

  get size(): number {
    return this.#cache.size;
  }

  /** The cached answer for `messageId`, without asking the database (undefined: not cached). */
  peek(messageId: string): string | null | undefined {
    return this.#cache.get(messageId)?.postId;
  }

  forget(messageId: string): void {
    this.#cache.delete(messageId);
  }
}
