/**
 * The periodic and repair reads of comments (issue 21), on SQLite and PostgreSQL: the sweep's posts changed in a
 * window (repositories/activity.ts), a deleted thread's tombstoning and catch-up's live ids of a thread
 * (repositories/comments.ts). What they return (against a recount of every row), that their plans seek an index on
 * a table big enough for the planner to choose honestly (20,000 replies over 1,000 posts; PostgreSQL analyzed, SQLite
 * without statistics, as the bot runs it), and that migration 023's partial indexes cost a new reply nothing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CompiledQuery, sql } from 'kysely';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { editAndDeleteSome, seedBusyWeek, type DigestSeed } from '../../bench/seed-digest.ts';
import { createDb, withTransaction, type Db, type RootDb } from '../../src/db/index.ts';
import { listPostsChangedBetween } from '../../src/repositories/activity.ts';
import { listLiveCommentIds, markThreadCommentsDeleted, upsertComments, type CommentInput } from '../../src/repositories/comments.ts';
import { advanceCursor } from '../../src/repositories/cursors.ts';
import { catchUpThread } from '../../src/services/catch-up.ts';
import { createTestDb, DIALECTS, rolledBack, type TestDb } from '../support/db.ts';
import { discordMessage } from '../support/messages.ts';
import { snowflakeOf } from '../support/snowflake.ts';

const POSTS = 1000;
const REPLIES = 20_000;
const threadOf = (post: number) => String(1000000000000000000n + BigInt(post));
const NEW_INDEXES = ['comments_edited_post_idx', 'comments_deleted_post_idx'];

interface Ctx {
  t: TestDb;
  dir: string;
  seed: DigestSeed;
  /** A second handle on the same database that records the statements it runs. */
  spy: RootDb;
  statements: Array<{ sql: string; parameters: readonly unknown[] }>;
}

/** Runs `fn` on the spy in a transaction that is rolled back; returns the statements it ran. */
async function statementsOf(c: Ctx, fn: (db: Db) => Promise<unknown>): Promise<Array<{ sql: string; parameters: readonly unknown[] }>> {
  await rolledBack(c.spy, async (tx) => {
    c.statements.length = 0;
    await fn(tx);
  });
  return c.statements.filter((s) => /^\s*(select|update|with)\b/i.test(s.sql));
}

async function planOf(db: RootDb, statement: { sql: string; parameters: readonly unknown[] }): Promise<string> {
  const explain = db.dialect === 'sqlite' ? 'explain query plan' : 'explain';
  const r = await db.kysely.executeQuery<Record<string, string>>(CompiledQuery.raw(`${explain} ${statement.sql}`, [...statement.parameters]));
  return r.rows.map((row) => row.detail ?? row['QUERY PLAN']).join('\n');
}

for (const dialect of DIALECTS) {
  const test = suite<Ctx>(`periodic reads of comments (${dialect})`);

  test.before(async (c) => {
    c.dir = mkdtempSync(join(tmpdir(), 'blogcord-periodic-'));
    c.t = await createTestDb(dialect, dialect === 'sqlite' ? { file: join(c.dir, 'db.sqlite') } : {});
    c.seed = await seedBusyWeek(c.t.db, { posts: POSTS, comments: REPLIES, ratersPerPost: 5 });
    // 5 % of the replies edited an hour after they were written, 2 % deleted (erased) two hours after.
    await editAndDeleteSome(c.t.db);
    if (dialect === 'postgres') await sql`analyze comments, ratings`.execute(c.t.db.kysely);
    c.statements = [];
    c.spy = createDb({ databaseUrl: c.t.url }, { poolSize: 1, onQuery: (q, parameters) => void c.statements.push({ sql: q, parameters }) });
  });

  test.after(async (c) => {
    await c.spy?.destroy();
    await c.t?.close();
    rmSync(c.dir, { recursive: true, force: true });
  });

  test('the posts changed in a window: as a recount of every comment and rating', async (c) => {
    const db = c.t.db;
    const comments = await db.kysely.selectFrom('comments').select(['post_id', 'created_at', 'edited_at', 'deleted_at']).execute();
    const ratings = await db.kysely.selectFrom('ratings').select(['post_id', 'updated_at']).execute();
    const start = Date.parse(c.seed.windowStart);
    // Sweep-sized windows (two minutes) and wider ones, across the week and its first hours (where the ratings are).
    const windows = [
      [start, 120_000],
      [start + 3_600_000, 120_000],
      [start + 3.5 * 86_400_000, 120_000],
      [start + 2 * 86_400_000, 1_800_000],
      [start + 6 * 86_400_000 + 7_000_000, 3_600_000],
    ];
    let changed = 0;
    for (const [from, length] of windows) {
      const since = new Date(from!).toISOString();
      const until = new Date(from! + length!).toISOString();
      const expected = new Map<string, string>();
      const note = (post: string, at: string | null) => {
        if (at !== null && at >= since && at < until && (expected.get(post) ?? '') < at) expected.set(post, at);
      };
      for (const r of comments) for (const at of [r.created_at, r.edited_at, r.deleted_at]) note(r.post_id, at);
      for (const r of ratings) note(r.post_id, r.updated_at);
      const got = await listPostsChangedBetween(db, since, until);
      assert.equal(new Map(got.map((g) => [g.postId, g.at])), expected, `${since} – ${until}`);
      changed += got.length;
    }
    assert.ok(changed > 50, `${changed} posts changed in the windows`);
    // Edits and deletions alone: a window holding no reply's creation and no rating still finds them.
    const createdMinutes = new Set(comments.map((r) => r.created_at.slice(0, 16)));
    const lone = comments.find((r) => r.edited_at && !createdMinutes.has(r.edited_at.slice(0, 16)));
    if (lone) {
      const since = `${lone.edited_at!.slice(0, 16)}:00.000Z`;
      const until = new Date(Date.parse(since) + 60_000).toISOString();
      assert.ok((await listPostsChangedBetween(db, since, until)).some((g) => g.postId === lone.post_id && g.at === lone.edited_at));
    }
  });

  test("the sweep's reads seek indexes (comments by created, edited and deleted time, ratings by update time)", async (c) => {
    const mid = Date.parse(c.seed.windowStart) + 3.5 * 86_400_000;
    const statements = await statementsOf(c, (db) => listPostsChangedBetween(db, new Date(mid).toISOString(), new Date(mid + 120_000).toISOString()));
    assert.is(statements.length, 4);
    const expected = ['ratings_updated_post_idx', 'comments_created_post_idx', 'comments_edited_post_idx', 'comments_deleted_post_idx'];
    for (const [i, s] of statements.entries()) {
      const plan = await planOf(c.t.db, s);
      if (dialect === 'sqlite') {
        assert.not.match(plan, /SCAN (comments|ratings)/, plan);
        assert.match(plan, new RegExp(`SEARCH (comments|ratings) USING COVERING INDEX ${expected[i]}`), plan);
      } else {
        assert.not.match(plan, /Seq Scan/, plan);
        assert.match(plan, new RegExp(`Index (Only )?Scan using ${expected[i]} |Bitmap Index Scan on ${expected[i]} `), plan);
      }
    }
  });

  test("a thread's tombstoning and its live ids seek the post's comments, not every comment", async (c) => {
    const post = 417;
    for (const fn of [
      (db: Db) => markThreadCommentsDeleted(db, `p${post}`, threadOf(post), '2026-12-01T00:00:00.000Z'),
      (db: Db) => listLiveCommentIds(db, `p${post}`, threadOf(post)),
      (db: Db) => listLiveCommentIds(db, `p${post}`, threadOf(post), { afterCreatedAt: c.seed.windowStart }),
    ]) {
      const [statement, ...more] = await statementsOf(c, fn);
      assert.is(more.length, 0);
      const plan = await planOf(c.t.db, statement!);
      if (dialect === 'sqlite') {
        assert.not.match(plan, /SCAN comments/, plan);
        assert.match(plan, /SEARCH comments USING (COVERING )?INDEX comments_post_\w+ \(post_id=\?/, plan);
      } else {
        assert.not.match(plan, /Seq Scan/, plan);
        assert.match(plan, /Index (Only )?Scan using comments_(live_)?post_\w+ on comments|Bitmap Index Scan on comments_(live_)?post_\w+/, plan);
      }
    }
  });

  test("catch-up's reads of a long thread's live ids seek the post's comments from a time (the forward pass and the recheck)", async (c) => {
    const windowEnd = Date.parse(c.seed.windowEnd);
    /**
     * The plans of the reads of catch-up's forward pass (nothing after the cursor) and recheck (the 100 newest) of a
     * thread of 3,000 replies a minute apart up to `end`, with ids of their time (the seed's ids are not).
     */
    const plansOf = async (post: number, end: number): Promise<string[]> => {
      const thread = { postId: `p${post}`, threadId: threadOf(post), messageId: threadOf(post) };
      const replies: CommentInput[] = Array.from({ length: 3000 }, (_, i) => end - (2999 - i) * 60_000).map((ms) => ({
        id: snowflakeOf(ms),
        postId: thread.postId,
        threadId: thread.threadId,
        authorId: '3000000000000000003',
        authorName: 'a long talker',
        content: `reply at ${ms}`,
        replyToId: null,
        attachments: [],
        createdAt: new Date(ms).toISOString(),
        editedAt: null,
      }));
      for (let i = 0; i < replies.length; i += 500) await upsertComments(c.t.db, replies.slice(i, i + 500));
      if (dialect === 'postgres') await sql`analyze comments`.execute(c.t.db.kysely);
      const newest = replies.slice(-100).map((r) => discordMessage(thread.threadId, Date.parse(r.createdAt), { id: r.id }));
      const discord = {
        listMessages: async (_: string, q: { after?: string; limit?: number }) => (q.after ? [] : newest.slice(-(q.limit ?? 50)).reverse()),
      };
      const reads = (
        await statementsOf(c, async (db) => {
          await advanceCursor(db, thread.threadId, thread.postId, replies.at(-1)!.id);
          const r = await catchUpThread({ db, discord }, thread, { now: () => windowEnd + 60_000 });
          assert.is(r.deleted, 0);
        })
      ).filter((s) => /^\s*select\b/i.test(s.sql) && /"created_at" >=/.test(s.sql));
      assert.is(reads.length, 2, 'the forward pass and the recheck each read from a time');
      return Promise.all(reads.map((statement) => planOf(c.t.db, statement)));
    };
    // A thread quiet for three days (most of the 30 days' threads catch-up visits) and the busiest, written until now.
    for (const [post, end, busy] of [
      [500, windowEnd - 3 * 86_400_000, false],
      [501, windowEnd, true],
    ] as const) {
      for (const plan of await plansOf(post, end)) {
        if (dialect === 'sqlite') {
          assert.not.match(plan, /SCAN comments/, plan);
          assert.match(plan, /SEARCH comments USING (COVERING )?INDEX comments_post_time_idx \(post_id=\? AND created_at>\?\)/, plan);
        } else {
          assert.not.match(plan, /Seq Scan/, plan);
          // The busiest thread's range is the server's last hours: PostgreSQL may read them by time instead (post_id
          // is in that index too; which it reads is its estimate's choice).
          const index = busy ? 'comments_(live_post_created|post_created|created_post)_idx' : 'comments_(live_)?post_created_idx';
          assert.match(plan, new RegExp(`Index (Only )?Scan using ${index} on comments|Bitmap Index Scan on ${index}`), plan);
          assert.match(
            plan,
            /Index Cond: \(\((post_id = '\w+'::text\) AND \(created_at >= '[^']+'::text|created_at >= '[^']+'::text\) AND \(post_id = '\w+'::text)\)\)/,
            plan,
          );
        }
      }
    }
  });

  test("a thread's tombstoning and live ids: that thread of that post only", async (c) => {
    const db = c.t.db;
    const post = 733;
    const live = async (p: number, thread: string) =>
      (
        await db.kysely
          .selectFrom('comments')
          .select('id')
          .where('post_id', '=', `p${p}`)
          .where('thread_id', '=', thread)
          .where('deleted_at', 'is', null)
          .orderBy('id')
          .execute()
      ).map((r) => r.id);
    const before = await live(post, threadOf(post));
    assert.ok(before.length > 10);
    // The post before (the one after has every reply deleted by the seed: its ids are all 7 modulo 50).
    const neighbour = await live(post - 1, threadOf(post - 1));
    assert.ok(neighbour.length > 10);
    assert.equal([...(await listLiveCommentIds(db, `p${post}`, threadOf(post)))].sort(), before);
    // Created at or after a time: the newer ones only.
    const all = await db.kysely.selectFrom('comments').select(['id', 'created_at']).where('post_id', '=', `p${post}`).where('deleted_at', 'is', null).execute();
    const cut = all.map((r) => r.created_at).sort()[Math.floor(all.length / 2)]!;
    assert.equal(
      [...(await listLiveCommentIds(db, `p${post}`, threadOf(post), { afterCreatedAt: cut }))].sort(),
      all
        .filter((r) => r.created_at >= cut)
        .map((r) => r.id)
        .sort(),
    );
    // A comment of the same post in an earlier thread of it (a thread made again) stays; a thread with another post's
    // id finds nothing.
    const older: CommentInput = {
      id: '5000000000000000001',
      postId: `p${post}`,
      threadId: '5000000000000000000',
      authorId: '3000000000000000001',
      authorName: 'someone',
      content: 'in the first thread',
      replyToId: null,
      attachments: [],
      createdAt: c.seed.windowStart,
      editedAt: null,
    };
    await upsertComments(db, [older]);
    assert.equal(await listLiveCommentIds(db, `p${post + 1}`, threadOf(post)), []);
    assert.is(await markThreadCommentsDeleted(db, `p${post + 1}`, threadOf(post), '2026-12-01T00:00:00.000Z'), 0);
    assert.is(await markThreadCommentsDeleted(db, `p${post}`, threadOf(post), '2026-12-01T00:00:00.000Z'), before.length);
    assert.equal(await live(post, threadOf(post)), []);
    assert.equal(await listLiveCommentIds(db, `p${post}`, threadOf(post)), []);
    assert.equal(await live(post, older.threadId), [older.id]);
    const tomb = await db.kysely.selectFrom('comments').selectAll().where('id', '=', before[0]!).executeTakeFirstOrThrow();
    assert.equal([tomb.content, tomb.author_id, tomb.deleted_at], ['', '', '2026-12-01T00:00:00.000Z']);
    // The neighbours are untouched.
    assert.equal(await live(post - 1, threadOf(post - 1)), neighbour);
    assert.is(await markThreadCommentsDeleted(db, `p${post}`, threadOf(post), '2026-12-02T00:00:00.000Z'), 0, 'twice: nothing more');
  });

  test("a new reply writes no entry in 023's indexes; an edit and a deletion one each", async (c) => {
    // PostgreSQL: the spy's one connection writes and reads its own statistics (flushed when asked).
    const db = dialect === 'postgres' ? c.spy : c.t.db;
    const entries = async (): Promise<number[]> => {
      if (dialect === 'sqlite') {
        const rows = (
          await sql<{ name: string; n: number }>`select name, sum(ncell) as n from dbstat where name in (${sql.join(NEW_INDEXES)}) group by name`.execute(
            db.kysely,
          )
        ).rows;
        return NEW_INDEXES.map((name) => Number(rows.find((r) => r.name === name)?.n ?? 0));
      }
      // PostgreSQL: the blocks of each index that statements touched (after the statistics are flushed).
      await sql`select pg_stat_force_next_flush()`.execute(db.kysely);
      const rows = (
        await sql<{ name: string; n: number }>`select indexrelname as name, (coalesce(idx_blks_read, 0) + coalesce(idx_blks_hit, 0))::float8 as n
          from pg_statio_user_indexes where schemaname = current_schema() and indexrelname in (${sql.join(NEW_INDEXES)})`.execute(db.kysely)
      ).rows;
      return NEW_INDEXES.map((name) => Number(rows.find((r) => r.name === name)?.n ?? 0));
    };
    const reply = (i: number): CommentInput => ({
      id: String(6000000000000000000n + BigInt(i)),
      postId: `p${1 + (i % POSTS)}`,
      threadId: threadOf(1 + (i % POSTS)),
      authorId: '3000000000000000002',
      authorName: 'a reader',
      content: `new reply ${i}`,
      replyToId: null,
      attachments: [],
      createdAt: new Date(Date.parse(c.seed.windowEnd) + i).toISOString(),
      editedAt: null,
    });
    // One batch first on PostgreSQL (the digest triggers' plans, read once per connection, open the indexes' metapages).
    if (dialect === 'postgres') await upsertComments(db, [reply(0)]);
    const e0 = await entries();
    await upsertComments(
      db,
      Array.from({ length: 200 }, (_, i) => reply(i + 1)),
    );
    assert.equal(await entries(), e0, 'a batch of new replies');
    await upsertComments(db, [{ ...reply(1), content: 'edited', editedAt: new Date(Date.parse(c.seed.windowEnd) + 60_000).toISOString() }]);
    if (dialect === 'postgres') assert.ok((await entries())[0]! > e0[0]!, 'an edit touches the edited index (the count sees writes)');
    else {
      assert.equal(await entries(), [e0[0]! + 1, e0[1]!], 'an edit');
      await withTransaction(db, (tx) =>
        markThreadCommentsDeleted(tx, reply(2).postId, reply(2).threadId, new Date(Date.parse(c.seed.windowEnd) + 120_000).toISOString()),
      );
      const tombstones = await db.kysely
        .selectFrom('comments')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('deleted_at', 'is not', null)
        .executeTakeFirstOrThrow();
      assert.is((await entries())[1], Number(tombstones.n), 'one entry a tombstone');
    }
  });

  test.run();
}
