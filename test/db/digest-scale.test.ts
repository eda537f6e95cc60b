// Migration 004: comments and ratings carry their post's server (guild_id), written by every repository path
// and backfilled for rows that existed before; the digest's server-scoped queries rely on it.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileMigrationProvider, Migrator, sql } from 'kysely';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Db } from '../../src/db/index.ts';
import { upsertComments, type CommentInput } from '../../src/repositories/comments.ts';
import { countParticipants } from '../../src/repositories/digest-window.ts';
import { upsertFeed } from '../../src/repositories/feeds.ts';
import { upsertPostFromFeed } from '../../src/repositories/posts.ts';
import { guildMeanRating, setRatingIfUnchanged } from '../../src/repositories/ratings.ts';
import { setRating } from '../support/ratings.ts';
import { rejects } from '../support/assert.ts';
import { createTestDb, DIALECTS, type TestDb } from '../support/db.ts';
import { snowflake } from '../support/snowflake.ts';

const migrationFolder = fileURLToPath(new URL('../../migrations', import.meta.url));

async function aPost(db: Db, guildId: string, state: 'pending' | 'known' = 'pending'): Promise<string> {
  const { feed } = await upsertFeed(db, { guildId, url: `https://blog.example/feed-${snowflake()}`, channelId: snowflake() });
  const key = snowflake();
  const { post } = await upsertPostFromFeed(
    db,
    feed,
    {
      key,
      url: `https://blog.example/${key}`,
      title: `Post ${key}`,
      author: null,
      publishedAt: '2026-11-17T10:00:00.000Z',
      summaryHtml: null,
      searchText: '',
      imageUrl: null,
      contentHash: key,
    },
    state,
  );
  return post.id;
}

const comment = (postId: string, over: Partial<CommentInput> = {}): CommentInput => ({
  id: snowflake(),
  postId,
  threadId: snowflake(),
  authorId: snowflake(),
  authorName: 'someone',
  content: 'hello',
  replyToId: null,
  attachments: [],
  createdAt: '2026-11-17T12:00:00.000Z',
  editedAt: null,
  ...over,
});

async function guildOf(db: Db, table: 'comments' | 'ratings', postId: string): Promise<Array<string | null>> {
  const rows = await db.kysely.selectFrom(table).select('guild_id').where('post_id', '=', postId).execute();
  return rows.map((r) => r.guild_id);
}

for (const dialect of DIALECTS) {
  const test = suite<{ t: TestDb }>(`guild_id on comments and ratings (${dialect})`, { t: undefined as never });
  test.before(async (ctx) => {
    ctx.t = await createTestDb(dialect);
  });
  test.after(async (ctx) => {
    await ctx.t?.close();
  });

  test('every write path stores the post’s server: upsertComments (insert and update), setRating, setRatingIfUnchanged', async ({ t }) => {
    const guildA = snowflake();
    const guildB = snowflake();
    const a = await aPost(t.db, guildA);
    const b = await aPost(t.db, guildB);
    const c1 = comment(a);
    await upsertComments(t.db, [c1, comment(b), comment(a)]);
    await upsertComments(t.db, [{ ...c1, content: 'edited', editedAt: '2026-11-17T13:00:00.000Z' }]);
    assert.equal(await guildOf(t.db, 'comments', a), [guildA, guildA]);
    assert.equal(await guildOf(t.db, 'comments', b), [guildB]);

    await setRating(t.db, a, snowflake(), 4, '2026-11-17T12:00:00.000Z');
    const u = snowflake();
    await setRating(t.db, b, u, 2, '2026-11-17T12:00:00.000Z');
    await setRating(t.db, b, u, 5, '2026-11-17T12:30:00.000Z');
    assert.ok(await setRatingIfUnchanged(t.db, a, snowflake(), 3, '2026-11-17T14:00:00.000Z', null));
    assert.ok(await setRatingIfUnchanged(t.db, b, u, 1, '2026-11-17T15:00:00.000Z', { stars: 5, updatedAt: '2026-11-17T12:30:00.000Z' }));
    assert.equal(await guildOf(t.db, 'ratings', a), [guildA, guildA]);
    assert.equal(await guildOf(t.db, 'ratings', b), [guildB]);
    // The server-scoped prior mean reads the column: 4 and 3 on A, the latest 1 on B.
    assert.is(await guildMeanRating(t.db, guildA, '2026-11-01T00:00:00.000Z'), 3.5);
    assert.is(await guildMeanRating(t.db, guildB, '2026-11-01T00:00:00.000Z'), 1);
  });

  test('a comment or rating of an unknown post is refused and writes nothing', async ({ t }) => {
    const ghost = `missing-${snowflake()}`;
    await rejects(() => upsertComments(t.db, [comment(ghost)]), /foreign key|FOREIGN KEY/i);
    await rejects(() => setRating(t.db, ghost, snowflake(), 3, '2026-11-17T12:00:00.000Z'), /foreign key|FOREIGN KEY/i);
    assert.equal(await guildOf(t.db, 'comments', ghost), []);
    assert.equal(await guildOf(t.db, 'ratings', ghost), []);
  });

  test('participants: commenters ∪ raters of the window, once each, on announced posts of the server only', async ({ t }) => {
    const g = snowflake();
    const live = await aPost(t.db, g);
    const known = await aPost(t.db, g, 'known');
    const other = await aPost(t.db, snowflake());
    await t.db.kysely.updateTable('posts').set({ publish_state: 'published' }).where('id', 'in', [live, other]).execute();
    const [p1, p2, p3, p4, p5] = [snowflake(), snowflake(), snowflake(), snowflake(), snowflake()];
    await upsertComments(t.db, [
      comment(live, { authorId: p1 }),
      comment(live, { authorId: p1 }),
      comment(live, { authorId: p2, createdAt: '2026-11-10T00:00:00.000Z' }), // before the window
      comment(known, { authorId: p3 }), // a post that was never announced
      comment(other, { authorId: p4 }), // another server
    ]);
    await setRating(t.db, live, p1, 5, '2026-11-18T00:00:00.000Z'); // also a commenter: counted once
    await setRating(t.db, live, p5, 4, '2026-11-18T00:00:00.000Z');
    await setRating(t.db, known, p3, 4, '2026-11-18T00:00:00.000Z');
    const w = { guildId: g, start: '2026-11-16T00:00:00.000Z', end: '2026-11-23T00:00:00.000Z' };
    assert.is(await countParticipants(t.db, w), 2);
    await t.db.kysely.updateTable('comments').set({ deleted_at: '2026-11-19T00:00:00.000Z' }).where('author_id', '=', p1).execute();
    assert.is(await countParticipants(t.db, w), 2, 'p1 still rated');
    await t.db.kysely.deleteFrom('ratings').where('user_id', '=', p1).execute();
    assert.is(await countParticipants(t.db, w), 1);
    assert.is(await countParticipants(t.db, { ...w, guildId: snowflake() }), 0);
  });

  test('migration 004 backfills the server of rows written before it, and down removes the column', async () => {
    const t2 = await createTestDb(dialect, { migrate: false });
    try {
      const schema = dialect === 'postgres' ? (await sql<{ s: string }>`select current_schema() as s`.execute(t2.db.kysely)).rows[0]!.s : undefined;
      const migrator = new Migrator({
        db: t2.db.kysely,
        provider: new FileMigrationProvider({ fs, path, migrationFolder }),
        ...(schema ? { migrationTableSchema: schema } : {}),
      });
      // The post is written by today's repository (at today's schema), then the schema goes back to 003.
      assert.not.ok((await migrator.migrateToLatest()).error);
      const g = snowflake();
      const post = await aPost(t2.db, g);
      const r = await migrator.migrateTo('2026-11-29_003_digest_indexes');
      assert.not.ok(r.error);
      const k = t2.db.kysely as unknown as import('kysely').Kysely<any>;
      await k
        .insertInto('comments')
        .values({
          id: snowflake(),
          post_id: post,
          thread_id: snowflake(),
          author_id: snowflake(),
          author_name: 'x',
          content: 'old',
          attachments: '[]',
          created_at: '2026-11-17T00:00:00.000Z',
        })
        .execute();
      await k.insertInto('ratings').values({ post_id: post, user_id: snowflake(), stars: 4, updated_at: '2026-11-17T00:00:00.000Z' }).execute();
      const up = await migrator.migrateTo('2026-11-29_004_guild_on_comments_ratings');
      assert.not.ok(up.error);
      assert.equal(await guildOf(t2.db, 'comments', post), [g]);
      assert.equal(await guildOf(t2.db, 'ratings', post), [g]);
      const down = await migrator.migrateTo('2026-11-29_003_digest_indexes');
      assert.not.ok(down.error);
      await rejects(() => sql`select guild_id from comments`.execute(k), /guild_id/);
      assert.is((await k.selectFrom('comments').select('content').execute()).length, 1, 'down keeps the rows');
    } finally {
      await t2.close();
    }
  });

  test.run();
}
