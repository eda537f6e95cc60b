// Catch-up: the database converges to Discord after downtime. For a post thread, page the history after
// its stored cursor (oldest first), store what is missing, move the cursor; re-read the newest messages to
// catch edits and deletions made while the bot was away. Running it twice changes nothing.
import type { APIMessage } from 'discord-api-types/v10';
import { withTransaction, type Db } from '../db/index.ts';
import type { Logger } from '../logger.ts';
import { listLiveCommentIds, markCommentsDeleted, markThreadCommentsDeleted, storeCatchUpPage, type CommentInput } from '../repositories/comments.ts';
import { withoutForgottenAuthors } from './privacy.ts';
import { getCursor } from '../repositories/cursors.ts';
import { closeDiscussions, listAnnouncedPostsSince } from '../repositories/posts.ts';
import { isDenied, isGone, type DiscordPort } from './discord-port.ts';
import { fromApiMessage, notACommentReason, toCommentInput, type PostThread } from './mirror.ts';
import { compareSnowflakes, maxSnowflake, snowflakeAt, snowflakeTime } from '../domain/snowflake.ts';

export interface CatchUpDeps {
  db: Db;
  discord: Pick<DiscordPort, 'listMessages'>;
  log?: Logger;
}

export interface CatchUpOptions {
  /** Page the whole history from the start and compare all of it (a thread whose events were dropped). */
  full?: boolean;
  /** How many of the newest messages are re-read for edits and deletions (default 100, at most 100). */
  recent?: number;
  /** A bound on the pages read forward in one run (default 1000: 100,000 messages); the cursor resumes. */
  maxPages?: number;
  /** The clock (tests). */
  now?: () => number;
}

export interface CatchUpResult {
  /** Messages read from Discord. */
  fetched: number;
  /** Comments inserted or updated (new, or edited while away). */
  upserted: number;
  /** Comments turned into tombstones (deleted while away). */
  deleted: number;
  pages: number;
  /** The thread's cursor afterwards. */
  cursor: string | null;
  /** 'gone': the thread no longer exists (its comments are tombstones); 'no-access': left as it is. */
  status: 'ok' | 'gone' | 'no-access';
}

const PAGE = 100;
/** How far the two clocks may disagree: messages newer than (read time − this) are never judged deleted. */
const CLOCK_MARGIN_MS = 10_000;
/**
 * How much earlier than its id's time a comment's created_at may be. Discord stamps a message with its id's time, and
 * the gateway path reads the time from the id; but catch-up stores REST's `timestamp` as given, and the emulator takes
 * that from its clock after making the id (which it keeps increasing when the clock steps back), fixtures as they like.
 */
export const CREATED_AT_MARGIN_MS = 3_600_000;

/** The comments among `messages` (not bots, webhooks, system messages or the thread's starter). */
function commentsOf(thread: PostThread, messages: readonly APIMessage[]): CommentInput[] {
  const out: CommentInput[] = [];
  for (const m of messages) {
    const data = fromApiMessage(m);
    if (notACommentReason(data, thread) === null && data.channelId === thread.threadId) out.push(toCommentInput(data, thread));
  }
  return out;
}

/**
 * Stores the comments of `messages` that are missing or differ (content or edit time) from the database
 * (tombstones are never brought back, newer stored edits never undone) and moves the cursor to `cursor`, in
 * one transaction: the cursor never passes a page that is not committed. Returns how many were written.
 */
async function storePage(db: Db, thread: PostThread, messages: readonly APIMessage[], cursor: string | null): Promise<number> {
  return storeCatchUpPage(
    db,
    await withoutForgottenAuthors(db, commentsOf(thread, messages)),
    cursor ? { threadId: thread.threadId, postId: thread.postId, messageId: cursor } : null,
  );
}

/**
 * The ids of the thread's live comments in (`after`, `upTo`] (`after` null = from the start). Only the comments created
 * from CREATED_AT_MARGIN_MS before `after`'s time on are read (a seek in the post's comments by time, not the whole
 * thread: the recheck's 100 newest of a 100,000-reply thread); the ids decide exactly.
 */
export async function listLiveCommentIdsBetween(db: Db, thread: PostThread, after: string | null, upTo: string): Promise<string[]> {
  // At most 20 digits (a 64-bit snowflake): its time is a date of four-digit year, whose ISO text sorts as time.
  const since = after !== null && /^\d{1,20}$/.test(after) ? new Date(snowflakeTime(after) - CREATED_AT_MARGIN_MS).toISOString() : undefined;
  const live = await listLiveCommentIds(db, thread.postId, thread.threadId, { afterCreatedAt: since });
  return live.filter((id) => (after === null || compareSnowflakes(id, after) > 0) && compareSnowflakes(id, upTo) <= 0);
}

/**
 * Tombstones the live comments whose ids lie in (`after`, `upTo`] (`after` null = from the start) and that
 * Discord did not return although it returned everything in that range.
 */
async function tombstoneMissing(db: Db, thread: PostThread, after: string | null, upTo: string, seen: ReadonlySet<string>, at: string): Promise<number> {
  const gone = (await listLiveCommentIdsBetween(db, thread, after, upTo)).filter((id) => !seen.has(id));
  return gone.length ? markCommentsDeleted(db, gone, at) : 0;
}

/** Brings one post thread's comments in line with Discord. */
export async function catchUpThread(deps: CatchUpDeps, thread: PostThread, opts: CatchUpOptions = {}): Promise<CatchUpResult> {
  const { db, discord } = deps;
  const now = opts.now ?? Date.now;
  const recent = Math.min(PAGE, Math.max(1, opts.recent ?? PAGE));
  const maxPages = opts.maxPages ?? 1000;
  const result: CatchUpResult = { fetched: 0, upserted: 0, deleted: 0, pages: 0, cursor: null, status: 'ok' };
  const startCursor = opts.full ? null : await getCursor(db, thread.threadId);
  result.cursor = startCursor;

  try {
    // 1. Forward: everything after the cursor, oldest first, page by page; the cursor moves with each page.
    const seen = new Set<string>();
    let after = startCursor;
    let complete = false;
    const readStart = now();
    const read = (from: string | null) => {
      const p = discord.listMessages(thread.threadId, { after: from ?? '0', limit: PAGE });
      p.catch(() => {}); // awaited below; this only keeps a prefetch that is never awaited from being unhandled
      return p;
    };
    let next = read(after);
    while (result.pages < maxPages) {
      const page = await next;
      result.pages++;
      result.fetched += page.length;
      const asc = [...page].sort((a, b) => compareSnowflakes(a.id, b.id));
      for (const m of asc) seen.add(m.id);
      const last = asc.at(-1)?.id ?? null;
      // Read the next page while this one is stored: Discord and the database work at the same time.
      if (page.length === PAGE && result.pages < maxPages) next = read(last);
      result.upserted += await storePage(db, thread, asc, last);
      if (last) after = maxSnowflake(after, last);
      result.cursor = maxSnowflake(result.cursor, last);
      if (page.length < PAGE) {
        complete = true;
        break;
      }
    }
    // Everything after the cursor was read: what we hold there and Discord does not is deleted.
    if (complete) {
      const upTo = maxSnowflake(after, snowflakeAt(readStart - CLOCK_MARGIN_MS))!;
      result.deleted += await tombstoneMissing(db, thread, startCursor, upTo, seen, new Date(now()).toISOString());
    }

    // 2. The newest messages again: edits and deletions of messages before the cursor.
    if (startCursor !== null) {
      const readAt = now();
      const page = await discord.listMessages(thread.threadId, { limit: recent });
      result.pages++;
      result.fetched += page.length;
      const ids = new Set(page.map((m) => m.id));
      const oldest = page.reduce<string | null>((lo, m) => (lo === null || compareSnowflakes(m.id, lo) < 0 ? m.id : lo), null);
      const newest = page.reduce<string | null>((hi, m) => maxSnowflake(hi, m.id), null);
      await withTransaction(db, async (tx) => {
        result.upserted += await storePage(tx, thread, page, newest);
        // A short page is the whole thread; a full one covers [oldest, newest].
        const from = page.length < recent ? null : (BigInt(oldest!) - 1n).toString();
        const upTo = maxSnowflake(newest, snowflakeAt(readAt - CLOCK_MARGIN_MS))!;
        result.deleted += await tombstoneMissing(tx, thread, from, upTo, ids, new Date(now()).toISOString());
      });
      result.cursor = maxSnowflake(result.cursor, newest);
    }
  } catch (error) {
    if (isGone(error)) {
      // The thread was deleted while we were away: Discord is the source of truth (erased, and closed on the web).
      const at = new Date(now()).toISOString();
      result.deleted += await markThreadCommentsDeleted(db, thread.postId, thread.threadId, at);
      await closeDiscussions(db, { threadIds: [thread.threadId] }, at);
      result.status = 'gone';
      return result;
    }
    if (isDenied(error)) {
      deps.log?.warn({ threadId: thread.threadId, postId: thread.postId, code: error.code }, 'no access to the post thread: its comments are left as they are');
      result.status = 'no-access';
      return result;
    }
    throw error;
  }
  return result;
}

/** The post threads catch-up looks at: posts announced (or published) within the last `windowDays`. */
export async function listThreadsToSync(db: Db, windowDays: number, now = Date.now()): Promise<PostThread[]> {
  const since = new Date(now - windowDays * 86_400_000).toISOString();
  const posts = await listAnnouncedPostsSince(db, since);
  return posts.filter((p) => p.threadId).map((p) => ({ postId: p.id, threadId: p.threadId!, messageId: p.messageId }));
}
