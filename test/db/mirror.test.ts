// The discussion mirror below the gateway: the comment rules, the micro-batching writer (batching, order,
// database outage, bounded buffer) and catch-up against a fake DiscordPort, on SQLite and PostgreSQL.
import { MessageType, type APIMessage } from 'discord-api-types/v10';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { listComments, upsertComments } from '../../src/repositories/comments.ts';
import { getCursor } from '../../src/repositories/cursors.ts';
import { setPublishState } from '../../src/repositories/posts.ts';
import { catchUpThread, listThreadsToSync } from '../../src/services/catch-up.ts';
import { CommentWriter, type DirtyThread } from '../../src/services/comment-writer.ts';
import { DiscordRequestError } from '../../src/services/discord-port.ts';
import {
  displayName,
  fromApiMessage,
  Mirror,
  notACommentReason,
  PostThreadCache,
  toCommentInput,
  type MessageData,
  type PostThread,
} from '../../src/services/mirror.ts';
import { eventually } from '../support/assert.ts';
import { createTestDb, DIALECTS, flakyDb, type TestDb } from '../support/db.ts';
import { publishedPost } from '../support/fixtures.ts';
import { MessageClock } from '../support/messages.ts';
import { snowflake } from '../support/snowflake.ts';

const clock = new MessageClock();
const msg = (thread: PostThread, over?: Partial<MessageData>): MessageData => clock.message(thread, over);

const silent = null;

// ------------------------------------------------------------------ pure rules (no database)

const rules = suite('mirror: comment rules');

rules('display name: nick, then global name, then username', () => {
  assert.is(displayName({ username: 'al', global_name: 'Alice' }, { nick: 'Ali' }), 'Ali');
  assert.is(displayName({ username: 'al', global_name: 'Alice' }, { nick: null }), 'Alice');
  assert.is(displayName({ username: 'al', global_name: null }), 'al');
});

rules('bots, webhooks, system messages and the thread starter are not comments', () => {
  const t: PostThread = { postId: 'p', threadId: snowflake(), messageId: null };
  t.messageId = t.threadId;
  assert.is(notACommentReason(msg(t), t), null);
  assert.is(notACommentReason(msg(t, { type: MessageType.Reply }), t), null);
  assert.is(notACommentReason(msg(t, { authorBot: true }), t), 'bot');
  assert.is(notACommentReason(msg(t, { webhookId: snowflake() }), t), 'webhook');
  assert.is(notACommentReason(msg(t, { type: MessageType.ChannelPinnedMessage }), t), 'system message');
  assert.is(notACommentReason(msg(t, { type: MessageType.ThreadStarterMessage }), t), 'system message');
  assert.is(notACommentReason(msg(t, { type: MessageType.UserJoin }), t), 'system message');
  assert.is(notACommentReason(msg(t, { authorSystem: true }), t), 'system author');
  assert.is(notACommentReason(msg(t, { id: t.threadId }), t), 'thread starter');
});

rules('reply parent: same thread only; a reply to the announcement is top-level', () => {
  const t: PostThread = { postId: 'p', threadId: snowflake(), messageId: null };
  t.messageId = t.threadId;
  const parent = msg(t);
  const reply = toCommentInput(msg(t, { type: MessageType.Reply, reference: { messageId: parent.id, channelId: t.threadId } }), t);
  assert.is(reply.replyToId, parent.id);
  const toAnnouncement = toCommentInput(msg(t, { type: MessageType.Reply, reference: { messageId: t.messageId, channelId: snowflake() } }), t);
  assert.is(toAnnouncement.replyToId, null);
  const otherChannel = toCommentInput(msg(t, { type: MessageType.Reply, reference: { messageId: snowflake(), channelId: snowflake() } }), t);
  assert.is(otherChannel.replyToId, null);
  const forward = toCommentInput(msg(t, { reference: { messageId: parent.id, channelId: t.threadId, type: 1 } }), t);
  assert.is(forward.replyToId, null, 'a forwarded message is not a reply');
});

rules('REST JSON maps to the same comment as gateway data', () => {
  const t: PostThread = { postId: 'p', threadId: snowflake(), messageId: null };
  const api = {
    id: snowflake(),
    channel_id: t.threadId,
    type: MessageType.Reply,
    author: { id: '100000000000000002', username: 'bob', global_name: 'Bob B', discriminator: '0', avatar: null },
    content: 'a reply',
    timestamp: '2026-11-29T10:00:00.123000+00:00',
    edited_timestamp: '2026-11-29T10:05:00.000000+00:00',
    message_reference: { type: 0, message_id: '200000000000000000', channel_id: t.threadId },
    attachments: [{ id: '1', filename: 'a.png', size: 3, url: 'https://cdn.example/a.png', proxy_url: 'x', content_type: 'image/png' }],
  } as unknown as APIMessage;
  const c = toCommentInput(fromApiMessage(api), t);
  assert.equal(c, {
    id: api.id,
    postId: 'p',
    threadId: t.threadId,
    authorId: '100000000000000002',
    authorName: 'Bob B',
    content: 'a reply',
    replyToId: '200000000000000000',
    attachments: [{ url: 'https://cdn.example/a.png', name: 'a.png', contentType: 'image/png' }],
    createdAt: '2026-11-29T10:00:00.123Z',
    editedAt: '2026-11-29T10:05:00.000Z',
  });
});

rules.run();

// ------------------------------------------------------------------ a fake Discord for catch-up

class FakeThreads {
  readonly channels = new Map<string, APIMessage[]>();
  gone = new Set<string>();
  forbidden = new Set<string>();
  calls = 0;

  add(threadId: string, m: Partial<APIMessage> & { bot?: boolean } = {}): APIMessage {
    const message = clock.apiMessage(threadId, m);
    const list = this.channels.get(threadId) ?? [];
    list.push(message);
    this.channels.set(threadId, list);
    return message;
  }

  edit(threadId: string, id: string, content: string): void {
    const list = this.channels.get(threadId)!;
    const i = list.findIndex((m) => m.id === id);
    list[i] = { ...list[i]!, content, edited_timestamp: new Date(clock.next()).toISOString() };
  }

  remove(threadId: string, id: string): void {
    this.channels.set(
      threadId,
      this.channels.get(threadId)!.filter((m) => m.id !== id),
    );
  }

  /** Discord's semantics: at most `limit`, newest first; `after` = the oldest ones after the id. */
  port() {
    return {
      listMessages: async (channelId: string, q: { after?: string; before?: string; limit?: number }): Promise<APIMessage[]> => {
        this.calls++;
        if (this.gone.has(channelId)) throw new DiscordRequestError('Unknown Channel', 10003, 404);
        if (this.forbidden.has(channelId)) throw new DiscordRequestError('Missing Access', 50001, 403);
        const limit = Math.min(100, q.limit ?? 50);
        const all = this.channels.get(channelId) ?? [];
        const slice = q.after !== undefined ? all.filter((m) => BigInt(m.id) > BigInt(q.after!)).slice(0, limit) : all.slice(-limit);
        return slice.reverse().map((m) => ({ ...m }));
      },
    };
  }
}

for (const dialect of DIALECTS) {
  let t: TestDb;
  const hooks = (s: ReturnType<typeof suite>) => {
    s.before(async () => {
      t = await createTestDb(dialect);
    });
    s.after(async () => {
      await t.close();
    });
  };

  // ---------------------------------------------------------------- writer

  const writer = suite(`comment writer (${dialect})`);
  hooks(writer);

  writer('a burst of 5,000 events lands in a few transactions, and the touched posts are reported', async () => {
    const a = await publishedPost(t.db);
    const b = await publishedPost(t.db);
    const flushed = new Set<string>();
    const w = new CommentWriter(t.db, silent, { onFlushed: (ids) => ids.forEach((id) => flushed.add(id)) });
    const started = performance.now();
    for (let i = 0; i < 5000; i++) {
      const th = i % 2 ? a : b;
      w.upsert(toCommentInput(msg(th), th));
    }
    await w.flush();
    const ms = performance.now() - started;
    const [ca, cb] = [await listComments(t.db, a.postId), await listComments(t.db, b.postId)];
    assert.is(ca.length + cb.length, 5000);
    assert.is(w.stats.written, 5000);
    assert.ok(w.stats.flushes <= 12, `${w.stats.flushes} transactions for 5000 operations`);
    assert.ok(ms < 10_000, `5000 comments took ${ms.toFixed(0)} ms`);
    assert.equal([...flushed].sort(), [a.postId, b.postId].sort());
    console.log(`  [${dialect}] writer: 5000 comments in ${ms.toFixed(0)} ms, ${w.stats.flushes} transactions`);
    await w.close();
  });

  writer('operations apply in arrival order: create, edit, delete, late re-delivery', async () => {
    const th = await publishedPost(t.db);
    const w = new CommentWriter(t.db, silent);
    const m = msg(th);
    const edited = { ...m, content: 'edited', editedAt: new Date(clock.now + 500).toISOString() };
    w.upsert(toCommentInput(m, th));
    w.upsert(toCommentInput(edited, th));
    w.delete(th.postId, th.threadId, [m.id], '2026-11-29T12:00:00.000Z');
    w.upsert(toCommentInput(edited, th)); // the same edit seen again (catch-up, resume): no resurrection
    const other = msg(th);
    w.upsert(toCommentInput(other, th));
    w.upsert(toCommentInput({ ...other, content: 'second version', editedAt: new Date(clock.now + 900).toISOString() }, th));
    await w.flush();
    const rows = await listComments(t.db, th.postId);
    assert.is(rows.length, 2);
    assert.is(rows[0]!.content, '', 'the delete erased the text of the latest edit');
    assert.is(rows[0]!.editedAt, null);
    assert.is(rows[0]!.deletedAt, '2026-11-29T12:00:00.000Z');
    assert.is(rows[1]!.content, 'second version');
    assert.is(rows[1]!.deletedAt, null);
    await w.close();
  });

  writer('a thread delete tombstones the thread, after the writes queued before it', async () => {
    const th = await publishedPost(t.db);
    const w = new CommentWriter(t.db, silent);
    for (let i = 0; i < 5; i++) w.upsert(toCommentInput(msg(th), th));
    w.deleteThread(th.postId, th.threadId, '2026-11-29T13:00:00.000Z');
    await w.flush();
    const rows = await listComments(t.db, th.postId);
    assert.is(rows.length, 5);
    assert.ok(rows.every((r) => r.deletedAt === '2026-11-29T13:00:00.000Z'));
    await w.close();
  });

  writer('a database outage: writes are retried with backoff and none is lost', async () => {
    const th = await publishedPost(t.db);
    const db = flakyDb(t.db);
    const w = new CommentWriter(db, silent, { retryMinMs: 20, retryMaxMs: 100 });
    db.down = true;
    const sent = Array.from({ length: 300 }, () => msg(th));
    for (const m of sent) w.upsert(toCommentInput(m, th));
    w.delete(th.postId, th.threadId, [sent[0]!.id], '2026-11-29T14:00:00.000Z');
    await eventually(() => w.stats.failures >= 3, { timeout: 3000, message: 'retries' });
    assert.is(w.pending, 301);
    assert.is((await listComments(t.db, th.postId)).length, 0);
    const attempts = db.attempts;
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(db.attempts - attempts < 12, `backoff: ${db.attempts - attempts} attempts in 300 ms`);
    db.down = false;
    await w.flush({ timeoutMs: 3000 });
    const rows = await listComments(t.db, th.postId);
    assert.is(rows.length, 300);
    assert.is(rows.find((r) => r.id === sent[0]!.id)!.deletedAt, '2026-11-29T14:00:00.000Z', 'the delete stayed after its create');
    assert.is(w.stats.dropped, 0);
    await w.close();
  });

  writer('beyond the bound the oldest operations are dropped and their threads asked for a full catch-up', async () => {
    const [a, b] = [await publishedPost(t.db), await publishedPost(t.db)];
    const db = flakyDb(t.db);
    const dirty: DirtyThread[][] = [];
    const w = new CommentWriter(db, silent, { maxBatch: 10, maxBuffer: 50, retryMinMs: 20, retryMaxMs: 50, onDirty: (d) => void dirty.push(d) });
    db.down = true;
    for (let i = 0; i < 30; i++) w.upsert(toCommentInput(msg(a), a)); // oldest: thread a
    for (let i = 0; i < 50; i++) w.upsert(toCommentInput(msg(b), b));
    assert.is(w.pending, 50);
    assert.is(w.stats.dropped, 30);
    assert.equal(w.dirtyThreads(), [{ threadId: a.threadId, postId: a.postId }]);
    await new Promise((r) => setTimeout(r, 100));
    assert.is(dirty.length, 0, 'no catch-up asked while the database is away (it would fail)');
    db.down = false;
    await eventually(() => w.pending === 0 && dirty.length === 1, { timeout: 3000, message: 'drained and dirty reported' });
    assert.equal(dirty[0], [{ threadId: a.threadId, postId: a.postId }]);
    assert.equal(w.dirtyThreads(), []);
    assert.is((await listComments(t.db, b.postId)).length, 50);
    await w.close();
  });

  writer('close() flushes what is buffered; after close nothing more is accepted', async () => {
    const th = await publishedPost(t.db);
    const w = new CommentWriter(t.db, silent, { flushMs: 10_000 });
    for (let i = 0; i < 7; i++) w.upsert(toCommentInput(msg(th), th));
    assert.is(w.pending, 7);
    await w.close();
    assert.is((await listComments(t.db, th.postId)).length, 7);
    w.upsert(toCommentInput(msg(th), th));
    assert.is(w.pending, 0);
  });

  writer('close() with the database away gives up after its timeout (catch-up repairs at the next start)', async () => {
    const th = await publishedPost(t.db);
    const db = flakyDb(t.db);
    db.down = true;
    const w = new CommentWriter(db, silent, { retryMinMs: 10, retryMaxMs: 20 });
    w.upsert(toCommentInput(msg(th), th));
    const started = Date.now();
    await w.close({ timeoutMs: 200 });
    assert.ok(Date.now() - started < 1000);
    assert.is(w.pending, 1);
    const attempts = db.attempts;
    await new Promise((r) => setTimeout(r, 100));
    assert.is(db.attempts, attempts, 'no retry timer left running');
  });

  writer.run();

  // ---------------------------------------------------------------- mirror service

  const mirror = suite(`mirror service (${dialect})`);
  hooks(mirror);

  mirror('only comments in post threads are stored; the cache finds a thread published a moment ago', async () => {
    const th = await publishedPost(t.db);
    const syncs: string[] = [];
    const w = new CommentWriter(t.db, silent);
    const cache = new PostThreadCache(t.db, { missTtlMs: 50 });
    const m = new Mirror(w, cache, (await import('../../src/logger.ts')).createLogger('silent'), async (id) => void syncs.push(id));
    const top = msg(th);
    assert.is(await m.messageSeen(top), 'stored');
    assert.is(await m.messageSeen(msg(th, { type: MessageType.Reply, reference: { messageId: top.id, channelId: th.threadId } })), 'stored');
    assert.is(await m.messageSeen(msg(th, { authorBot: true })), 'ignored');
    assert.is(await m.messageSeen(msg(th, { webhookId: snowflake() })), 'ignored');
    assert.is(await m.messageSeen(msg(th, { type: MessageType.ChannelNameChange })), 'ignored');
    assert.is(await m.messageSeen(msg(th, { channelId: snowflake() })), 'ignored', 'another channel');
    // A thread unknown a moment ago is found once the miss expires (or the thread is announced by threadCreate).
    const later = await publishedPost(t.db);
    const later2 = { ...later, threadId: snowflake() };
    assert.is(await m.messageSeen(msg(later2)), 'ignored');
    await setPublishState(t.db, later.postId, { state: 'published', threadId: later2.threadId, messageId: later2.threadId });
    m.threadCreated(later2.threadId);
    assert.is(await m.messageSeen(msg(later2)), 'stored');
    assert.is(await m.messagesDeleted(th.threadId, [top.id]), 'deleted');
    assert.is(await m.messagesDeleted(snowflake(), [top.id]), 'ignored');
    assert.is(await m.threadUpdated(th.threadId, { unarchived: false }), 'ignored');
    assert.is(await m.threadUpdated(th.threadId, { unarchived: true }), 'resync');
    assert.is(await m.messageUpdatedPartially(th.threadId), 'resync');
    assert.equal(syncs, [th.threadId, th.threadId]);
    await m.close();
    const rows = await listComments(t.db, th.postId);
    assert.is(rows.length, 2);
    assert.ok(rows[0]!.deletedAt);
    assert.is(rows[1]!.replyToId, top.id);
    assert.is((await listComments(t.db, later.postId)).length, 1);
  });

  mirror(
    'the thread cache looks up the threads asked for in one turn in one query; a failed query fails them all, and the next lookup asks again',
    async () => {
      const threads = [await publishedPost(t.db), await publishedPost(t.db), await publishedPost(t.db)];
      const db = flakyDb(t.db);
      const cache = new PostThreadCache(db);
      const stranger = snowflake();
      const answers = await Promise.all([...threads.map((th) => cache.lookup(th.threadId)), cache.lookup(stranger), cache.lookup(threads[0]!.threadId)]);
      assert.is(db.attempts, 1, 'five lookups of four threads: one query');
      assert.equal(
        answers.map((a) => a?.postId ?? null),
        [...threads.map((th) => th.postId), null, threads[0]!.postId],
      );
      assert.is((await cache.lookup(threads[1]!.threadId))?.threadId, threads[1]!.threadId);
      assert.is(db.attempts, 1, 'cached');
      db.down = true;
      const other = await publishedPost(t.db);
      const failed = await Promise.allSettled([cache.lookup(other.threadId), cache.lookup(snowflake())]);
      assert.equal(
        failed.map((f) => f.status),
        ['rejected', 'rejected'],
      );
      db.down = false;
      assert.is((await cache.lookup(other.threadId))?.postId, other.postId, 'nothing wrong was remembered');
    },
  );

  mirror('a message with a NUL character is stored (PostgreSQL refuses NUL in text) and does not hold up the batch', async () => {
    const th = await publishedPost(t.db);
    const w = new CommentWriter(t.db, silent);
    const m = new Mirror(w, new PostThreadCache(t.db), (await import('../../src/logger.ts')).createLogger('silent'), async () => {});
    assert.is(await m.messageSeen(msg(th, { content: 'before\u0000after', authorName: 'nul\u0000name' })), 'stored');
    assert.is(await m.messageSeen(msg(th, { content: 'the next one' })), 'stored');
    await m.close();
    assert.equal(
      (await listComments(t.db, th.postId)).map((c) => [c.content, c.authorName]),
      [
        ['before\uFFFDafter', 'nul\uFFFDname'],
        ['the next one', 'alice'],
      ],
    );
  });

  mirror('a comment the database refuses (its post is not there: a foreign key) is logged and left out; the rest of its batch is stored', async () => {
    const th = await publishedPost(t.db);
    const errors: string[] = [];
    const log = { error: (_o: unknown, m: string) => errors.push(m), warn: () => {}, info: () => {}, debug: () => {} };
    const w = new CommentWriter(t.db, log as never);
    const ok = [msg(th), msg(th), msg(th)];
    w.upsert(toCommentInput(ok[0]!, th));
    w.upsert(toCommentInput(msg(th), { ...th, postId: 'no-such-post' }));
    w.upsert(toCommentInput(ok[1]!, th));
    w.upsert(toCommentInput(ok[2]!, th));
    await w.flush({ timeoutMs: 5000 });
    assert.equal(
      (await listComments(t.db, th.postId)).map((c) => c.id),
      ok.map((m) => m.id),
    );
    assert.is(w.stats.rejected, 1);
    assert.ok(errors.includes('comment operation refused by the database: not stored'), errors.join('; '));
    await w.close();
  });

  mirror('the thread cache is bounded', async () => {
    const cache = new PostThreadCache(t.db, { maxEntries: 20 });
    for (let i = 0; i < 100; i++) await cache.lookup(snowflake());
    assert.is(cache.size, 20);
  });

  mirror('a Redis failure when asking for a catch-up is logged, not thrown', async () => {
    const th = await publishedPost(t.db);
    const w = new CommentWriter(t.db, silent);
    const m = new Mirror(w, new PostThreadCache(t.db), (await import('../../src/logger.ts')).createLogger('silent'), async () => {
      throw new Error('Connection is closed.');
    });
    assert.is(await m.messageUpdatedPartially(th.threadId), 'resync');
    await m.close();
  });

  mirror.run();

  // ---------------------------------------------------------------- catch-up

  const catchUp = suite(`catch-up (${dialect})`);
  hooks(catchUp);

  catchUp('pages the whole history ascending, stores comments only, moves the cursor; twice changes nothing', async () => {
    const th = await publishedPost(t.db);
    const discord = new FakeThreads();
    const first = discord.add(th.threadId);
    discord.add(th.threadId, { bot: true, content: 'a bot message' });
    discord.add(th.threadId, { type: MessageType.ChannelPinnedMessage, content: '' });
    for (let i = 0; i < 246; i++)
      discord.add(th.threadId, i % 3 === 0 ? { type: MessageType.Reply, message_reference: { type: 0, message_id: first.id, channel_id: th.threadId } } : {});
    const deps = { db: t.db, discord: discord.port() };
    const r1 = await catchUpThread(deps, th);
    assert.is(r1.status, 'ok');
    assert.is(r1.upserted, 247);
    assert.is(r1.deleted, 0);
    assert.is(r1.pages, 3, '249 messages in pages of 100');
    const all = discord.channels.get(th.threadId)!;
    assert.is(r1.cursor, all.at(-1)!.id);
    assert.is(await getCursor(t.db, th.threadId), all.at(-1)!.id);
    const rows = await listComments(t.db, th.postId);
    assert.is(rows.length, 247);
    assert.is(rows.filter((r) => r.replyToId === first.id).length, 82);
    const before = JSON.stringify(rows);
    const r2 = await catchUpThread(deps, th);
    assert.is(r2.upserted + r2.deleted, 0, 'idempotent');
    assert.is(JSON.stringify(await listComments(t.db, th.postId)), before);
  });

  catchUp('after downtime: new replies, an edit and deletions (also of the newest message) are caught', async () => {
    const th = await publishedPost(t.db);
    const discord = new FakeThreads();
    const old = Array.from({ length: 150 }, () => discord.add(th.threadId));
    const deps = { db: t.db, discord: discord.port() };
    await catchUpThread(deps, th);
    // the bot is away:
    const fresh = Array.from({ length: 10 }, () => discord.add(th.threadId));
    discord.edit(th.threadId, old[120]!.id, 'edited while away');
    discord.remove(th.threadId, old[130]!.id);
    discord.remove(th.threadId, fresh[9]!.id); // the newest one
    discord.remove(th.threadId, old[10]!.id); // older than the 100 newest: only a full catch-up sees it
    const r = await catchUpThread(deps, th);
    assert.is(r.upserted, 9 + 1);
    assert.is(r.deleted, 1 + 0, 'old[130] (fresh[9] was never stored)');
    const rows = new Map((await listComments(t.db, th.postId)).map((c) => [c.id, c]));
    assert.is(rows.get(old[120]!.id)!.content, 'edited while away');
    assert.ok(rows.get(old[120]!.id)!.editedAt);
    assert.ok(rows.get(old[130]!.id)!.deletedAt);
    assert.is(rows.get(old[10]!.id)!.deletedAt, null);
    assert.not.ok(rows.has(fresh[9]!.id));
    // A stored newest message deleted while away is caught too.
    const newest = discord.add(th.threadId);
    await catchUpThread(deps, th);
    discord.remove(th.threadId, newest.id);
    const r2 = await catchUpThread(deps, th);
    assert.is(r2.deleted, 1);
    // full repair sees everything
    const r3 = await catchUpThread(deps, th, { full: true });
    assert.is(r3.deleted, 1);
    assert.ok((await listComments(t.db, th.postId)).find((c) => c.id === old[10]!.id)!.deletedAt);
    const r4 = await catchUpThread(deps, th, { full: true });
    assert.is(r4.upserted + r4.deleted, 0, 'idempotent');
  });

  catchUp('a message stored by the gateway after Discord was read is not judged deleted', async () => {
    const th = await publishedPost(t.db);
    const discord = new FakeThreads();
    for (let i = 0; i < 5; i++) discord.add(th.threadId);
    const deps = { db: t.db, discord: discord.port() };
    await catchUpThread(deps, th);
    // The gateway stores a brand-new reply that the REST read below does not include yet.
    const live = msg(th, { id: snowflake(Date.now() + 1000), createdAt: new Date().toISOString() });
    await upsertComments(t.db, [toCommentInput(live, th)]);
    const r = await catchUpThread(deps, th);
    assert.is(r.deleted, 0);
    assert.is((await listComments(t.db, th.postId)).find((c) => c.id === live.id)!.deletedAt, null);
  });

  catchUp('a tombstone is never brought back, and a newer stored edit is not undone', async () => {
    const th = await publishedPost(t.db);
    const discord = new FakeThreads();
    const a = discord.add(th.threadId);
    const b = discord.add(th.threadId);
    const deps = { db: t.db, discord: discord.port() };
    await catchUpThread(deps, th);
    const w = new CommentWriter(t.db, silent);
    w.delete(th.postId, th.threadId, [a.id], new Date().toISOString());
    const bData = fromApiMessage(b);
    w.upsert(toCommentInput({ ...bData, content: 'newer edit', editedAt: new Date(Date.now() + 60_000).toISOString() }, th));
    await w.close();
    const r = await catchUpThread(deps, th, { full: true });
    assert.is(r.upserted, 0);
    const rows = await listComments(t.db, th.postId);
    assert.ok(rows[0]!.deletedAt);
    assert.is(rows[1]!.content, 'newer edit');
  });

  catchUp('a thread deleted while away: its comments become tombstones; no access: left alone', async () => {
    const th = await publishedPost(t.db);
    const discord = new FakeThreads();
    for (let i = 0; i < 3; i++) discord.add(th.threadId);
    const deps = { db: t.db, discord: discord.port() };
    await catchUpThread(deps, th);
    discord.forbidden.add(th.threadId);
    const r1 = await catchUpThread(deps, th);
    assert.is(r1.status, 'no-access');
    assert.ok((await listComments(t.db, th.postId)).every((c) => c.deletedAt === null));
    discord.forbidden.delete(th.threadId);
    discord.gone.add(th.threadId);
    const r2 = await catchUpThread(deps, th);
    assert.is(r2.status, 'gone');
    assert.is(r2.deleted, 3);
    // Other errors (a 500, a timeout) are thrown so the job retries.
    const failing = { listMessages: async () => Promise.reject(new DiscordRequestError('Internal Server Error', 0, 500)) };
    try {
      await catchUpThread({ db: t.db, discord: failing }, th);
      assert.unreachable('should throw');
    } catch (error) {
      assert.instance(error, DiscordRequestError);
    }
  });

  catchUp('threads to sync: announced posts with a thread within the window', async () => {
    const th = await publishedPost(t.db);
    const threads = await listThreadsToSync(t.db, 30);
    assert.ok(threads.some((x) => x.threadId === th.threadId && x.postId === th.postId));
    const future = await listThreadsToSync(t.db, 1, Date.now() + 40 * 86_400_000);
    assert.not.ok(future.some((x) => x.threadId === th.threadId));
  });

  catchUp.run();
}
