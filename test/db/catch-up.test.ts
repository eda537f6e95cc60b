// Catch-up's page write (one statement on PostgreSQL, one transaction on SQLite) and catch-up end to end through
// the real discord.js REST client and the Discord emulator, on SQLite and PostgreSQL: exact rows, reply links,
// edits and deletions while away, the cursor never ahead of what is committed.
import type { APIMessage } from 'discord-api-types/v10';
import fc from 'fast-check';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createRest, RestDiscordPort } from '../../src/discord/rest-port.ts';
import { listComments, listLiveCommentIds, markCommentsDeleted, storeCatchUpPage, upsertComments } from '../../src/repositories/comments.ts';
import { advanceCursor, getCursor } from '../../src/repositories/cursors.ts';
import { catchUpThread, CREATED_AT_MARGIN_MS, listLiveCommentIdsBetween } from '../../src/services/catch-up.ts';
import { fromApiMessage, type PostThread } from '../../src/services/mirror.ts';
import { createTestDb, DIALECTS, rolledBack, type TestDb } from '../support/db.ts';
import { publishedPost } from '../support/fixtures.ts';
import { commentInput, discordMessage, MessageClock } from '../support/messages.ts';
import { startDiscordEmulator } from '../../emulator/index.ts';
import { snowflake, snowflakeOf } from '../support/snowflake.ts';
import { compareSnowflakes, snowflakeTime } from '../../src/domain/snowflake.ts';

const clock = new MessageClock();
const comment: MessageClock['comment'] = (th, over) => clock.comment(th, over);

/** Discord's history semantics over a list (ascending): at most `limit`, newest first; `after` = the oldest after the id. */
function fakePort(all: APIMessage[], onRead?: (n: number) => void) {
  let n = 0;
  return {
    listMessages: async (_channelId: string, q: { after?: string; limit?: number }): Promise<APIMessage[]> => {
      onRead?.(++n);
      const limit = Math.min(100, q.limit ?? 50);
      const slice = q.after !== undefined ? all.filter((m) => BigInt(m.id) > BigInt(q.after!)).slice(0, limit) : all.slice(-limit);
      return slice.reverse().map((m) => ({ ...m }));
    },
  };
}

const apiMessage = (th: PostThread, i: number): APIMessage => clock.apiMessage(th.threadId, { content: `message ${i}` });

const iso = (ms: number): string => new Date(ms).toISOString();

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

  // ---------------------------------------------------------------- the page write

  const page = suite(`catch-up page write (${dialect})`);
  hooks(page);

  page('stores a page and moves the cursor; the same page again writes nothing', async () => {
    const guildId = snowflake();
    const th = await publishedPost(t.db, { guildId });
    const parent = comment(th);
    const tricky = ['', 'NULL', '{a,b}', 'quote " back \\ slash', "it's", 'line\nbreak', 'émoji 1️⃣ 👍', 'null', '\\N', ','];
    const rows = [
      parent,
      comment(th, { replyToId: parent.id, authorName: 'bob', attachments: [{ url: 'https://cdn.example/a.png', name: 'a.png', contentType: 'image/png' }] }),
      ...tricky.map((content) => comment(th, { content })),
    ];
    assert.is(await storeCatchUpPage(t.db, rows, { threadId: th.threadId, postId: th.postId, messageId: rows.at(-1)!.id }), rows.length);
    assert.is(await getCursor(t.db, th.threadId), rows.at(-1)!.id);
    const stored = await listComments(t.db, th.postId);
    assert.equal(
      stored.map((c) => ({ ...c, deletedAt: undefined })),
      rows.map((c) => ({ ...c, deletedAt: undefined })),
    );
    const guilds = await t.db.kysely.selectFrom('comments').select('guild_id').where('post_id', '=', th.postId).distinct().execute();
    assert.equal(
      guilds.map((g) => g.guild_id),
      [guildId],
      'every row carries the server of its post',
    );
    const before = JSON.stringify(stored);
    assert.is(await storeCatchUpPage(t.db, rows, { threadId: th.threadId, postId: th.postId, messageId: rows.at(-1)!.id }), 0);
    assert.is(JSON.stringify(await listComments(t.db, th.postId)), before);
  });

  page('edits are written once; stale copies, lost edit stamps and tombstones are left alone', async () => {
    const th = await publishedPost(t.db);
    const [a, b, c] = [comment(th), comment(th), comment(th)];
    await storeCatchUpPage(t.db, [a, b, c], null);
    const edited = { ...a, content: 'edited', editedAt: new Date(clock.now + 1000).toISOString() };
    assert.is(await storeCatchUpPage(t.db, [edited, b, c], null), 1, 'only the edit');
    assert.is(await storeCatchUpPage(t.db, [edited], null), 0, 'the same edit again');
    assert.is(await storeCatchUpPage(t.db, [a], null), 0, 'a copy without the edit stamp does not undo the edit');
    assert.is(
      await storeCatchUpPage(t.db, [{ ...a, content: 'older edit', editedAt: new Date(clock.now + 500).toISOString() }], null),
      0,
      'an older edit does not undo a newer one',
    );
    const newer = { ...a, content: 'newer edit', editedAt: new Date(clock.now + 2000).toISOString() };
    assert.is(await storeCatchUpPage(t.db, [newer], null), 1);
    await markCommentsDeleted(t.db, [b.id], new Date().toISOString());
    assert.is(
      await storeCatchUpPage(t.db, [{ ...b, content: 'changed', editedAt: new Date(clock.now + 3000).toISOString() }], null),
      0,
      'a tombstone is never brought back',
    );
    const stored = new Map((await listComments(t.db, th.postId)).map((x) => [x.id, x]));
    assert.is(stored.get(a.id)!.content, 'newer edit');
    assert.is(stored.get(a.id)!.editedAt, newer.editedAt);
    assert.ok(stored.get(b.id)!.deletedAt);
    assert.is(stored.get(b.id)!.content, '', 'the tombstone keeps no text (erased when deleted) and gets none back');
    assert.is(stored.get(c.id)!.content, c.content);
  });

  page('one row per id when a page repeats a message (the later copy wins)', async () => {
    const th = await publishedPost(t.db);
    const a = comment(th);
    assert.is(await storeCatchUpPage(t.db, [a, { ...a, content: 'second copy' }], null), 1);
    const stored = await listComments(t.db, th.postId);
    assert.is(stored.length, 1);
    assert.is(stored[0]!.content, 'second copy');
  });

  page('the cursor moves forward only, comparing ids as numbers; an empty page still moves it', async () => {
    const th = await publishedPost(t.db);
    const move = (messageId: string) => storeCatchUpPage(t.db, [], { threadId: th.threadId, postId: th.postId, messageId });
    assert.is(await move('99999999999999999'), 0);
    assert.is(await getCursor(t.db, th.threadId), '99999999999999999');
    await move('100000000000000000');
    assert.is(await getCursor(t.db, th.threadId), '100000000000000000', '18 digits are more than 17');
    await move('99999999999999999');
    await advanceCursor(t.db, th.threadId, th.postId, '99999999999999998');
    assert.is(await getCursor(t.db, th.threadId), '100000000000000000', 'never back');
    await advanceCursor(t.db, th.threadId, th.postId, '1234567890123456789');
    assert.is(await getCursor(t.db, th.threadId), '1234567890123456789');
  });

  page('a page that fails is not stored at all, and its cursor does not move', async () => {
    const th = await publishedPost(t.db);
    const a = comment(th);
    await storeCatchUpPage(t.db, [a], { threadId: th.threadId, postId: th.postId, messageId: a.id });
    const ghost = comment({ ...th, postId: 'no such post' });
    const b = comment(th);
    try {
      await storeCatchUpPage(t.db, [b, ghost], { threadId: th.threadId, postId: th.postId, messageId: ghost.id });
      assert.unreachable('a comment of an unknown post breaks the foreign key');
    } catch (error) {
      assert.match(String(error), /foreign key|FOREIGN KEY/i);
    }
    assert.is(await getCursor(t.db, th.threadId), a.id);
    assert.equal(
      (await listComments(t.db, th.postId)).map((c) => c.id),
      [a.id],
    );
  });

  page.run();

  // ---------------------------------------------------------------- catch-up: crash safety and resuming

  const crash = suite(`catch-up: the cursor never passes an uncommitted page (${dialect})`);
  hooks(crash);

  crash('the database fails in the middle: what is stored is exactly what the cursor covers; the next run completes it', async () => {
    const th = await publishedPost(t.db);
    const all = Array.from({ length: 450 }, (_, i) => apiMessage(th, i));
    // A handle whose queries fail once armed (a database restart while catch-up runs).
    const h = {
      down: false,
      get dialect() {
        return t.db.dialect;
      },
      get kysely() {
        if (h.down) throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
        return t.db.kysely;
      },
    };
    const port = fakePort(all, (n) => {
      if (n === 3) h.down = true; // while the first pages are being stored
    });
    try {
      await catchUpThread({ db: h, discord: port }, th);
      assert.unreachable('the failure is thrown (the job retries)');
    } catch (error) {
      assert.match(String(error), /ECONNREFUSED/);
    }
    h.down = false;
    const cursor = await getCursor(t.db, th.threadId);
    const storedIds = (await listComments(t.db, th.postId)).map((c) => c.id);
    const covered = cursor === null ? [] : all.filter((m) => BigInt(m.id) <= BigInt(cursor)).map((m) => m.id);
    assert.equal(storedIds, covered, 'the stored comments are exactly those up to the cursor');
    assert.ok(covered.length % 100 === 0 && covered.length < all.length, `stopped at a page boundary (${covered.length})`);
    const r = await catchUpThread({ db: t.db, discord: fakePort(all) }, th);
    assert.is(r.upserted, all.length - covered.length);
    assert.equal(
      (await listComments(t.db, th.postId)).map((c) => c.content),
      all.map((m) => m.content),
    );
    assert.is(await getCursor(t.db, th.threadId), all.at(-1)!.id);
  });

  crash('a bounded run stops at a page and the next run resumes from its cursor', async () => {
    const th = await publishedPost(t.db);
    const all = Array.from({ length: 250 }, (_, i) => apiMessage(th, i));
    const r1 = await catchUpThread({ db: t.db, discord: fakePort(all) }, th, { maxPages: 2 });
    assert.is(r1.upserted, 200);
    assert.is(r1.deleted, 0);
    assert.is(await getCursor(t.db, th.threadId), all[199]!.id);
    const r2 = await catchUpThread({ db: t.db, discord: fakePort(all) }, th);
    assert.is(r2.upserted, 50);
    assert.is(r2.deleted, 0);
    assert.equal(
      (await listComments(t.db, th.postId)).map((c) => c.id),
      all.map((m) => m.id),
    );
  });

  crash.run();

  // ---------------------------------------------------------------- through the emulator and the discord.js REST client

  const e2e = suite(`catch-up through REST and the Discord emulator (${dialect})`);
  hooks(e2e);

  e2e('a 260-message thread: comments in order with their reply links; edits, deletions and new replies while away', async () => {
    const discord = await startDiscordEmulator({
      guilds: [{ name: 'blog', channels: [{ name: 'posts' }] }],
      users: [{ username: 'alice' }, { username: 'bob' }],
    });
    try {
      const announcement = await discord.say(discord.botUser, 'posts', 'announcement');
      const thread = await discord.createThread(discord.botUser, 'posts', 'a thread', { fromMessage: announcement.id });
      const th = await publishedPost(t.db, { guildId: discord.guild('blog').id, threadId: thread.id, messageId: announcement.id });
      const first = await discord.say('alice', thread.id, 'the first reply');
      const made: APIMessage[] = [first];
      await discord.offline(async () => {
        for (let i = 1; i < 260; i++) {
          if (i === 130) await discord.say(discord.botUser, thread.id, 'a bot message is not a comment');
          made.push(await discord.say(i % 2 ? 'bob' : 'alice', thread.id, `reply ${i}`, i % 7 === 0 ? { replyTo: first } : {}));
        }
      });
      const port = new RestDiscordPort(createRest({ discordApiUrl: discord.restUrl, discordToken: discord.token }));
      const r1 = await catchUpThread({ db: t.db, discord: port }, th);
      assert.is(r1.status, 'ok');
      assert.is(r1.upserted, 260);
      assert.is(r1.pages, 3);
      const stored = await listComments(t.db, th.postId);
      assert.equal(
        stored.map((c) => [c.id, c.content, c.authorName]),
        made.map((m) => [m.id, m.content, fromApiMessage(m).authorName]),
      );
      assert.equal(
        stored.filter((c) => c.replyToId === first.id).map((c) => c.id),
        made.filter((_, i) => i > 0 && i % 7 === 0).map((m) => m.id),
      );
      assert.is(await getCursor(t.db, th.threadId), made.at(-1)!.id);

      // While the bot is away: an edit and a deletion among the newest, new replies.
      await discord.offline(async () => {
        await discord.edit(made[240]!, 'edited while away');
        await discord.delete(made[250]!);
        for (let i = 0; i < 5; i++) made.push(await discord.say('alice', thread.id, `late ${i}`));
      });
      const r2 = await catchUpThread({ db: t.db, discord: port }, th);
      assert.is(r2.upserted, 5 + 1);
      assert.is(r2.deleted, 1);
      const after = new Map((await listComments(t.db, th.postId)).map((c) => [c.id, c]));
      assert.is(after.size, 265);
      assert.is(after.get(made[240]!.id)!.content, 'edited while away');
      assert.ok(after.get(made[240]!.id)!.editedAt);
      assert.ok(after.get(made[250]!.id)!.deletedAt);
      assert.is(await getCursor(t.db, th.threadId), made.at(-1)!.id);
      const r3 = await catchUpThread({ db: t.db, discord: port }, th);
      assert.is(r3.upserted + r3.deleted, 0, 'idempotent');
    } finally {
      await discord.stop();
    }
  });

  e2e.run();

  // ---------------------------------------------------------------- tombstoning reads only its range of the thread

  const range = suite(`catch-up's tombstoning: the ids of its range, read from their time on (${dialect})`);
  hooks(range);

  range('the forward pass and the recheck tombstone exactly the missing ids of their ranges, at and beside every bound', async () => {
    const th = await publishedPost(t.db);
    const NOW = Date.now();
    const T0 = NOW - 2 * 3_600_000;
    // Discord: 120 replies a second apart, two hours ago (sequence 100: the ids beside each are free).
    const all = Array.from({ length: 120 }, (_, i) => discordMessage(th.threadId, T0 + i * 1000, { id: snowflakeOf(T0 + i * 1000, 100), content: `m${i}` }));
    const ids = all.map((m) => m.id);
    const at = (i: number) => ids[i]!;
    const port = fakePort(all);
    await catchUpThread({ db: t.db, discord: port }, th, { now: () => NOW });
    const cursor = at(119);
    assert.is(await getCursor(t.db, th.threadId), cursor);

    // While away: two deletions on Discord, one among the 50 newest, one older.
    for (const i of [80, 10])
      all.splice(
        all.findIndex((m) => m.id === at(i)),
        1,
      );
    const oldest = all.at(-50)!.id; // the recheck's page is the 50 newest: its range is (oldest − 1, upTo]
    const upTo = snowflakeOf(NOW - 10_000); // the read time less catch-up's clock margin, the newest reply being older
    const stored = (id: string, createdAt: string) => commentInput(th, snowflakeTime(id), { id, createdAt });
    // Replies stored by the gateway that Discord does not return (each with the time it was stored at).
    const only = {
      atLowerBound: stored((BigInt(oldest) - 1n).toString(), iso(snowflakeTime(oldest))), // `after` itself: outside
      aboveLowerBound: stored((BigInt(oldest) + 1n).toString(), iso(snowflakeTime(oldest))),
      createdAtBound: stored((BigInt(oldest) + 2n).toString(), iso(snowflakeTime(oldest) - CREATED_AT_MARGIN_MS)), // the read's created_at bound exactly
      inRangeStoredLate: stored(snowflakeOf(snowflakeTime(at(90)), 50), iso(NOW + 86_400_000)),
      belowRangeStoredLate: stored(snowflakeOf(snowflakeTime(at(60)), 50), iso(NOW + 86_400_000)), // read (created after the bound), not in range
      afterCursor: stored((BigInt(cursor) + 1n).toString(), iso(snowflakeTime(cursor) - CREATED_AT_MARGIN_MS)), // the forward pass's range and bound
      atUpperBound: stored(upTo, iso(NOW - 10_000)),
      aboveUpperBound: stored((BigInt(upTo) + 1n).toString(), iso(NOW - 10_000)), // newer than the read: never judged
    };
    await upsertComments(t.db, Object.values(only));
    const r = await catchUpThread({ db: t.db, discord: port }, th, { now: () => NOW, recent: 50 });
    const tombstones = (await listComments(t.db, th.postId)).filter((c) => c.deletedAt !== null).map((c) => c.id);
    const expected = [at(80), only.aboveLowerBound.id, only.createdAtBound.id, only.inRangeStoredLate.id, only.afterCursor.id, only.atUpperBound.id];
    assert.equal(tombstones.sort(compareSnowflakes), expected.sort(compareSnowflakes));
    assert.is(r.deleted, expected.length);
    assert.is(r.upserted, 0);
    // Outside the ranges: m10 (older than the 50 newest), `after` itself, a reply stored late but older, the newest.
    const live = new Set(await listLiveCommentIds(t.db, th.postId, th.threadId));
    for (const id of [at(10), only.atLowerBound.id, only.belowRangeStoredLate.id, only.aboveUpperBound.id]) assert.ok(live.has(id), id);
    assert.is(live.size, 120 + Object.keys(only).length - expected.length);
  });

  range("as the whole thread's live ids read and filtered (random ids, times and bounds)", async () => {
    const th = await publishedPost(t.db);
    const other = { ...th, threadId: snowflake() }; // the same post's earlier thread
    const B = Date.UTC(2026, 11, 1);
    // Times mostly a few ms apart (ids of one millisecond side by side), some up to two margins apart; created_at from
    // the margin before the id's time (exactly at it included) to much later.
    const time = fc.oneof(
      { weight: 3, arbitrary: fc.integer({ min: -4, max: 4 }) },
      { weight: 1, arbitrary: fc.integer({ min: -2 * CREATED_AT_MARGIN_MS, max: 2 * CREATED_AT_MARGIN_MS }) },
    );
    const seq = fc.integer({ min: 0, max: 6 });
    const offset = fc.oneof(
      fc.constantFrom(-CREATED_AT_MARGIN_MS, -CREATED_AT_MARGIN_MS + 1, 0),
      fc.integer({ min: -CREATED_AT_MARGIN_MS, max: 3 * CREATED_AT_MARGIN_MS }),
    );
    const row = fc.record({ time, seq, offset, deleted: fc.boolean(), otherThread: fc.boolean() });
    const bound = fc.oneof(
      fc.record({ time, seq }).map((b) => snowflakeOf(B + b.time, b.seq)),
      fc.record({ i: fc.nat(), d: fc.integer({ min: -1, max: 1 }) }), // beside one of the stored ids
    );
    let compared = 0;
    let nonEmpty = 0;
    let atBound = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(row, { maxLength: 30, selector: (r) => `${r.time}/${r.seq}` }),
        fc.option(bound, { freq: 4 }),
        fc.oneof(bound, fc.constant(snowflakeOf(B + 3 * CREATED_AT_MARGIN_MS))),
        fc.boolean(),
        async (rows, afterGen, upToGen, replyAtBound) => {
          const comments = rows.map((r) => {
            const id = snowflakeOf(B + r.time, r.seq);
            return { ...commentInput(r.otherThread ? other : th, B + r.time, { id, createdAt: iso(B + r.time + r.offset) }), deleted: r.deleted };
          });
          const pick = (b: string | { i: number; d: number }): string =>
            typeof b === 'string' ? b : comments.length ? (BigInt(comments[b.i % comments.length]!.id) + BigInt(b.d)).toString() : snowflakeOf(B);
          const after = afterGen === null ? null : pick(afterGen);
          const upTo = pick(upToGen);
          // A live reply right after `after`, in its millisecond, created exactly at the read's created_at bound.
          const next = after === null ? null : (BigInt(after) + 1n).toString();
          if (replyAtBound && next !== null && snowflakeTime(next) === snowflakeTime(after!) && !comments.some((c) => c.id === next))
            comments.push({
              ...commentInput(th, snowflakeTime(next), { id: next, createdAt: iso(snowflakeTime(next) - CREATED_AT_MARGIN_MS) }),
              deleted: false,
            });
          await rolledBack(t.db, async (tx) => {
            if (comments.length) await upsertComments(tx, comments);
            await markCommentsDeleted(
              tx,
              comments.filter((c) => c.deleted).map((c) => c.id),
              iso(B),
            );
            // Before: every live id of the thread, filtered to the range.
            const whole = (await listLiveCommentIds(tx, th.postId, th.threadId)).filter(
              (id) => (after === null || compareSnowflakes(id, after) > 0) && compareSnowflakes(id, upTo) <= 0,
            );
            const narrow = await listLiveCommentIdsBetween(tx, th, after, upTo);
            assert.equal([...narrow].sort(compareSnowflakes), [...whole].sort(compareSnowflakes));
            compared++;
            if (whole.length) nonEmpty++;
            if (after !== null && comments.some((c) => c.createdAt === iso(snowflakeTime(after) - CREATED_AT_MARGIN_MS) && whole.includes(c.id))) atBound++;
          });
        },
      ),
      { numRuns: 300 },
    );
    assert.ok(nonEmpty > 90, `${nonEmpty} of ${compared} ranges held live ids`);
    assert.ok(atBound > 30, `${atBound} ranges held a reply created exactly at the read's created_at bound`);
  });

  range.run();
}
