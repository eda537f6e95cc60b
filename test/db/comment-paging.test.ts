/**
 * Big threads paged in SQL (issue 17), on SQLite and PostgreSQL: a page of a discussion read from SQL (that page's
 * top-level replies by keyset, the replies under them, the names their texts mention) is byte for byte the page cut
 * from the whole tree, for random threads (fast-check): ties in time, ids of different lengths, replies to replies,
 * replies to messages the mirror never saw, tombstones, hidden and anonymous authors, mentions of people who replied
 * elsewhere in the thread, both orders, every page through the cursors. Plus the query plans use the indexes.
 */
import fc from 'fast-check';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { sql } from 'kysely';
import { withTransaction } from '../../src/db/index.ts';
import { listComments, markCommentsDeleted, upsertComments, type CommentInput } from '../../src/repositories/comments.ts';
import { setFeedWeb } from '../../src/repositories/feeds.ts';
import { getPost, type Post } from '../../src/repositories/posts.ts';
import { buildCommentTree } from '../../src/services/blog.ts';
import { pageComments, pageWebComments, type DiscussionOrder, type PageRequest } from '../../src/services/discussion.ts';
import { chooseAppearance, presentForWeb } from '../../src/services/privacy.ts';
import { createTestDb, DIALECTS, type TestDb } from '../support/db.ts';
import { publishedPost } from '../support/fixtures.ts';
import { snowflake } from '../support/snowflake.ts';

/** One generated reply: when (a few instants, so times tie), how its id is written, whom it answers, by whom. */
interface Spec {
  at: number;
  shortId: boolean;
  /** null: top-level; 'orphan': a message the mirror never saw; 'forward': a later reply (a loop is possible); n: the n-th earlier reply. */
  parent: null | 'orphan' | 'forward' | number;
  author: number;
  mentions: number[];
  deleted: boolean;
}

const spec = fc.record({
  at: fc.integer({ min: 0, max: 6 }),
  shortId: fc.boolean(),
  parent: fc.oneof(
    { weight: 4, arbitrary: fc.constant(null) },
    { weight: 4, arbitrary: fc.nat({ max: 60 }) },
    { weight: 1, arbitrary: fc.constant('orphan' as const) },
    { weight: 1, arbitrary: fc.constant('forward' as const) },
  ),
  author: fc.nat({ max: 4 }),
  mentions: fc.array(fc.nat({ max: 5 }), { maxLength: 2 }),
  deleted: fc.nat({ max: 9 }).map((n) => n < 2),
}) as fc.Arbitrary<Spec>;

interface ThreadGen {
  replies: Spec[];
  choices: Array<'named' | 'anonymous' | 'hidden'>;
  limit: number;
  forward: boolean;
}

const thread: fc.Arbitrary<ThreadGen> = fc.record({
  replies: fc.array(spec, { maxLength: 45 }),
  /** The pool's appearances: index → show choice (named when absent). */
  choices: fc.array(fc.constantFrom('named', 'anonymous', 'hidden') as fc.Arbitrary<'named' | 'anonymous' | 'hidden'>, { minLength: 5, maxLength: 5 }),
  limit: fc.integer({ min: 1, max: 7 }),
  /** Allow the forward replies (a thread read whole) in this run. */
  forward: fc.nat({ max: 9 }).map((n) => n < 2),
});

let shortSeq = 10_000_000_000_000_000n;
/** A unique id of 17 digits (older snowflakes are shorter): the length, then the text orders ids. */
const shortId = () => String((shortSeq += 7n));

/** Stores a generated thread under a new web post; returns the post. */
async function storeThread(t: TestDb, gen: ThreadGen): Promise<Post> {
  const { postId, threadId } = await publishedPost(t.db);
  const post = (await getPost(t.db, postId))!;
  await setFeedWeb(t.db, post.feedId, true);
  const people = Array.from({ length: 6 }, () => snowflake());
  for (const [i, show] of gen.choices.entries()) if (show !== 'named') await chooseAppearance(t.db, post.guildId, people[i]!, show);
  const base = Date.parse('2026-11-20T10:00:00Z');
  const ids = gen.replies.map((r) => (r.shortId ? shortId() : snowflake(base + r.at * 1000)));
  const rows: CommentInput[] = gen.replies.map((r, i) => {
    let replyToId: string | null = null;
    if (r.parent === 'orphan') replyToId = snowflake(base - 86_400_000);
    else if (r.parent === 'forward') replyToId = gen.forward ? (ids[(i + 1) % ids.length] ?? null) : null;
    else if (typeof r.parent === 'number' && i > 0) replyToId = ids[r.parent % i]!;
    return {
      id: ids[i]!,
      postId,
      threadId,
      authorId: people[r.author]!,
      // A person's name changes over the thread: the last reply's name is the one mentions show.
      authorName: `Person ${r.author} (${i})`,
      authorAvatar: i % 3 === 0 ? `u:${'a'.repeat(32)}` : null,
      content: `Reply ${i} **bold** ${r.mentions.map((m) => `<@${people[m]!}>`).join(' ')} <@!${people[r.author]!}>`,
      replyToId,
      attachments: i % 4 === 0 ? [{ url: `https://cdn.example/${i}.png`, name: `${i}.png`, contentType: 'image/png' }] : [],
      createdAt: new Date(base + r.at * 1000).toISOString(),
      editedAt: null,
    };
  });
  if (rows.length) await upsertComments(t.db, rows);
  const deleted = gen.replies.flatMap((r, i) => (r.deleted ? [ids[i]!] : []));
  if (deleted.length) await markCommentsDeleted(t.db, deleted, new Date(base + 60_000).toISOString());
  return post;
}

/** Today's answer: the whole thread read, built and paged in memory. */
async function wholePage(t: TestDb, post: Post, req: PageRequest) {
  return pageComments(buildCommentTree(await presentForWeb(t.db, post, await listComments(t.db, post.id))), req);
}

for (const dialect of DIALECTS) {
  const test = suite<{ t: TestDb }>(`big threads paged in SQL (${dialect})`);
  test.before(async (ctx) => {
    ctx.t = await createTestDb(dialect);
  });
  test.after(async (ctx) => {
    await ctx.t?.close();
  });

  test('every page read from SQL is the page cut from the whole thread (random threads, both orders, all cursors)', async ({ t }) => {
    let pagesCompared = 0;
    await fc.assert(
      fc.asyncProperty(thread, async (gen) => {
        const post = await storeThread(t, gen);
        for (const order of ['oldest', 'newest'] as DiscussionOrder[]) {
          let cursor: string | undefined;
          for (let n = 0; n < 100; n++) {
            const req: PageRequest = { order, limit: gen.limit, cursor };
            const whole = await wholePage(t, post, req);
            const paged = await pageWebComments(t.db, post, req);
            assert.is(JSON.stringify(paged), JSON.stringify(whole), `${order} page ${n}`);
            pagesCompared += 1;
            if (!whole.page.next) break;
            cursor = whole.page.next;
          }
        }
      }),
      { numRuns: 40 },
    );
    assert.ok(pagesCompared >= 80, `${pagesCompared} pages compared`);
  });

  test('a cursor of a reply deleted since, of the other order, or not ours: as the whole read', async ({ t }) => {
    const post = await storeThread(t, {
      replies: Array.from({ length: 12 }, (_, i) => ({
        at: i % 4,
        shortId: i % 5 === 0,
        parent: i % 3 === 2 ? i - 1 : null,
        author: i % 5,
        mentions: [i % 6],
        deleted: false,
      })),
      choices: ['named', 'named', 'anonymous', 'hidden', 'named'],
      limit: 3,
      forward: false,
    });
    const first = await pageWebComments(t.db, post, { order: 'newest', limit: 3 });
    assert.equal(JSON.stringify(first), JSON.stringify(await wholePage(t, post, { order: 'newest', limit: 3 })));
    assert.ok(first.page.next);
    // The last root shown is deleted (a tombstone stays a root) and then erased from the thread: the keyset still works.
    await markCommentsDeleted(t.db, [first.comments.at(-1)!.id], new Date().toISOString());
    await sql`delete from comments where id = ${first.comments.at(-1)!.id}`.execute(t.db.kysely);
    const req = { order: 'newest' as const, limit: 3, cursor: first.page.next! };
    assert.equal(JSON.stringify(await pageWebComments(t.db, post, req)), JSON.stringify(await wholePage(t, post, req)));
    for (const bad of [
      { order: 'oldest' as const, limit: 3, cursor: first.page.next! },
      { order: 'oldest' as const, limit: 3, cursor: 'bm90LWpzb24' },
    ]) {
      const paged = await pageWebComments(t.db, post, bad).then(
        () => 'no error',
        (e: Error) => `${e.name}: ${e.message}`,
      );
      const whole = await wholePage(t, post, bad).then(
        () => 'no error',
        (e: Error) => `${e.name}: ${e.message}`,
      );
      assert.is(paged, whole);
      assert.is.not(paged, 'no error');
    }
  });

  test('the page queries use the indexes (no scan of the comments table)', async ({ t }) => {
    const { postId } = await publishedPost(t.db);
    // The statements of src/repositories/comments.ts (roots in order, their count, the forward check, the subtrees).
    const rootsOf = sql`comments c left join comments q on q.id = c.reply_to_id and q.post_id = c.post_id where c.post_id = ${postId} and q.id is null`;
    const roots = sql`select c.id from ${rootsOf} order by c.created_at, length(c.id), c.id limit 51`;
    const count = sql`select count(*) as n from ${rootsOf}`;
    const forward = sql`select 1 as one from comments c join comments q on q.id = c.reply_to_id and q.post_id = c.post_id where c.post_id = ${postId} and (length(q.id) > length(c.id) or (length(q.id) = length(c.id) and q.id >= c.id)) limit 1`;
    const tree = sql`with recursive tree(id) as (select id from comments where post_id = ${postId} and id in ('1', '2') union select c.id from tree t cross join comments c where c.post_id = ${postId} and c.reply_to_id = t.id) select c.* from tree t cross join comments c where c.id = t.id order by c.created_at, c.id`;
    for (const q of [roots, count, forward, tree]) {
      if (dialect === 'sqlite') {
        const plan = (await sql<{ detail: string }>`explain query plan ${q}`.execute(t.db.kysely)).rows.map((r) => r.detail).join('\n');
        // Only the recursive query's own work table is scanned.
        assert.not.match(plan.replace(/SCAN t\b/g, ''), /SCAN /, plan);
        assert.match(plan, /USING (COVERING )?INDEX|USING INTEGER PRIMARY KEY|PRIMARY KEY/, plan);
      } else {
        // A test table is tiny: PostgreSQL would rightly scan it; forbid that to see which index the query can use.
        const plan = await withTransaction(t.db, async (tx) => {
          await sql`set local enable_seqscan = off`.execute(tx.kysely);
          return (await sql<{ 'QUERY PLAN': string }>`explain ${q}`.execute(tx.kysely)).rows.map((r) => r['QUERY PLAN']).join('\n');
        });
        assert.not.match(plan, /Seq Scan on comments/, plan);
        assert.match(plan, /comments_post_reply_idx|comments_post_time_idx|comments_post_created_idx/, plan);
      }
    }
  });

  test.run();
}
