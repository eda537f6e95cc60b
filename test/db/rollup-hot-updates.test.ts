/**
 * Migration 024 (PostgreSQL): the rollups that every stored reply and vote updates keep their counters out of their
 * indexes, so each update is a HOT update (a new row version on the same page, no new index entry) instead of a new
 * entry in every index of the table. Counted from pg_stat_user_tables after batches written as the bot's writers
 * write them; fails with 012's and 015's INCLUDE columns (no update of these tables was HOT). The digest's reads of
 * these tables are checked against recounts in digest-rollups.test.ts, on the same migrated schema.
 */
import { sql } from 'kysely';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createDb, type RootDb } from '../../src/db/index.ts';
import { upsertComments, type CommentInput } from '../../src/repositories/comments.ts';
import { checkDigestRollups } from '../../src/repositories/digest-rollups.ts';
import { upsertFeed } from '../../src/repositories/feeds.ts';
import { setPublishState, upsertPostFromFeed } from '../../src/repositories/posts.ts';
import { writeRatings, type Rating } from '../../src/repositories/ratings.ts';
import { createTestDb, type TestDb } from '../support/db.ts';

const TABLES = ['digest_post_days', 'digest_post_totals', 'digest_person_days'] as const;
const POSTS = 10;

interface Ctx {
  t: TestDb;
  /** One connection: pg_stat_force_next_flush flushes the statistics of the backend that calls it. */
  one: RootDb;
  posts: string[];
}

const test = suite<Ctx>('rollup updates are HOT (postgres)');

test.before(async (c) => {
  c.t = await createTestDb('postgres');
  c.one = createDb({ databaseUrl: c.t.url }, { poolSize: 1 });
  const { feed } = await upsertFeed(c.t.db, { guildId: '1', url: 'https://blog.example/feed', channelId: '2' });
  c.posts = [];
  for (let i = 0; i < POSTS; i++) {
    const item = { key: `p${i}`, url: `https://blog.example/p/${i}`, title: `Post ${i}`, author: null, publishedAt: '2026-12-01T10:00:00.000Z' };
    const { post } = await upsertPostFromFeed(c.t.db, feed, { ...item, summaryHtml: null, searchText: '', imageUrl: null, contentHash: 'h' }, 'pending');
    await setPublishState(c.t.db, post.id, { state: 'published', channelId: '2', messageId: String(1000 + i), threadId: String(2000 + i) });
    c.posts.push(post.id);
  }
});

test.after(async (c) => {
  await c.one?.destroy();
  await c.t?.close();
});

async function updates(c: Ctx): Promise<Map<string, { all: number; hot: number }>> {
  await sql`select pg_stat_force_next_flush()`.execute(c.one.kysely);
  const { rows } = await sql<{ relname: string; all: string; hot: string }>`
    select relname, n_tup_upd as all, n_tup_hot_upd as hot from pg_stat_user_tables where schemaname = current_schema()`.execute(c.one.kysely);
  return new Map(rows.map((r) => [r.relname, { all: Number(r.all), hot: Number(r.hot) }]));
}

test('20 batches of replies and votes on the same posts, day and people: every rollup update is HOT', async (c) => {
  const before = await updates(c);
  const at = '2026-12-02T12:00:00.000Z';
  for (let b = 0; b < 20; b++) {
    const comments: CommentInput[] = c.posts.map((postId, i) => ({
      id: String(100000 + b * POSTS + i),
      postId,
      threadId: String(2000 + i),
      authorId: String(500 + (b % 3)),
      authorName: 'reader',
      authorAvatar: null,
      content: 'a reply',
      replyToId: null,
      attachments: [],
      createdAt: at,
      editedAt: null,
    }));
    const votes: Rating[] = c.posts.map((postId) => ({ postId, userId: String(700 + b), stars: ((b % 5) + 1) as Rating['stars'], updatedAt: at }));
    await upsertComments(c.one, comments);
    await writeRatings(c.one, votes, []);
  }
  const after = await updates(c);
  for (const table of TABLES) {
    const all = after.get(table)!.all - (before.get(table)?.all ?? 0);
    const hot = after.get(table)!.hot - (before.get(table)?.hot ?? 0);
    // Every batch after the first updates the posts' days and totals (20 rows: replies, then votes) and the
    // repliers' days (3 people, each in every third batch).
    assert.ok(all >= (table === 'digest_person_days' ? 17 : 380), `${table}: ${all} updates`);
    assert.is(hot, all, `${table}: ${hot} of ${all} updates HOT`);
  }
  // And what they hold is still a recount of the rows.
  assert.equal(await checkDigestRollups(c.t.db), []);
});

test.run();
