// Ratings from keycap reactions: the service rules and the recount, on SQLite and PostgreSQL, with a fake
// DiscordPort (no Discord, no Redis).
import fc from 'fast-check';
import { KEYCAP_OF, keycapStars, type EmojiLike, type Stars } from '../../src/domain/rating.ts';
import { pino } from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { APIUser } from 'discord-api-types/v10';
import { upsertFeed } from '../../src/repositories/feeds.ts';
import { getPost, setPublishState, upsertPostFromFeed, type Post } from '../../src/repositories/posts.ts';
import { getRatingSummary, listRatings, removeRatingIfUnchanged, setRatingIfUnchanged } from '../../src/repositories/ratings.ts';
import { getRating, setRating } from '../support/ratings.ts';
import { DiscordRequestError, type DiscordPort, type ReactionKind } from '../../src/services/discord-port.ts';
import { AnnouncementIndex } from '../../src/services/announcement-index.ts';
import type { ReactionEvent } from '../../src/services/rating-rules.ts';
import { ReactionProcessor } from '../../src/services/reaction-processor.ts';
import { readKeycapReactors, recountPost, recountRecent, settledStars } from '../../src/services/recount.ts';
import { eventually, rejects } from '../support/assert.ts';
import { createTestDb, DIALECTS, flakyDb, type TestDb } from '../support/db.ts';
import { snowflake } from '../support/snowflake.ts';

const log = pino({ level: 'silent' });
const BOT_ID = snowflake();

/** A DiscordPort that serves reactor lists from memory and records reaction removals. */
class FakeDiscord implements DiscordPort {
  /** messageId → emoji → users of normal reactions (any order; served ascending by id). */
  reactions = new Map<string, Map<string, APIUser[]>>();
  /** messageId → emoji → users of super (burst) reactions, which Discord lists apart (type=1). */
  superReactions = new Map<string, Map<string, APIUser[]>>();
  removals: Array<{ channelId: string; messageId: string; emoji: string; userId: string }> = [];
  listCalls: Array<{ messageId: string; emoji: string; after?: string; limit?: number; type?: ReactionKind }> = [];
  canManage = true;
  failList: ((messageId: string, emoji: string) => Error | null) | null = null;
  onList: ((messageId: string, emoji: string) => Promise<void> | void) | null = null;

  react(messageId: string, emoji: string, user: APIUser, opts: { burst?: boolean } = {}): void {
    const byMessage = opts.burst ? this.superReactions : this.reactions;
    let m = byMessage.get(messageId);
    if (!m) byMessage.set(messageId, (m = new Map()));
    const list = m.get(emoji) ?? [];
    if (!list.some((u) => u.id === user.id)) list.push(user);
    m.set(emoji, list);
  }
  holders(messageId: string, emoji: string): string[] {
    return (this.reactions.get(messageId)?.get(emoji) ?? []).map((u) => u.id).sort();
  }
  async botUserId() {
    return BOT_ID;
  }
  async listReactors(_channelId: string, messageId: string, emoji: string, query: { after?: string; limit?: number; type?: ReactionKind }): Promise<APIUser[]> {
    this.listCalls.push({ messageId, emoji, ...query });
    const err = this.failList?.(messageId, emoji);
    if (err) throw err;
    await this.onList?.(messageId, emoji);
    const limit = query.limit ?? 25;
    // As Discord: normal reactions unless type=1 is asked for.
    const all = [...((query.type === 1 ? this.superReactions : this.reactions).get(messageId)?.get(emoji) ?? [])].sort((a, b) =>
      BigInt(a.id) < BigInt(b.id) ? -1 : 1,
    );
    return all.filter((u) => !query.after || BigInt(u.id) > BigInt(query.after)).slice(0, limit);
  }
  async removeUserReaction(channelId: string, messageId: string, emoji: string, userId: string): Promise<void> {
    if (!this.canManage && userId !== BOT_ID) throw new DiscordRequestError('Missing Permissions', 50013, 403);
    this.removals.push({ channelId, messageId, emoji, userId });
    for (const byMessage of [this.reactions, this.superReactions]) {
      const list = byMessage.get(messageId)?.get(emoji);
      if (list)
        byMessage.get(messageId)!.set(
          emoji,
          list.filter((u) => u.id !== userId),
        );
    }
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
  throw new Error('not used by ratings');
}

const person = (name: string, bot = false): APIUser =>
  ({ id: snowflake(), username: name, discriminator: '0', global_name: null, avatar: null, ...(bot ? { bot: true } : {}) }) as APIUser;

interface Ctx {
  t: TestDb;
  discord: FakeDiscord;
}

async function announcedPost(t: TestDb, opts: { channelId?: string } = {}): Promise<Post> {
  const guildId = snowflake();
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
  const channelId = opts.channelId ?? snowflake();
  const messageId = snowflake();
  await setPublishState(t.db, post.id, { state: 'published', channelId, messageId, threadId: messageId });
  return (await getPost(t.db, post.id))!;
}

const keycap = (stars: Stars) => ({ id: null, name: KEYCAP_OF[stars] });
const add = (post: Post, userId: string, emoji: EmojiLike, over: Partial<Extract<ReactionEvent, { kind: 'add' }>> = {}): ReactionEvent => ({
  kind: 'add',
  messageId: post.messageId!,
  channelId: post.channelId!,
  userId,
  emoji,
  isBot: false,
  canManageMessages: true,
  ...over,
});
const remove = (post: Post, userId: string, emoji: EmojiLike, canManageMessages = true): ReactionEvent => ({
  kind: 'remove',
  messageId: post.messageId!,
  channelId: post.channelId!,
  userId,
  emoji,
  canManageMessages,
});

// ---------------------------------------------------------------------------------------------- pure parts

const pure = suite('ratings: keycaps, serial queue, index bounds');

pure('keycapStars: 1️⃣–5️⃣ with or without U+FE0F; everything else is null', () => {
  for (const s of [1, 2, 3, 4, 5] as const) {
    assert.is(keycapStars(KEYCAP_OF[s]), s);
    assert.is(keycapStars(`${s}\u20E3`), s, 'without the variation selector');
    assert.is(keycapStars({ id: null, name: KEYCAP_OF[s] }), s);
  }
  for (const other of ['👍', '0️⃣', '6️⃣', '#️⃣', '🔟', '5', '5️⃣5️⃣', '', '⭐']) assert.is(keycapStars(other), null, other);
  assert.is(keycapStars({ id: snowflake(), name: '5️⃣' }), null, 'a custom emoji is never a keycap');
  assert.is(keycapStars(null), null);
  assert.is(keycapStars({ id: null, name: null }), null);
});

pure('keycapStars reads character codes as the pattern /^[1-5]\uFE0F?\u20E3$/ would, for any name (fast-check)', () => {
  // Names made of the characters that matter (digits, the variation selector, the keycap, a surrogate pair) and others.
  const char = fc.constantFrom('0', '1', '3', '5', '6', '9', '#', '\uFE0F', '\u20E3', '\uFE0E', '\u{1F51F}', 'a', ' ');
  const pattern = /^([1-5])\uFE0F?\u20E3$/u;
  fc.assert(
    fc.property(fc.array(char, { maxLength: 5 }), (chars) => {
      const name = chars.join('');
      const m = pattern.exec(name);
      assert.is(keycapStars(name), m ? Number(m[1]) : null, JSON.stringify(name));
    }),
    { numRuns: 20_000 },
  );
});

pure('settledStars: the stored rating while its keycap is held, else the highest keycap', () => {
  assert.is(settledStars(new Set<Stars>([3, 5]), 3), 3);
  assert.is(settledStars(new Set<Stars>([3, 5]), 4), 5);
  assert.is(settledStars(new Set<Stars>([1, 2]), null), 2);
  assert.is(settledStars(new Set<Stars>([4]), 1), 4);
});

pure.run();

// ---------------------------------------------------------------------------------------------- rules on both databases

for (const dialect of DIALECTS) {
  const rules = suite<Ctx>(`ratings rules on ${dialect}`, { t: undefined as never, discord: undefined as never });
  rules.before(async (ctx) => {
    ctx.t = await createTestDb(dialect);
  });
  rules.after(async (ctx) => {
    await ctx.t?.close();
  });
  rules.before.each((ctx) => {
    ctx.discord = new FakeDiscord();
  });

  const service = (ctx: Ctx) => {
    const changed: string[] = [];
    const recounts: string[] = [];
    const processor = new ReactionProcessor(
      { db: ctx.t.db, discord: ctx.discord, log },
      { ratingsChanged: (id) => void changed.push(id), recountNeeded: (id) => void recounts.push(id) },
    );
    return { processor, changed, recounts };
  };

  rules('a keycap rates; switching keeps one rating (the latest) and removes the old keycap; that removal does not remove the new rating', async (ctx) => {
    const post = await announcedPost(ctx.t);
    const { processor, changed } = service(ctx);
    const alice = snowflake();
    assert.equal(await processor.submit(add(post, alice, keycap(5))), {
      result: 'rated',
      postId: post.id,
      stars: 5,
      previous: null,
      removedPreviousReaction: false,
    });
    assert.is((await getRating(ctx.t.db, post.id, alice))?.stars, 5);
    assert.equal(
      await processor.submit(add(post, alice, keycap(5))),
      { result: 'unchanged', postId: post.id, stars: 5 },
      'the same keycap again changes nothing',
    );

    const switched = await processor.submit(add(post, alice, '3️⃣'));
    assert.equal(switched, { result: 'rated', postId: post.id, stars: 3, previous: 5, removedPreviousReaction: true });
    await new Promise((r) => setImmediate(r));
    assert.equal(
      ctx.discord.removals,
      [{ channelId: post.channelId!, messageId: post.messageId!, emoji: '5️⃣', userId: alice }],
      'the bot removes the previous keycap',
    );
    // The remove event the bot's removal causes: the 5️⃣ no longer holds the rating.
    assert.equal(await processor.submit(remove(post, alice, '5️⃣')), { result: 'ignored', reason: 'no-rating' });
    const ratings = await listRatings(ctx.t.db, post.id);
    assert.equal(
      ratings.map((r) => [r.userId, r.stars]),
      [[alice, 3]],
      'exactly one rating for that person: 3',
    );
    // Removing the keycap that holds the rating removes it.
    assert.equal(await processor.submit(remove(post, alice, '3️⃣')), { result: 'removed', postId: post.id, count: 1, needsRecount: false });
    assert.is(await getRating(ctx.t.db, post.id, alice), null);
    assert.equal(changed, [post.id, post.id, post.id], 'one refresh request per change (rate, switch, remove), none for non-changes');
  });

  rules('without Manage Messages: the latest keycap still wins, the old reaction stays; removing the holder asks for a recount', async (ctx) => {
    const post = await announcedPost(ctx.t);
    const { processor, recounts } = service(ctx);
    const bob = snowflake();
    await processor.submit(add(post, bob, '5️⃣', { canManageMessages: false }));
    const r = await processor.submit(add(post, bob, '2️⃣', { canManageMessages: false }));
    assert.equal(r, { result: 'rated', postId: post.id, stars: 2, previous: 5, removedPreviousReaction: false });
    await new Promise((r) => setImmediate(r));
    assert.equal(ctx.discord.removals, [], 'no removal attempted');
    assert.equal(await processor.submit(remove(post, bob, '5️⃣', false)), { result: 'ignored', reason: 'no-rating' }, 'the old keycap goes: the rating stays');
    assert.is((await getRating(ctx.t.db, post.id, bob))?.stars, 2);
    assert.equal(await processor.submit(remove(post, bob, '2️⃣', false)), { result: 'removed', postId: post.id, count: 1, needsRecount: true });
    assert.equal(recounts, [post.id], 'a recount lets another keycap the person still holds count');
  });

  rules('remove-all removes every rating of the post; remove-emoji those of that keycap; other posts are untouched', async (ctx) => {
    const post = await announcedPost(ctx.t);
    const other = await announcedPost(ctx.t);
    const { processor } = service(ctx);
    const [a, b, c] = [snowflake(), snowflake(), snowflake()];
    await processor.submit(add(post, a, '5️⃣'));
    await processor.submit(add(post, b, '5️⃣'));
    await processor.submit(add(post, c, '4️⃣'));
    await processor.submit(add(other, a, '1️⃣'));
    assert.equal(await getRatingSummary(ctx.t.db, post.id), { average: 4.67, count: 3, distribution: { '1': 0, '2': 0, '3': 0, '4': 1, '5': 2 } });

    const emoji = await processor.submit({
      kind: 'remove-emoji',
      messageId: post.messageId!,
      channelId: post.channelId!,
      emoji: '5️⃣',
      canManageMessages: true,
    });
    assert.equal(emoji, { result: 'removed', postId: post.id, count: 2, needsRecount: false });
    assert.equal(
      (await listRatings(ctx.t.db, post.id)).map((r) => [r.userId, r.stars]),
      [[c, 4]],
    );
    assert.equal(
      await processor.submit({ kind: 'remove-emoji', messageId: post.messageId!, channelId: post.channelId!, emoji: '👍', canManageMessages: true }),
      { result: 'ignored', reason: 'not-a-keycap' },
    );

    const all = await processor.submit({ kind: 'remove-all', messageId: post.messageId!, channelId: post.channelId! });
    assert.equal(all, { result: 'removed', postId: post.id, count: 1, needsRecount: false });
    assert.is((await getRatingSummary(ctx.t.db, post.id)).count, 0);
    assert.equal(await processor.submit({ kind: 'remove-all', messageId: post.messageId!, channelId: post.channelId! }), {
      result: 'ignored',
      reason: 'no-rating',
    });
    assert.is((await getRatingSummary(ctx.t.db, other.id)).count, 1, 'the other post keeps its rating');
  });

  rules('other emoji, custom emoji, bots (flag known or fetched) and messages that are not announcements never count', async (ctx) => {
    const post = await announcedPost(ctx.t);
    const { processor, changed } = service(ctx);
    const u = snowflake();
    assert.equal(await processor.submit(add(post, u, '👍')), { result: 'ignored', reason: 'not-a-keycap' });
    assert.equal(await processor.submit(add(post, u, { id: snowflake(), name: '5️⃣' })), { result: 'ignored', reason: 'not-a-keycap' });
    assert.equal(await processor.submit(add(post, BOT_ID, '1️⃣', { isBot: true })), { result: 'ignored', reason: 'bot' }, "the bot's own keycaps");
    let asked = 0;
    const otherBot = snowflake();
    const fetchFlag = async () => (asked++, true);
    assert.equal(
      await processor.submit(add(post, otherBot, '4️⃣', { isBot: fetchFlag })),
      { result: 'ignored', reason: 'bot' },
      'a partial user is fetched, then ignored as a bot',
    );
    assert.is(asked, 1);
    assert.equal(await processor.submit(add(post, otherBot, '👍', { isBot: fetchFlag })), { result: 'ignored', reason: 'not-a-keycap' });
    const elsewhere = { ...post, messageId: snowflake() };
    assert.equal(await processor.submit(add(elsewhere, u, '5️⃣', { isBot: fetchFlag })), { result: 'ignored', reason: 'not-an-announcement' });
    assert.is(asked, 1, 'the bot flag is fetched only for a keycap on an announcement');
    assert.equal(await processor.submit(add(post, u, '5️⃣', { isBot: async () => false })), {
      result: 'rated',
      postId: post.id,
      stars: 5,
      previous: null,
      removedPreviousReaction: false,
    });
    assert.equal(await processor.submit(remove(post, BOT_ID, '5️⃣')), { result: 'ignored', reason: 'no-rating' });
    assert.equal(await processor.submit({ ...remove(post, BOT_ID, '5️⃣'), isBot: true } as ReactionEvent), { result: 'ignored', reason: 'bot' });
    assert.equal(
      (await listRatings(ctx.t.db, post.id)).map((r) => r.userId),
      [u],
    );
    assert.equal(changed, [post.id]);
  });

  rules('events of one announcement apply strictly in order: a burst of switches ends at the last keycap', async (ctx) => {
    const post = await announcedPost(ctx.t);
    const { processor } = service(ctx);
    const people = Array.from({ length: 5 }, () => snowflake());
    const last = new Map<string, Stars>();
    const pending: Promise<unknown>[] = [];
    let n = 0;
    for (let round = 0; round < 12; round++) {
      for (const p of people) {
        const stars = (((round * 7 + n++) % 5) + 1) as Stars;
        pending.push(processor.submit(add(post, p, KEYCAP_OF[stars], { canManageMessages: false })));
        last.set(p, stars);
      }
    }
    await Promise.all(pending);
    const got = new Map((await listRatings(ctx.t.db, post.id)).map((r) => [r.userId, r.stars]));
    assert.equal(got, last);
    // 5 → 3 fired without waiting: always 3.
    const fast = snowflake();
    const a = processor.submit(add(post, fast, '5️⃣'));
    const b = processor.submit(add(post, fast, '3️⃣'));
    await Promise.all([a, b]);
    assert.is((await getRating(ctx.t.db, post.id, fast))?.stars, 3);
  });

  rules(
    'a burst of 600 events over 3 announcements is written in a few transactions, in arrival order, with one refresh request per post and batch',
    async (ctx) => {
      const posts = [await announcedPost(ctx.t), await announcedPost(ctx.t), await announcedPost(ctx.t)];
      const { processor, changed } = service(ctx);
      const people = Array.from({ length: 40 }, () => snowflake());
      const last = new Map<string, Stars | null>();
      const pending: Promise<unknown>[] = [];
      for (let i = 0; i < 600; i++) {
        const post = posts[i % 3]!;
        const person = people[(i * 7) % 40]!;
        const key = `${post.id}:${person}`;
        // Mostly switches, sometimes the removal of the keycap that holds the rating.
        if (i % 11 === 10 && last.get(key)) {
          pending.push(processor.submit(remove(post, person, KEYCAP_OF[last.get(key)!], false)));
          last.set(key, null);
        } else {
          const stars = (((i * 3) % 5) + 1) as Stars;
          pending.push(processor.submit(add(post, person, KEYCAP_OF[stars], { canManageMessages: false })));
          last.set(key, stars);
        }
      }
      const outcomes = (await Promise.all(pending)) as Array<{ result: string }>;
      assert.ok(
        outcomes.every((o) => o.result !== 'ignored' || (o as { reason?: string }).reason === 'no-rating'),
        'every keycap event was applied',
      );
      for (const post of posts) {
        const got = new Map((await listRatings(ctx.t.db, post.id)).map((r) => [r.userId, r.stars]));
        const want = new Map([...last].filter(([k, v]) => k.startsWith(`${post.id}:`) && v !== null).map(([k, v]) => [k.split(':')[1]!, v]));
        assert.equal(got, want, 'the latest event of each person wins');
      }
      assert.ok(processor.stats.flushes <= 6, `${processor.stats.flushes} transactions for 600 events`);
      assert.ok(changed.length <= processor.stats.flushes * 3, `${changed.length} refresh requests`);
      assert.equal(new Set(changed), new Set(posts.map((p) => p.id)));
    },
  );

  rules(
    'while the database is away, votes wait in order and are all applied once it answers; past the bound the oldest are refused and their posts recounted',
    async (ctx) => {
      const post = await announcedPost(ctx.t);
      const db = flakyDb(ctx.t.db);
      const index = new AnnouncementIndex(ctx.t.db);
      const recounts: string[] = [];
      const processor = new ReactionProcessor(
        { db, discord: ctx.discord, log },
        { ratingsChanged: () => {}, recountNeeded: (id) => void recounts.push(id) },
        { retryMinMs: 20, retryMaxMs: 50, index },
      );
      const [a, b] = [snowflake(), snowflake()];
      db.down = true;
      const first = processor.submit(add(post, a, '5️⃣'));
      const second = processor.submit(add(post, a, '2️⃣', { canManageMessages: false }));
      const third = processor.submit(add(post, b, '4️⃣'));
      await eventually(() => processor.stats.failures >= 3, { timeout: 3000, message: 'retried' });
      assert.is(processor.pending, 3);
      assert.is((await listRatings(ctx.t.db, post.id)).length, 0);
      db.down = false;
      assert.equal(await first, { result: 'rated', postId: post.id, stars: 5, previous: null, removedPreviousReaction: false });
      assert.equal(await second, { result: 'rated', postId: post.id, stars: 2, previous: 5, removedPreviousReaction: false });
      assert.is((await third).result, 'rated');
      assert.equal(
        (await listRatings(ctx.t.db, post.id)).map((r) => [r.userId, r.stars]).sort(),
        [
          [a, 2],
          [b, 4],
        ].sort(),
      );

      const bounded = new ReactionProcessor(
        { db, discord: ctx.discord, log },
        { ratingsChanged: () => {}, recountNeeded: (id) => void recounts.push(id) },
        { retryMinMs: 20, retryMaxMs: 50, maxBatch: 2, maxBuffer: 4, index },
      );
      db.down = true;
      const votes = Array.from({ length: 6 }, () => bounded.submit(add(post, snowflake(), '3️⃣')));
      const settled = votes.map((v) =>
        v.then(
          () => 'applied',
          () => 'refused',
        ),
      );
      await eventually(() => bounded.stats.failures >= 2, { timeout: 3000, message: 'retried' });
      assert.is(bounded.stats.dropped, 2);
      db.down = false;
      assert.equal(
        await Promise.all(settled),
        ['refused', 'refused', 'applied', 'applied', 'applied', 'applied'],
        'the oldest two are refused, the rest applied',
      );
      assert.equal(recounts, [post.id, post.id], 'each refusal asks for a recount of the post (its announcement is known)');
      await bounded.close();
      await processor.close();
      await rejects(() => processor.submit(add(post, a, '1️⃣')), /closed/, 'after close nothing more is accepted');
    },
  );

  rules(
    'close() with the database away refuses what it could not write (and asks for a recount); a Discord port that throws still answers every vote',
    async (ctx) => {
      const post = await announcedPost(ctx.t);
      const db = flakyDb(ctx.t.db);
      const index = new AnnouncementIndex(ctx.t.db);
      await index.postIdOf(post.messageId!);
      const recounts: string[] = [];
      const processor = new ReactionProcessor(
        { db, discord: ctx.discord, log },
        { ratingsChanged: () => {}, recountNeeded: (id) => void recounts.push(id) },
        { retryMinMs: 20, retryMaxMs: 50, index },
      );
      db.down = true;
      const vote = processor.submit(add(post, snowflake(), '4️⃣'));
      await processor.close({ timeoutMs: 200 });
      await rejects(() => vote, /not saved at shutdown/);
      assert.equal(recounts, [post.id], 'the recount at the next start settles the post');
      assert.is((await listRatings(ctx.t.db, post.id)).length, 0);

      // A switch asks Discord to remove the old keycap; a port that throws at once must not lose the answer.
      const throwing = Object.assign(Object.create(ctx.discord) as FakeDiscord, {
        removeUserReaction: () => {
          throw new Error('port broken');
        },
      });
      const p2 = new ReactionProcessor({ db: ctx.t.db, discord: throwing, log }, { ratingsChanged: () => {}, recountNeeded: () => {} }, { index });
      const bob = snowflake();
      await p2.submit(add(post, bob, '5️⃣'));
      assert.equal(await p2.submit(add(post, bob, '2️⃣')), { result: 'rated', postId: post.id, stars: 2, previous: 5, removedPreviousReaction: true });
      await p2.close();
    },
  );

  rules('AnnouncementIndex.prime: the uncached messages of a batch in one query, answered from the cache after', async (ctx) => {
    const posts = [await announcedPost(ctx.t), await announcedPost(ctx.t), await announcedPost(ctx.t)];
    const stranger = snowflake();
    let queries = 0;
    const counted = {
      dialect: ctx.t.db.dialect,
      kysely: ctx.t.db.kysely.withPlugin({ transformQuery: (a) => (queries++, a.node), transformResult: async (a) => a.result }),
    };
    const index = new AnnouncementIndex(counted);
    await index.prime([...posts.map((p) => p.messageId!), stranger, posts[0]!.messageId!]);
    assert.is(queries, 1, 'three announcements and a stranger, one asked twice: one query');
    for (const p of posts) assert.is(await index.postIdOf(p.messageId!), p.id);
    assert.is(await index.postIdOf(stranger), null, 'a miss is remembered too');
    await index.prime(posts.map((p) => p.messageId!));
    assert.is(queries, 1, 'nothing cached is asked again');
  });

  rules('AnnouncementIndex: misses are cached briefly, hits longer, and the cache is bounded', async (ctx) => {
    let clock = 1_000_000;
    const index = new AnnouncementIndex(ctx.t.db, { max: 3, missTtlMs: 1000, hitTtlMs: 60_000, now: () => clock });
    const post = await announcedPost(ctx.t);
    const fresh = snowflake();
    assert.is(await index.postIdOf(fresh), null);
    // The post is announced with that message a moment later.
    await setPublishState(ctx.t.db, post.id, { state: 'published', messageId: fresh });
    assert.is(await index.postIdOf(fresh), null, 'within the miss TTL the miss is remembered');
    clock += 1001;
    assert.is(await index.postIdOf(fresh), post.id, 'after it, the announcement is found');
    for (let i = 0; i < 5; i++) await index.postIdOf(snowflake());
    assert.is(index.size, 3, 'bounded');
    // A processor with a fresh index finds it too.
    const processor = new ReactionProcessor({ db: ctx.t.db, discord: ctx.discord, log }, { ratingsChanged: () => {}, recountNeeded: () => {} });
    const out = await processor.submit(add({ ...post, messageId: fresh }, snowflake(), '2️⃣'));
    await processor.close();
    assert.is(out.result, 'rated');
  });

  rules('conditional writes: a rating that changed since it was read is neither overwritten nor removed', async (ctx) => {
    const post = await announcedPost(ctx.t);
    const u = snowflake();
    assert.ok(await setRatingIfUnchanged(ctx.t.db, post.id, u, 4, '2026-11-01T00:00:00.000Z', null));
    assert.not.ok(await setRatingIfUnchanged(ctx.t.db, post.id, u, 2, '2026-11-01T00:00:01.000Z', null), 'not absent any more');
    await setRating(ctx.t.db, post.id, u, 5, '2026-11-02T00:00:00.000Z');
    assert.not.ok(await setRatingIfUnchanged(ctx.t.db, post.id, u, 1, '2026-11-03T00:00:00.000Z', { stars: 4, updatedAt: '2026-11-01T00:00:00.000Z' }));
    assert.not.ok(await removeRatingIfUnchanged(ctx.t.db, post.id, u, { stars: 4, updatedAt: '2026-11-01T00:00:00.000Z' }));
    assert.is((await getRating(ctx.t.db, post.id, u))?.stars, 5);
    assert.ok(await setRatingIfUnchanged(ctx.t.db, post.id, u, 1, '2026-11-03T00:00:00.000Z', { stars: 5, updatedAt: '2026-11-02T00:00:00.000Z' }));
    assert.ok(await removeRatingIfUnchanged(ctx.t.db, post.id, u, { stars: 1, updatedAt: '2026-11-03T00:00:00.000Z' }));
    assert.is(await getRating(ctx.t.db, post.id, u), null);
    try {
      await setRatingIfUnchanged(ctx.t.db, post.id, u, 6 as Stars, '2026-11-03T00:00:00.000Z', null);
      assert.unreachable('6 stars must be refused');
    } catch (err) {
      assert.instance(err, RangeError);
    }
  });

  rules('a super reaction is the same rating; taking back one kind while the other may remain asks for a recount, which keeps the rating', async (ctx) => {
    const post = await announcedPost(ctx.t);
    const { processor, recounts } = service(ctx);
    const carol = person('carol');
    // carol super-reacts 3️⃣ and reacts 3️⃣ too: one rating.
    assert.equal(await processor.submit(add(post, carol.id, keycap(3))), {
      result: 'rated',
      postId: post.id,
      stars: 3,
      previous: null,
      removedPreviousReaction: false,
    });
    assert.equal(await processor.submit(add(post, carol.id, keycap(3))), { result: 'unchanged', postId: post.id, stars: 3 });
    ctx.discord.react(post.messageId!, '3️⃣', carol);
    // She takes the super one back; the normal one is still there.
    const removed = await processor.submit({ ...remove(post, carol.id, '3️⃣'), otherKindMayRemain: true } as ReactionEvent);
    assert.equal(removed, { result: 'removed', postId: post.id, count: 1, needsRecount: true });
    assert.equal(recounts, [post.id], 'a recount is asked for');
    const settled = await recountPost({ db: ctx.t.db, discord: ctx.discord, log }, post);
    assert.is(settled.added, 1);
    assert.is((await getRating(ctx.t.db, post.id, carol.id))?.stars, 3, 'the rating stays with the reaction she still holds');
    // When nobody holds the other kind, a removal asks for nothing more.
    assert.equal(await processor.submit({ ...remove(post, carol.id, '3️⃣'), otherKindMayRemain: false } as ReactionEvent), {
      result: 'removed',
      postId: post.id,
      count: 1,
      needsRecount: false,
    });
  });

  rules.run();

  // -------------------------------------------------------------------------------------------- recount

  const recount = suite<Ctx>(`recount on ${dialect}`, { t: undefined as never, discord: undefined as never });
  recount.before(async (ctx) => {
    ctx.t = await createTestDb(dialect);
  });
  recount.after(async (ctx) => {
    await ctx.t?.close();
  });
  recount.before.each((ctx) => {
    ctx.discord = new FakeDiscord();
  });
  const rctx = (ctx: Ctx) => ({ db: ctx.t.db, discord: ctx.discord, log });
  const ratingsOf = async (ctx: Ctx, postId: string) => new Map((await listRatings(ctx.t.db, postId)).map((r) => [r.userId, r.stars]));

  recount('reads full reactor lists in pages of 100 and leaves bots out', async (ctx) => {
    const post = await announcedPost(ctx.t);
    const many = Array.from({ length: 250 }, (_, i) => person(`p${i}`));
    for (const u of many) ctx.discord.react(post.messageId!, '5️⃣', u);
    ctx.discord.react(post.messageId!, '5️⃣', { ...person('blogcord', true), id: BOT_ID });
    ctx.discord.react(post.messageId!, '1️⃣', person('otherbot', true));
    const holders = await readKeycapReactors(ctx.discord, post.channelId!, post.messageId!);
    assert.is(holders.size, 250);
    const five = ctx.discord.listCalls.filter((c) => c.emoji === '5️⃣' && c.type !== 1);
    assert.is(five.length, 3, '100 + 100 + 51 (with the bot) → three pages');
    assert.is(five[0]!.after, undefined);
    assert.ok(five[1]!.after && five[2]!.after && BigInt(five[2]!.after) > BigInt(five[1]!.after));
    assert.equal(
      ctx.discord.listCalls.filter((c) => c.emoji !== '5️⃣' && c.type !== 1).map((c) => c.emoji),
      ['1️⃣', '2️⃣', '3️⃣', '4️⃣'],
      'one page for each other keycap',
    );
    assert.equal(
      ctx.discord.listCalls.filter((c) => c.type === 1).map((c) => c.emoji),
      ['1️⃣', '2️⃣', '3️⃣', '4️⃣', '5️⃣'],
      'and one page of super reactors for each keycap',
    );
  });

  recount('super reactions count like normal ones: read from both reactor lists (type=1 paged too), kept, added, one rating for both kinds', async (ctx) => {
    const post = await announcedPost(ctx.t);
    const m = post.messageId!;
    const [live, newcomer, both, holder] = [person('live'), person('newcomer'), person('both'), person('holder')];
    ctx.discord.react(m, '5️⃣', live, { burst: true });
    await setRating(ctx.t.db, post.id, live.id, 5, '2026-11-01T00:00:00.000Z'); // stored from its live event: it stays
    ctx.discord.react(m, '4️⃣', newcomer, { burst: true }); // super-reacted while the bot was down: added
    ctx.discord.react(m, '3️⃣', both);
    ctx.discord.react(m, '3️⃣', both, { burst: true }); // both kinds of one keycap: one rating, nothing removed
    ctx.discord.react(m, '1️⃣', holder);
    ctx.discord.react(m, '2️⃣', holder, { burst: true });
    await setRating(ctx.t.db, post.id, holder.id, 2, '2026-11-01T00:00:00.000Z'); // holds 2 as a super reaction: 2 stays, the 1 is the extra
    const crowd = Array.from({ length: 120 }, (_, i) => person(`s${i}`));
    for (const u of crowd) ctx.discord.react(m, '1️⃣', u, { burst: true });

    const first = await recountPost(rctx(ctx), post);
    const ratings = await ratingsOf(ctx, post.id);
    assert.is(ratings.get(live.id), 5, 'a super-reacted rating is not removed by the recount');
    assert.is(ratings.get(newcomer.id), 4);
    assert.is(ratings.get(both.id), 3);
    assert.is(ratings.get(holder.id), 2);
    assert.is(ratings.size, 4 + crowd.length);
    assert.equal([first.added, first.updated, first.removed], [2 + crowd.length, 0, 0]);
    assert.equal(
      ctx.discord.removals.map((r) => [r.userId, r.emoji]),
      [[holder.id, '1️⃣']],
      'only the extra keycap goes',
    );
    const superPages = ctx.discord.listCalls.filter((c) => c.emoji === '1️⃣' && c.type === 1);
    assert.is(superPages.length, 2, '120 super reactors: two pages');
    assert.ok(superPages[1]!.after, 'the second page after the first');
    const second = await recountPost(rctx(ctx), post);
    assert.equal([second.added, second.updated, second.removed, second.changed], [0, 0, 0, false], 'twice changes nothing');
  });

  recount('adds missing ratings, removes those whose reaction is gone, settles several keycaps, removes the extras; twice changes nothing', async (ctx) => {
    const post = await announcedPost(ctx.t);
    const [newcomer, gone, keeper, undecided, moved, bot] = [
      person('newcomer'),
      person('gone'),
      person('keeper'),
      person('undecided'),
      person('moved'),
      person('bot', true),
    ];
    const m = post.messageId!;
    ctx.discord.react(m, '4️⃣', newcomer); // reacted while the bot was down
    await setRating(ctx.t.db, post.id, gone.id, 5, '2026-11-01T00:00:00.000Z'); // removed the reaction while the bot was down
    ctx.discord.react(m, '3️⃣', keeper);
    ctx.discord.react(m, '5️⃣', keeper);
    await setRating(ctx.t.db, post.id, keeper.id, 3, '2026-11-01T00:00:00.000Z'); // 3 is held: it stays
    ctx.discord.react(m, '2️⃣', undecided);
    ctx.discord.react(m, '4️⃣', undecided); // no stored rating: the highest, 4
    ctx.discord.react(m, '1️⃣', moved);
    ctx.discord.react(m, '2️⃣', moved);
    await setRating(ctx.t.db, post.id, moved.id, 5, '2026-11-01T00:00:00.000Z'); // 5 not held any more: the highest held, 2
    ctx.discord.react(m, '5️⃣', bot);
    ctx.discord.react(m, '1️⃣', { ...bot, id: BOT_ID });

    const first = await recountPost(rctx(ctx), post);
    assert.equal(
      {
        added: first.added,
        updated: first.updated,
        removed: first.removed,
        reactionsRemoved: first.reactionsRemoved,
        reactors: first.reactors,
        changed: first.changed,
      },
      { added: 2, updated: 1, removed: 1, reactionsRemoved: 3, reactors: 4, changed: true },
    );
    const ratings = new Map((await listRatings(ctx.t.db, post.id)).map((r) => [r.userId, r.stars]));
    assert.equal(
      ratings,
      new Map<string, Stars>([
        [newcomer.id, 4],
        [keeper.id, 3],
        [undecided.id, 4],
        [moved.id, 2],
      ]),
    );
    assert.equal(
      ctx.discord.removals.map((r) => [r.userId, r.emoji]).sort(),
      [
        [keeper.id, '5️⃣'],
        [undecided.id, '2️⃣'],
        [moved.id, '1️⃣'],
      ].sort(),
      'extra keycaps removed; bots untouched',
    );
    assert.equal(ctx.discord.holders(m, '5️⃣'), [bot.id].sort(), 'the other bot keeps its (uncounted) reaction');

    const before = await listRatings(ctx.t.db, post.id);
    const second = await recountPost(rctx(ctx), post);
    assert.equal([second.added, second.updated, second.removed, second.reactionsRemoved, second.changed], [0, 0, 0, 0, false], 'idempotent');
    assert.equal(await listRatings(ctx.t.db, post.id), before, 'not even a timestamp moved');
  });

  recount('without Manage Messages: ratings settle, extra keycaps stay, and one refusal per channel is enough', async (ctx) => {
    const channelId = snowflake();
    const posts = [await announcedPost(ctx.t, { channelId }), await announcedPost(ctx.t, { channelId })];
    ctx.discord.canManage = false;
    const u = person('two-keycaps');
    for (const p of posts) {
      ctx.discord.react(p.messageId!, '2️⃣', u);
      ctx.discord.react(p.messageId!, '5️⃣', u);
    }
    let refusals = 0;
    const orig = ctx.discord.removeUserReaction.bind(ctx.discord);
    ctx.discord.removeUserReaction = async (...args) => {
      refusals++;
      return orig(...args);
    };
    const summary = await recountRecent(rctx(ctx), { windowDays: 30 });
    assert.ok(summary.posts >= 2);
    for (const p of posts) assert.is((await getRating(ctx.t.db, p.id, u.id))?.stars, 5);
    assert.is(refusals, 1, 'the first 50013 stops attempts in that channel for this run');
    assert.equal(ctx.discord.holders(posts[0]!.messageId!, '2️⃣'), [u.id]);
    assert.is(summary.failed, 0);
    assert.ok(summary.changedPostIds.includes(posts[0]!.id) && summary.changedPostIds.includes(posts[1]!.id));
  });

  recount('a deleted announcement keeps its ratings; one failing post does not stop the others; the window limits the posts', async (ctx) => {
    const deleted = await announcedPost(ctx.t);
    const broken = await announcedPost(ctx.t);
    const fine = await announcedPost(ctx.t);
    await setRating(ctx.t.db, deleted.id, snowflake(), 5, new Date().toISOString());
    ctx.discord.react(fine.messageId!, '3️⃣', person('rater'));
    ctx.discord.failList = (messageId) =>
      messageId === deleted.messageId
        ? new DiscordRequestError('Unknown Message', 10008, 404)
        : messageId === broken.messageId
          ? new DiscordRequestError('Internal Server Error', 0, 500)
          : null;
    const changed: string[] = [];
    const summary = await recountRecent(rctx(ctx), { windowDays: 30, onChanged: (id) => void changed.push(id) });
    assert.ok(summary.gone >= 1 && summary.failed >= 1);
    assert.is((await getRatingSummary(ctx.t.db, deleted.id)).count, 1, 'kept');
    assert.is((await getRatingSummary(ctx.t.db, fine.id)).count, 1, 'recounted despite the failure before it');
    assert.ok(changed.includes(fine.id) && !changed.includes(deleted.id));
    const later = await recountRecent(rctx(ctx), { windowDays: 30, now: new Date(Date.now() + 60 * 86_400_000) });
    assert.is(later.posts, 0, 'posts older than the window are left alone');
    assert.is((await recountPost(rctx(ctx), { ...fine, messageId: null })).status, 'not-announced');
  });

  recount('a reaction event applied while the recount reads Discord is not undone by it', async (ctx) => {
    const post = await announcedPost(ctx.t);
    const carol = person('carol');
    await setRating(ctx.t.db, post.id, carol.id, 2, '2026-11-01T00:00:00.000Z');
    // Discord no longer shows carol's 2️⃣ when 2️⃣ is read; right after, she reacts 2️⃣ again and the live event writes it.
    ctx.discord.onList = async (_m, emoji) => {
      if (emoji === '3️⃣') await setRating(ctx.t.db, post.id, carol.id, 2, new Date().toISOString());
    };
    const r = await recountPost(rctx(ctx), post);
    assert.is(r.removed, 0);
    assert.is((await getRating(ctx.t.db, post.id, carol.id))?.stars, 2, 'the newer rating stays');
  });

  recount.run();
}
