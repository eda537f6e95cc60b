// Member privacy (issue 16), on SQLite and PostgreSQL: how a member appears on the web (named, anonymous,
// hidden), /privacy status's counts, /privacy forget (erasure, the forgotten list as keyed hashes, reactions),
// and forgotten members kept out of live rating events and recounts. No Discord, no Redis.
import { KEYCAP_OF, type Stars } from '../../src/domain/rating.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { FileMigrationProvider, Migrator, sql } from 'kysely';
import { pino } from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { APIUser } from 'discord-api-types/v10';
import privacyCommand from '../../commands/privacy.ts';
import { UserError } from '../../src/errors.ts';
import { upsertComments, type Comment } from '../../src/repositories/comments.ts';
import { catchUpThread } from '../../src/services/catch-up.ts';
import { applyOps } from '../../src/services/comment-writer.ts';
import { upsertFeed } from '../../src/repositories/feeds.ts';
import { getPost, setPublishState, upsertPostFromFeed, type Post } from '../../src/repositories/posts.ts';
import { getPrivacySecret } from '../../src/repositories/privacy.ts';
import { listRatings } from '../../src/repositories/ratings.ts';
import { setRating } from '../support/ratings.ts';
import { buildCommentTree, getPostView, type CommentNode } from '../../src/services/blog.ts';
import { DiscordRequestError, type DiscordPort } from '../../src/services/discord-port.ts';
import { exportData } from '../../src/services/export.ts';
import {
  ANONYMOUS_NAME,
  chooseAppearance,
  forgetMember,
  forgottenRaters,
  memberHash,
  presentForWeb,
  privacyStatus,
  pseudonymOf,
  type Appearance,
} from '../../src/services/privacy.ts';
import { AnnouncementIndex } from '../../src/services/announcement-index.ts';
import { ReactionProcessor } from '../../src/services/reaction-processor.ts';
import { recountPost } from '../../src/services/recount.ts';
import { runBlogcord } from '../support/bot.ts';
import { createTestDb, DIALECTS, type TestDb } from '../support/db.ts';
import { rejects } from '../support/assert.ts';
import { commentInput, discordMessage } from '../support/messages.ts';
import { snowflake } from '../support/snowflake.ts';

const log = pino({ level: 'silent' });
const migrationFolder = fileURLToPath(new URL('../../migrations', import.meta.url));
const BOT_ID = snowflake();

/** Reactor lists from memory; reaction removals recorded (refused with 50013 when `canManage` is false). */
class FakeDiscord implements DiscordPort {
  reactions = new Map<string, Map<string, APIUser[]>>();
  removals: Array<{ messageId: string; emoji: string; userId: string }> = [];
  canManage = true;
  react(messageId: string, emoji: string, userId: string): void {
    let m = this.reactions.get(messageId);
    if (!m) this.reactions.set(messageId, (m = new Map()));
    const list = m.get(emoji) ?? [];
    if (!list.some((u) => u.id === userId)) list.push({ id: userId, username: `u${userId}`, discriminator: '0', global_name: null, avatar: null } as APIUser);
    m.set(emoji, list);
  }
  async botUserId() {
    return BOT_ID;
  }
  async listReactors(_c: string, messageId: string, emoji: string, query: { after?: string; limit?: number }): Promise<APIUser[]> {
    const all = [...(this.reactions.get(messageId)?.get(emoji) ?? [])].sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1));
    return all.filter((u) => !query.after || BigInt(u.id) > BigInt(query.after)).slice(0, query.limit ?? 100);
  }
  async removeUserReaction(_c: string, messageId: string, emoji: string, userId: string): Promise<void> {
    if (!this.canManage) throw new DiscordRequestError('Missing Permissions', 50013, 403);
    this.removals.push({ messageId, emoji, userId });
    const list = this.reactions.get(messageId)?.get(emoji);
    if (list)
      this.reactions.get(messageId)!.set(
        emoji,
        list.filter((u) => u.id !== userId),
      );
  }
  getChannel = unused;
  createMessage = unused;
  editMessage = unused;
  getMessage = unused;
  listMessages = unused;
  startThread = unused;
  createForumPost = unused;
  editThread = unused;
  addReaction = unused;
  // Webhooks (per-feed identity) are not part of these tests: any use is a test bug, said loudly.
  async createWebhook(): Promise<never> {
    throw new Error('FakeDiscord: webhooks are not part of this test');
  }
  async executeWebhook(): Promise<never> {
    throw new Error('FakeDiscord: webhooks are not part of this test');
  }
  async editWebhookMessage(): Promise<never> {
    throw new Error('FakeDiscord: webhooks are not part of this test');
  }
}
async function unused(): Promise<never> {
  throw new Error('not used here');
}

async function announcedPost(t: TestDb, guildId: string): Promise<Post> {
  const { feed } = await upsertFeed(t.db, { guildId, url: `https://blog.example/feed-${snowflake()}`, channelId: snowflake() });
  const key = `p-${snowflake()}`;
  const { post } = await upsertPostFromFeed(
    t.db,
    feed,
    {
      key,
      url: `https://blog.example/${key}`,
      title: `Post ${key}`,
      author: null,
      publishedAt: new Date().toISOString(),
      summaryHtml: null,
      searchText: key,
      imageUrl: null,
      contentHash: key,
    },
    'pending',
  );
  const messageId = snowflake();
  await setPublishState(t.db, post.id, { state: 'published', channelId: feed.channelId, messageId, threadId: messageId });
  return (await getPost(t.db, post.id))!;
}

let clock = Date.parse('2026-12-01T10:00:00Z');
/** A reply by `authorId` in the post's thread (to `replyTo`), stored as the mirror stores it. */
async function reply(
  t: TestDb,
  post: Post,
  authorId: string,
  name: string,
  content: string,
  replyTo: string | null = null,
  attachments: Comment['attachments'] = [],
): Promise<string> {
  clock += 60_000;
  const comment = commentInput({ postId: post.id, threadId: post.threadId! }, clock, { authorId, authorName: name, content, replyToId: replyTo, attachments });
  await upsertComments(t.db, [comment]);
  return comment.id;
}

/** Every node of a tree, depth first. */
function flatten(nodes: readonly CommentNode[]): CommentNode[] {
  return nodes.flatMap((n) => [n, ...flatten(n.replies)]);
}
const find = (nodes: readonly CommentNode[], id: string) => flatten(nodes).find((n) => n.id === id)!;

for (const dialect of DIALECTS) {
  const test = suite<{ t: TestDb }>(`privacy (${dialect})`);
  test.before(async (ctx) => {
    ctx.t = await createTestDb(dialect);
  });
  test.after(async (ctx) => {
    await ctx.t.close();
  });

  test('GIVEN migration 008 THEN a secret exists, stays the same, and a lost one is generated again', async ({ t }) => {
    const a = await getPrivacySecret(t.db);
    assert.ok(a.length >= 40);
    assert.is(await getPrivacySecret(t.db), a);
    await t.db.kysely.deleteFrom('privacy_secrets').execute();
    const b = await getPrivacySecret(t.db);
    assert.ok(b.length >= 40 && b !== a);
    assert.is(await getPrivacySecret(t.db), b);
  });

  test('migration 008: up creates the tables and a secret; down removes them; up again makes a new secret', async () => {
    const t2 = await createTestDb(dialect, { migrate: false });
    try {
      const schema = dialect === 'postgres' ? (await sql<{ s: string }>`select current_schema() as s`.execute(t2.db.kysely)).rows[0]!.s : undefined;
      const migrator = new Migrator({
        db: t2.db.kysely,
        provider: new FileMigrationProvider({ fs, path, migrationFolder }),
        ...(schema ? { migrationTableSchema: schema } : {}),
      });
      assert.not.ok((await migrator.migrateTo('2026-12-03_008_member_privacy')).error);
      const first = await getPrivacySecret(t2.db);
      await chooseAppearance(t2.db, snowflake(), snowflake(), 'hidden');
      assert.not.ok((await migrator.migrateTo('2026-12-03_007_web_consent')).error, 'down');
      await rejects(() => t2.db.kysely.selectFrom('member_privacy').selectAll().execute());
      await rejects(() => t2.db.kysely.selectFrom('privacy_secrets').selectAll().execute());
      assert.not.ok((await migrator.migrateTo('2026-12-03_008_member_privacy')).error, 'and up again');
      const again = await getPrivacySecret(t2.db);
      assert.ok(again.length >= 40 && again !== first);
      assert.equal(await t2.db.kysely.selectFrom('member_privacy').selectAll().execute(), []);
    } finally {
      await t2.close();
    }
  });

  test('GIVEN no choice THEN named; a choice is per server and survives being read back', async ({ t }) => {
    const [g1, g2, alice] = [snowflake(), snowflake(), snowflake()];
    assert.is((await privacyStatus(t.db, g1, alice)).appearance, 'named');
    await chooseAppearance(t.db, g1, alice, 'hidden');
    assert.is((await privacyStatus(t.db, g1, alice)).appearance, 'hidden');
    assert.is((await privacyStatus(t.db, g2, alice)).appearance, 'named', 'another server is not affected');
    await chooseAppearance(t.db, g1, alice, 'anonymous');
    assert.is((await privacyStatus(t.db, g1, alice)).appearance, 'anonymous', 'the latest choice wins');
    try {
      await chooseAppearance(t.db, g1, alice, 'invisible' as Appearance);
      assert.unreachable('a bad choice is refused');
    } catch (err) {
      assert.match(String(err), /unknown appearance/);
    }
    assert.is((await privacyStatus(t.db, g1, alice)).appearance, 'anonymous', 'nothing changed on a refused choice');
  });

  test('GIVEN anonymous and hidden members THEN the web view changes at once; children of a hidden reply keep their parent', async ({ t }) => {
    const guild = snowflake();
    const [alice, bob, carol] = [snowflake(), snowflake(), snowflake()];
    const post = await announcedPost(t, guild);
    const other = await announcedPost(t, guild);
    const a1 = await reply(t, post, alice, 'Alice A', 'first from alice');
    const b1 = await reply(t, post, bob, 'Bob B', `bob answers <@${alice}>`, a1, [
      { url: 'https://cdn.example/b.png', name: 'b.png', contentType: 'image/png' },
    ]);
    const c1 = await reply(t, post, carol, 'Carol C', `carol answers <@${bob}>`, b1);
    const a2 = await reply(t, post, alice, 'Alice A', 'second from alice', c1);
    const ao = await reply(t, other, alice, 'Alice A', 'alice elsewhere');

    let view = (await getPostView(t.db, post.id))!;
    assert.equal((find(view.comments, a1) as { author: string }).author, 'Alice A', 'named by default');

    await chooseAppearance(t.db, guild, alice, 'anonymous');
    await chooseAppearance(t.db, guild, bob, 'hidden');
    view = (await getPostView(t.db, post.id))!;
    const json = JSON.stringify(view);
    for (const leak of ['Alice A', 'Bob B', alice, bob, 'bob answers', 'b.png']) assert.not.ok(json.includes(leak), `the web view holds no "${leak}"`);
    type Shown = { author: string; anonymous?: true; pseudonym?: string };
    const na1 = find(view.comments, a1) as Shown;
    const na2 = find(view.comments, a2) as Shown;
    assert.is(na1.author, ANONYMOUS_NAME);
    assert.is(na1.anonymous, true);
    assert.is(na1.pseudonym, na2.pseudonym, 'the same pseudonym within one post');
    const nb1 = find(view.comments, b1);
    assert.equal(
      { ...nb1, replies: [] },
      { id: b1, deleted: true, hidden: true, createdAt: nb1.createdAt, replies: [] },
      'a hidden reply keeps only its place',
    );
    assert.equal(
      nb1.replies.map((n) => n.id),
      [c1],
      'carol’s reply still hangs under the hidden one',
    );
    assert.is((find(view.comments, c1) as { content: string }).content, 'carol answers @someone', 'a mention of a hidden member shows no name');
    assert.is(view.replies, 4, 'the reply count is unchanged');

    const otherView = (await getPostView(t.db, other.id))!;
    const nao = find(otherView.comments, ao) as { author: string; pseudonym?: string };
    assert.is(nao.author, ANONYMOUS_NAME);
    assert.is.not(nao.pseudonym, na1.pseudonym, 'nothing links one post’s pseudonym to another’s');

    await chooseAppearance(t.db, guild, bob, 'named');
    view = (await getPostView(t.db, post.id))!;
    assert.is((find(view.comments, b1) as { author: string }).author, 'Bob B', 'back to named at once');
  });

  test('GIVEN a choice in one server THEN another server’s web view is untouched', async ({ t }) => {
    const [g1, g2, alice] = [snowflake(), snowflake(), snowflake()];
    const p2 = await announcedPost(t, g2);
    const id = await reply(t, p2, alice, 'Alice A', 'hello');
    await chooseAppearance(t.db, g1, alice, 'hidden');
    const view = (await getPostView(t.db, p2.id))!;
    assert.is((find(view.comments, id) as { author: string }).author, 'Alice A');
  });

  test('GIVEN /privacy forget THEN text, name, attachments and ratings are gone, the tree holds, the id is kept only as a keyed hash', async ({ t }) => {
    const [guild, otherGuild] = [snowflake(), snowflake()];
    const [alice, bob] = [snowflake(), snowflake()];
    const p1 = await announcedPost(t, guild);
    const p2 = await announcedPost(t, guild);
    const po = await announcedPost(t, otherGuild);
    const a1 = await reply(t, p1, alice, 'Alice A', 'alice secret text', null, [{ url: 'https://cdn.example/a.png', name: 'a.png', contentType: 'image/png' }]);
    const b1 = await reply(t, p1, bob, 'Bob B', 'bob replies', a1);
    const ao = await reply(t, po, alice, 'Alice A', 'alice in another server');
    await setRating(t.db, p1.id, alice, 4, new Date().toISOString());
    await setRating(t.db, p2.id, alice, 2, new Date().toISOString());
    await setRating(t.db, p1.id, bob, 5, new Date().toISOString());
    await setRating(t.db, po.id, alice, 3, new Date().toISOString());
    await chooseAppearance(t.db, guild, alice, 'hidden');

    const before = await privacyStatus(t.db, guild, alice);
    assert.equal(
      { comments: before.comments, attachments: before.attachments, ratings: before.ratings, forgotten: before.forgotten },
      { comments: 1, attachments: 1, ratings: 2, forgotten: false },
    );

    const discord = new FakeDiscord();
    discord.react(p1.messageId!, KEYCAP_OF[4], alice);
    discord.react(p2.messageId!, KEYCAP_OF[2], alice);
    const changed: string[] = [];
    const r = await forgetMember({ db: t.db, discord, log }, guild, alice, { changed: (id) => void changed.push(id) });
    assert.equal({ ...r }, { comments: 1, attachments: 1, tombstones: 0, ratings: 2, reactionsRemoved: 2, reactionsLeft: 0 });
    assert.equal(discord.removals.map((x) => x.emoji).sort(), [KEYCAP_OF[2], KEYCAP_OF[4]]);
    assert.equal(changed.sort(), [p1.id, p2.id].sort());

    const after = await privacyStatus(t.db, guild, alice);
    assert.equal(
      { comments: after.comments, attachments: after.attachments, ratings: after.ratings, forgotten: after.forgotten },
      { comments: 0, attachments: 0, ratings: 0, forgotten: true },
    );
    assert.is(after.appearance, 'hidden', 'the choice stays (it applies to what they post later)');

    const exported = JSON.stringify((await exportData(t.db, { guildId: guild })).posts);
    for (const leak of ['alice secret text', 'Alice A', 'a.png', alice]) assert.not.ok(exported.includes(leak), `the export holds no "${leak}"`);
    assert.ok(exported.includes('bob replies'), 'other members are untouched');
    assert.equal(
      (await listRatings(t.db, p1.id)).map((x) => x.userId),
      [bob],
    );

    const view = (await getPostView(t.db, p1.id))!;
    assert.is(find(view.comments, a1).deleted, true, 'a tombstone');
    assert.equal(
      find(view.comments, a1).replies.map((n) => n.id),
      [b1],
      'bob’s reply keeps its parent',
    );

    const rows = await t.db.kysely.selectFrom('forgotten_members').selectAll().where('guild_id', '=', guild).execute();
    assert.is(rows.length, 1);
    assert.is.not(rows[0]!.user_hash, alice);
    assert.ok(!rows[0]!.user_hash.includes(alice));
    assert.is(rows[0]!.user_hash, memberHash(await getPrivacySecret(t.db), guild, alice));

    const otherExport = JSON.stringify((await exportData(t.db, { guildId: otherGuild })).posts);
    assert.ok(otherExport.includes('alice in another server'), 'another server is untouched');
    assert.equal(
      (await listRatings(t.db, po.id)).map((x) => x.stars),
      [3],
    );
    assert.ok(ao);
  });

  test('GIVEN no Manage Messages THEN forget still erases; the reactions left are counted and never count again', async ({ t }) => {
    const guild = snowflake();
    const alice = snowflake();
    const bob = snowflake();
    const post = await announcedPost(t, guild);
    await setRating(t.db, post.id, alice, 5, new Date().toISOString());
    const discord = new FakeDiscord();
    discord.canManage = false;
    discord.react(post.messageId!, KEYCAP_OF[5], alice);
    discord.react(post.messageId!, KEYCAP_OF[3], bob);
    const r = await forgetMember({ db: t.db, discord, log }, guild, alice);
    assert.equal({ ratings: r.ratings, removed: r.reactionsRemoved, left: r.reactionsLeft }, { ratings: 1, removed: 0, left: 1 });

    // The recount sees alice's keycap still on the announcement, and leaves her out.
    const recount = await recountPost({ db: t.db, discord, log }, post);
    assert.is(recount.reactors, 1);
    assert.equal(
      (await listRatings(t.db, post.id)).map((x) => [x.userId, x.stars]),
      [[bob, 3]],
    );
    assert.is((await recountPost({ db: t.db, discord, log }, post)).changed, false, 'a second recount changes nothing');
  });

  test('GIVEN a forgotten member THEN their live reactions are ignored (single and batched), others still count', async ({ t }) => {
    const guild = snowflake();
    const [alice, bob] = [snowflake(), snowflake()];
    const post = await announcedPost(t, guild);
    const discord = new FakeDiscord();
    await forgetMember({ db: t.db, discord, log }, guild, alice);
    const index = new AnnouncementIndex(t.db);
    const ev = (userId: string, stars: Stars) => ({
      kind: 'add' as const,
      messageId: post.messageId!,
      channelId: post.channelId!,
      userId,
      emoji: { id: null, name: KEYCAP_OF[stars] },
      isBot: false,
      canManageMessages: true,
    });
    const processor = new ReactionProcessor({ db: t.db, discord, log }, { ratingsChanged: () => {}, recountNeeded: () => {} }, { index });
    assert.equal(await processor.submit(ev(alice, 5)), { result: 'ignored', reason: 'forgotten' });
    const outcomes = await Promise.all([processor.submit(ev(alice, 4)), processor.submit(ev(bob, 2)), processor.submit(ev(alice, 1))]);
    assert.equal(
      outcomes.map((o) => o.result),
      ['ignored', 'rated', 'ignored'],
    );
    assert.equal(
      (await listRatings(t.db, post.id)).map((x) => x.userId),
      [bob],
    );

    // Forgotten in one server only: in another the same person still rates.
    const elsewhere = await announcedPost(t, snowflake());
    assert.equal(
      await forgottenRaters(t.db, [
        { postId: elsewhere.id, userId: alice },
        { postId: post.id, userId: alice },
        { postId: post.id, userId: bob },
      ]),
      new Set([`${post.id}:${alice}`]),
    );
    assert.is((await processor.submit({ ...ev(alice, 3), messageId: elsewhere.messageId!, channelId: elsewhere.channelId! })).result, 'rated');
    await processor.close();
  });

  test('GIVEN someone else’s forget button THEN it is refused and nothing is erased', async ({ t }) => {
    const guild = snowflake();
    const [alice, mallory] = [snowflake(), snowflake()];
    const post = await announcedPost(t, guild);
    await reply(t, post, alice, 'Alice A', 'mine');
    const calls: string[] = [];
    const interaction = {
      customId: `privacy:forget:${alice}`,
      user: { id: mallory },
      guildId: guild,
      deferUpdate: async () => void calls.push('deferUpdate'),
      editReply: async () => void calls.push('editReply'),
    };
    const ctx = { db: t.db, discord: new FakeDiscord(), log } as unknown as Parameters<NonNullable<typeof privacyCommand.button>>[1];
    try {
      await privacyCommand.button!(interaction as unknown as Parameters<NonNullable<typeof privacyCommand.button>>[0], ctx);
      assert.unreachable('refused');
    } catch (err) {
      assert.instance(err, UserError);
      assert.match((err as Error).message, /belongs to someone else.*Nothing was changed/);
    }
    assert.equal(calls, [], 'the interaction was not touched (the boundary answers)');
    assert.is((await privacyStatus(t.db, guild, alice)).comments, 1);
    assert.is((await privacyStatus(t.db, guild, mallory)).forgotten, false);
  });

  test('GIVEN a forgotten member THEN the mirror stores none of their messages (live, edits, or read by catch-up after downtime)', async ({ t }) => {
    const guild = snowflake();
    const alice = '100000000000000001'; // the author of discordMessage() (ALICE)
    const bob = snowflake();
    const post = await announcedPost(t, guild);
    await forgetMember({ db: t.db, log }, guild, alice);
    const base = Date.now();
    const input = (id: string, authorId: string, content: string) => ({
      id,
      postId: post.id,
      threadId: post.threadId!,
      authorId,
      authorName: authorId === alice ? 'Alice A' : 'Bob B',
      content,
      replyToId: null,
      attachments: [],
      createdAt: new Date(base).toISOString(),
      editedAt: null,
    });
    // Catch-up after downtime reads a message alice wrote before she was forgotten, and one of bob.
    const thread = { postId: post.id, threadId: post.threadId!, messageId: post.messageId };
    const history = [
      discordMessage(post.threadId!, base + 10, { content: 'alice while the bot was down' }),
      discordMessage(post.threadId!, base + 20, {
        content: 'bob while the bot was down',
        author: { id: bob, username: 'bob', global_name: null, discriminator: '0', avatar: null },
      }),
    ];
    const port = {
      listMessages: async (_c: string, q: { after?: string; limit?: number }) =>
        history
          .filter((m) => !q.after || BigInt(m.id) > BigInt(q.after))
          .slice(0, q.limit ?? 50)
          .reverse(),
    };
    await catchUpThread({ db: t.db, discord: port } as unknown as Parameters<typeof catchUpThread>[0], thread, { full: true });
    // Then live events: a new message of alice (and of bob).
    await applyOps(t.db, [
      { kind: 'upsert', comment: input(snowflake(base + 30), alice, 'alice after forget') },
      { kind: 'upsert', comment: input(snowflake(base + 31), bob, 'bob as usual') },
    ]);
    const stored = await t.db.kysely.selectFrom('comments').select(['author_id', 'content']).where('post_id', '=', post.id).orderBy('id').execute();
    assert.equal(stored, [
      { author_id: bob, content: 'bob while the bot was down' },
      { author_id: bob, content: 'bob as usual' },
    ]);
  });

  test('property: whatever the replies and choices, the web tree holds no name, id or text of an anonymous or hidden member, and keeps every reply', async ({
    t,
  }) => {
    const guild = snowflake();
    const post = await announcedPost(t, guild);
    const secret = await getPrivacySecret(t.db);
    const people = ['alice', 'bob', 'carol', 'dave'].map((name, i) => ({ id: `9${i}0000000000000000${i}`, name: `${name}-NAME` }));
    const arb = fc.record({
      choices: fc.tuple(...people.map(() => fc.constantFrom<Appearance>('named', 'anonymous', 'hidden'))),
      replies: fc.array(
        fc.record({ who: fc.nat(people.length - 1), parent: fc.option(fc.nat(40), { nil: null }), deleted: fc.boolean(), mention: fc.nat(people.length - 1) }),
        { maxLength: 25 },
      ),
    });
    await fc.assert(
      fc.asyncProperty(arb, async ({ choices, replies }) => {
        await t.db.kysely.deleteFrom('member_privacy').where('guild_id', '=', guild).execute();
        for (const [i, show] of choices.entries()) await chooseAppearance(t.db, guild, people[i]!.id, show);
        const base = Date.parse('2026-01-01T00:00:00Z');
        const comments: Comment[] = replies.map((r, i) => ({
          id: String(1000 + i),
          postId: post.id,
          threadId: post.threadId!,
          authorId: people[r.who]!.id,
          authorName: people[r.who]!.name,
          content: `said-${i}; <@${people[r.mention]!.id}>`,
          replyToId: r.parent !== null && r.parent < i ? String(1000 + r.parent) : null,
          attachments: [{ url: `https://cdn.example/file-${i}.png`, name: 'f', contentType: null }],
          createdAt: new Date(base + i * 1000).toISOString(),
          editedAt: null,
          deletedAt: r.deleted ? new Date(base + i * 1000 + 1).toISOString() : null,
        }));
        const tree = buildCommentTree(await presentForWeb(t.db, post, comments));
        const json = JSON.stringify(tree);
        assert.is(flatten(tree).length, comments.length, 'every reply keeps its place');
        for (const [i, show] of choices.entries()) {
          const p = people[i]!;
          const wrote = replies.some((r) => r.who === i && !r.deleted);
          if (show === 'named') {
            if (wrote) assert.ok(json.includes(p.name));
            continue;
          }
          assert.not.ok(json.includes(p.name), `${show}: no name`);
          assert.not.ok(json.includes(p.id), `${show}: no id`);
          if (show === 'anonymous' && wrote) assert.ok(json.includes(pseudonymOf(secret, post.id, p.id)));
        }
        replies.forEach((r, i) => {
          if (choices[r.who] === 'hidden' || r.deleted) {
            assert.not.ok(json.includes(`said-${i};`), 'no text of a hidden or deleted reply');
            assert.not.ok(json.includes(`file-${i}.png`), 'no file of a hidden or deleted reply');
          }
        });
      }),
      { numRuns: 40 },
    );
  });

  test.run();

  // The operator's way to answer an erasure request for someone who can no longer run /privacy forget.
  const cli = suite<{ t: TestDb; dir: string }>(`blogcord privacy forget (${dialect})`);
  cli.before(async (ctx) => {
    ctx.dir = mkdtempSync(join(tmpdir(), 'blogcord-privacy-cli-'));
    ctx.t = await createTestDb(dialect, { file: join(ctx.dir, 'cli.sqlite') });
  });
  cli.after(async (ctx) => {
    await ctx.t.close();
    rmSync(ctx.dir, { recursive: true, force: true });
  });

  cli('GIVEN a bad id THEN a clear error and nothing erased; GIVEN good ids THEN the member is erased in that server only', async ({ t }) => {
    const [guild, other, alice] = [snowflake(), snowflake(), snowflake()];
    const post = await announcedPost(t, guild);
    const elsewhere = await announcedPost(t, other);
    await reply(t, post, alice, 'Alice A', 'erase me please');
    await reply(t, elsewhere, alice, 'Alice A', 'keep me');
    await setRating(t.db, post.id, alice, 4, new Date().toISOString());
    const env = { DATABASE_URL: t.url };

    const bad = await runBlogcord(['privacy', 'forget', '--guild', guild, '--user', 'alice'], env);
    assert.is(bad.code, 1);
    assert.match(bad.stderr, /--guild and --user take Discord ids.*Nothing was erased/s);
    const missing = await runBlogcord(['privacy', 'forget', '--guild', guild], env);
    assert.is(missing.code, 1);
    assert.match(missing.stderr, /usage: blogcord privacy forget --guild ID --user ID/);
    assert.is((await privacyStatus(t.db, guild, alice)).comments, 1, 'nothing erased by a refused run');

    const ok = await runBlogcord(['privacy', 'forget', '--guild', guild, '--user', alice], env);
    assert.is(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /Erased in server \d+: 1 replies \(text, name, 0 attachments\), 0 earlier tombstones' author id, 1 ratings\./);
    assert.match(ok.stdout, /left in Discord \(they no longer count\): 1 \(no DISCORD_TOKEN: none removed\)/);
    const status = await privacyStatus(t.db, guild, alice);
    assert.equal([status.comments, status.ratings, status.forgotten], [0, 0, true]);
    assert.is((await privacyStatus(t.db, other, alice)).comments, 1, 'another server is untouched');
  });

  cli.run();
}
