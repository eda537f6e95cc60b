// Issue 6 end to end: keycap reactions in the local Discord emulator → ratings stored by the real bot process
// (`blogcord start`), the announcement edited (debounced), the recount after downtime, a reaction storm.
import { KEYCAPS } from '../../src/domain/rating.ts';
import { PermissionFlagsBits, type APIMessage } from 'discord-api-types/v10';
import * as assert from 'uvu/assert';
import { formatRating } from '../../src/render/rating.ts';
import type { Post } from '../../src/repositories/posts.ts';
import { getRatingSummary, listRatings } from '../../src/repositories/ratings.ts';
import { eventually } from '../support/assert.ts';
import { exportJson, type BotProcess } from '../support/bot.ts';
import { announcedPost, e2eSuite, startE2eBot, type E2eContext } from '../support/e2e.ts';
import { DEFAULT_BOT_PERMISSIONS, type DiscordEmulator } from '../../emulator/index.ts';

const REFRESH_MS = 1000;
const STORM_PEOPLE = Array.from({ length: 20 }, (_, i) => `storm${i}`);

type Ctx = E2eContext & { bot: BotProcess; channelId: string };

const test = e2eSuite<Ctx>('ratings, end to end', {
  emulator: {
    guilds: [{ name: 'blog', channels: [{ name: 'posts' }] }],
    users: [
      ...['alice', 'bob', 'carol', 'dave', 'eve', 'frank'].map((username) => ({ username })),
      { username: 'otherbot', bot: true },
      ...STORM_PEOPLE.map((username) => ({ username })),
    ],
  },
});

test.before((ctx) => {
  ctx.channelId = ctx.discord.channel('posts').id;
});

const botEnv = { ANNOUNCEMENT_REFRESH_MS: String(REFRESH_MS), RECOUNT_INTERVAL_SECONDS: '3600' };

async function start(ctx: Ctx): Promise<BotProcess> {
  const bot = await startE2eBot(ctx, { env: botEnv });
  await ctx.discord.waitForReady({ timeout: 10_000 });
  await bot.waitForOutput(/connected to Discord/);
  return bot;
}

/** A published post as the publish pipeline leaves it: the bot's announcement with its five keycaps (no thread), and the row. */
async function publishedPost(ctx: Ctx, key: string): Promise<{ post: Post; message: APIMessage }> {
  const { post, announcement } = await announcedPost(ctx, key, { title: `Post ${key}`, thread: false, keycaps: true });
  return { post, message: announcement };
}

const ratingText = (d: DiscordEmulator, messageId: string) => d.message(messageId)?.embeds?.[0]?.fields?.find((f) => f.name === 'Rating')?.value;
const summary = (ctx: Ctx, postId: string) => getRatingSummary(ctx.t.db, postId);
const ratingsOf = async (ctx: Ctx, postId: string) => new Map((await listRatings(ctx.t.db, postId)).map((r) => [r.userId, r.stars]));
const id = (ctx: Ctx, name: string) => ctx.discord.user(name).id;

async function waitForRating(ctx: Ctx, postId: string, count: number, average: number, what: string) {
  await eventually(
    async () => {
      const s = await summary(ctx, postId);
      return s.count === count && s.average === average;
    },
    { timeout: 10_000, message: what },
  );
}

test('two 5️⃣ → 5/5 (2); a switch to 3️⃣ keeps one rating and the bot removes the 5️⃣; removal, 👍, bots, remove-all', async (ctx) => {
  const d = ctx.discord;
  ctx.bot = await start(ctx);
  const { post, message } = await publishedPost(ctx, 'first');

  await d.react('alice', message, '5️⃣');
  await d.react('bob', message, '5️⃣');
  await waitForRating(ctx, post.id, 2, 5, 'two 5-star ratings');
  const exported = (await exportJson(ctx.t.url)).posts.find((p) => p.id === post.id);
  assert.equal(exported.rating, { average: 5, count: 2, distribution: { '1': 0, '2': 0, '3': 0, '4': 0, '5': 2 } });
  assert.equal(
    exported.ratings.map((r: { userId: string; stars: number }) => [r.userId, r.stars]).sort(),
    [
      [id(ctx, 'alice'), 5],
      [id(ctx, 'bob'), 5],
    ].sort(),
  );
  await eventually(() => ratingText(d, message.id) === '★ 5/5 (2 ratings)', { timeout: 10_000, message: 'the announcement shows ★ 5/5 (2 ratings)' });

  // alice switches to 3️⃣: exactly one rating for her, 3, and her 5️⃣ is removed by the bot.
  await d.react('alice', message, '3️⃣');
  await waitForRating(ctx, post.id, 2, 4, 'average 4 of 2');
  const alice = (await listRatings(ctx.t.db, post.id)).filter((r) => r.userId === id(ctx, 'alice'));
  assert.equal(
    alice.map((r) => r.stars),
    [3],
  );
  await eventually(() => !d.reactions(message)!.get('5️⃣')!.includes(id(ctx, 'alice')), { message: "alice's 5️⃣ removed by the bot" });
  assert.equal(d.reactions(message).get('3️⃣'), [d.botUser.id, id(ctx, 'alice')]);
  // The remove event of that 5️⃣ reached the bot and did not remove the 3.
  await new Promise((r) => setTimeout(r, 300));
  assert.is((await ratingsOf(ctx, post.id)).get(id(ctx, 'alice')), 3);
  await eventually(() => ratingText(d, message.id) === '★ 4/5 (2 ratings)', { timeout: 10_000, message: 'the announcement shows ★ 4/5 (2 ratings)' });

  // bob removes his 5️⃣ → count 1.
  await d.unreact('bob', message, '5️⃣');
  await waitForRating(ctx, post.id, 1, 3, 'count 1');

  // 👍 from alice and a keycap from another bot change nothing. carol's 4️⃣ after them is the marker:
  // events of one announcement are applied in order, so once hers counts, the earlier ones were handled.
  await d.react('alice', message, '👍');
  await d.react('otherbot', message, '2️⃣');
  await d.react('carol', message, '4️⃣');
  await waitForRating(ctx, post.id, 2, 3.5, 'carol counted');
  assert.equal(
    await ratingsOf(ctx, post.id),
    new Map([
      [id(ctx, 'alice'), 3],
      [id(ctx, 'carol'), 4],
    ]),
  );
  assert.ok(d.reactions(message).get('2️⃣')!.includes(id(ctx, 'otherbot')), "the bot leaves other bots' reactions alone");

  // A moderator clears every reaction → count 0, "Be the first to rate".
  await d.removeAllReactions(message);
  await waitForRating(ctx, post.id, 0, 0, 'remove-all');
  await eventually(() => ratingText(d, message.id) === 'Be the first to rate', { timeout: 10_000, message: 'the announcement invites to rate' });
  const botId = d.botUser.id;
  await eventually(() => ['1️⃣', '2️⃣', '3️⃣', '4️⃣', '5️⃣'].every((e) => d.reactions(message).get(e)?.includes(botId)), {
    timeout: 10_000,
    message: "the bot's five keycaps are back after remove-all",
  });
  assert.is(await ratingsOf(ctx, post.id).then((r) => r.size), 0, "the bot's own keycaps are not ratings");

  // remove-emoji takes the ratings of that keycap only.
  const second = await publishedPost(ctx, 'emoji');
  await d.react('alice', second.message, '5️⃣');
  await d.react('bob', second.message, '2️⃣');
  await waitForRating(ctx, second.post.id, 2, 3.5, 'two ratings on the second post');
  await d.removeEmoji(second.message, '5️⃣');
  await waitForRating(ctx, second.post.id, 1, 2, 'remove-emoji 5️⃣');
  assert.equal(await ratingsOf(ctx, second.post.id), new Map([[id(ctx, 'bob'), 2]]));
  await eventually(() => d.reactions(second.message).get('5️⃣')?.includes(botId), { timeout: 10_000, message: "the bot's 5️⃣ is back after remove-emoji" });
  assert.not.match(ctx.bot.output(), /listener failed/);
});

test('without Manage Messages: switching still gives one rating (the latest) and the old reaction stays', async (ctx) => {
  const d = ctx.discord;
  await d.setBotPermissions('blog', DEFAULT_BOT_PERMISSIONS & ~PermissionFlagsBits.ManageMessages);
  try {
    const { post, message } = await publishedPost(ctx, 'no-manage');
    d.clearRequests();
    await d.react('carol', message, '5️⃣');
    await waitForRating(ctx, post.id, 1, 5, 'carol 5');
    await d.react('carol', message, '2️⃣');
    await waitForRating(ctx, post.id, 1, 2, 'carol switched to 2');
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(d.reactions(message).get('5️⃣')!.includes(id(ctx, 'carol')), 'the old reaction stays');
    assert.ok(d.reactions(message).get('2️⃣')!.includes(id(ctx, 'carol')));
    assert.is(d.requests.filter((r) => r.method === 'DELETE' && r.path.includes('/reactions/')).length, 0, 'no removal was attempted');
    assert.equal(await ratingsOf(ctx, post.id), new Map([[id(ctx, 'carol'), 2]]));
    // She removes the 2️⃣ that held her rating; her 5️⃣ is still on the message, so the on-demand recount counts it.
    await d.unreact('carol', message, '2️⃣');
    await waitForRating(ctx, post.id, 1, 5, 'the recount lets the 5️⃣ she still shows count');
    assert.ok(d.reactions(message).get('5️⃣')!.includes(id(ctx, 'carol')));
  } finally {
    await d.setBotPermissions('blog', DEFAULT_BOT_PERMISSIONS);
  }
});

test('with the bot stopped, reactions added and removed are reflected soon after start (recount)', async (ctx) => {
  const d = ctx.discord;
  const { post, message } = await publishedPost(ctx, 'downtime');
  await d.react('eve', message, '5️⃣');
  await d.react('dave', message, '2️⃣');
  await waitForRating(ctx, post.id, 2, 3.5, 'eve and dave before the downtime');
  await eventually(() => ratingText(d, message.id) === '★ 3.5/5 (2 ratings)', { timeout: 10_000, message: 'announcement before the downtime' });

  assert.is(await ctx.bot.stop(), 0);
  await d.unreact('eve', message, '5️⃣'); // removed while down
  await d.react('alice', message, '4️⃣'); // added while down
  await d.react('frank', message, '1️⃣'); // two keycaps while down: settles to the highest, 3
  await d.react('frank', message, '3️⃣');
  await d.unreact('dave', message, '2️⃣'); // dave switches to 5 while down
  await d.react('dave', message, '5️⃣');

  const t0 = Date.now();
  ctx.bot = await start(ctx);
  const connectedMs = Date.now() - t0;
  await eventually(
    async () => {
      const r = await ratingsOf(ctx, post.id);
      return r.size === 3 && r.get(id(ctx, 'alice')) === 4 && r.get(id(ctx, 'frank')) === 3 && r.get(id(ctx, 'dave')) === 5;
    },
    { timeout: 60_000, message: 'the recount after start' },
  );
  const reflectedMs = Date.now() - t0;
  await eventually(() => ratingText(d, message.id) === '★ 4/5 (3 ratings)', { timeout: 10_000, message: 'the announcement after the recount' });
  const shownMs = Date.now() - t0;
  await eventually(() => !d.reactions(message).get('1️⃣')!.includes(id(ctx, 'frank')), { message: "frank's extra 1️⃣ removed by the recount" });
  console.log(
    `    recount after downtime: the bot was connected ${connectedMs} ms after the start; ratings reflected at ${reflectedMs} ms, announcement at ${shownMs} ms`,
  );
  if (process.env.DEBUG_RATINGS)
    console.log(
      ctx.bot
        .output()
        .split('\n')
        .filter((l) => /recount|running|connected|failed|migration/.test(l))
        .join('\n'),
    );
  assert.ok(reflectedMs < 60_000);
});

test('super reactions count like normal ones: live add and remove, kept and added by the recount after downtime; taking back one kind keeps the other', async (ctx) => {
  const d = ctx.discord;
  const { post, message } = await publishedPost(ctx, 'super');
  await d.react('alice', message, '5️⃣', { burst: true });
  await waitForRating(ctx, post.id, 1, 5, "alice's super 5️⃣ counts live");

  assert.is(await ctx.bot.stop(), 0);
  await d.react('bob', message, '4️⃣', { burst: true }); // while the bot is down
  const requestsBefore = d.requests.length;
  ctx.bot = await start(ctx);
  await ctx.bot.waitForOutput(/recount finished/, 60_000);
  const after = await ratingsOf(ctx, post.id);
  assert.equal([after.get(id(ctx, 'alice')), after.get(id(ctx, 'bob')), after.size], [5, 4, 2], 'the recount keeps the super-reacted 5 and adds the 4');
  const read = d.requests
    .slice(requestsBefore)
    .filter((r) => r.route === 'GET /channels/{channel_id}/messages/{message_id}/reactions/{emoji}' && r.params.message_id === message.id);
  assert.ok(
    read.some((r) => r.query.type === '1'),
    'the recount asks for the super reactors (type=1)',
  );

  await d.unreact('alice', message, '5️⃣', { burst: true });
  await waitForRating(ctx, post.id, 1, 4, "alice's rating goes with her super reaction");

  await d.react('carol', message, '3️⃣');
  await d.react('carol', message, '3️⃣', { burst: true });
  await waitForRating(ctx, post.id, 2, 3.5, "carol's 3️⃣ (both kinds) is one rating");
  const mark = d.requests.length;
  await d.unreact('carol', message, '3️⃣', { burst: true });
  // Her normal 3️⃣ is still there: the removal of the super one is followed by a recount of the post, which keeps her 3.
  await eventually(
    async () =>
      d.requests
        .slice(mark)
        .some(
          (r) => r.route === 'GET /channels/{channel_id}/messages/{message_id}/reactions/{emoji}' && r.params.message_id === message.id && r.query.type === '1',
        ) && (await ratingsOf(ctx, post.id)).get(id(ctx, 'carol')) === 3,
    { timeout: 15_000, message: "carol's rating after the recount that followed her taking back the super 3️⃣" },
  );
  await waitForRating(ctx, post.id, 2, 3.5, 'bob 4 and carol 3');
});

test('a storm of 200 reaction toggles by 20 people settles exactly; the announcement is edited no more often than the debounce allows', async (ctx) => {
  const d = ctx.discord;
  const { post, message } = await publishedPost(ctx, 'storm');
  d.clearRequests();
  // A seeded pseudo-random storm of keycap toggles (a toggle that changes nothing in Discord sends no event).
  let seed = 42;
  const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), Math.floor((seed / 2 ** 31) * n));
  const events = Array.from({ length: 200 }, () => {
    const user = STORM_PEOPLE[rand(STORM_PEOPLE.length)]!;
    const emoji = KEYCAPS[rand(5)]!;
    // Adds outnumber removals (3:2), so the storm ends with many people rating.
    const type = rand(5) < 3 ? ('react' as const) : ('unreact' as const);
    return { type, user, message: message.id, emoji };
  });
  // In five bursts of 40, 500 ms apart, so the storm outlasts the debounce and the edit rate can be seen.
  const started = Date.now();
  for (let i = 0; i < events.length; i += 40) {
    if (i) await new Promise((r) => setTimeout(r, 500));
    await d.storm(events.slice(i, i + 40));
  }

  // Settled: every person shows at most one keycap, and the ratings are exactly those keycaps.
  const expected = () => {
    const byUser = new Map<string, number[]>();
    for (const [emoji, users] of d.reactions(message)) {
      const stars = KEYCAPS.indexOf(emoji as (typeof KEYCAPS)[number]) + 1;
      if (stars === 0) continue;
      for (const u of users) if (u !== d.botUser.id) byUser.set(u, [...(byUser.get(u) ?? []), stars]);
    }
    return byUser;
  };
  let last = '';
  await eventually(
    async () => {
      const want = expected();
      const got = await ratingsOf(ctx, post.id);
      const oneEach = [...want.values()].every((s) => s.length === 1);
      const same = got.size === want.size && [...want].every(([u, s]) => got.get(u) === s[0]);
      // The bot's removals of old keycaps are still landing until its DELETEs have stopped for a while.
      const lastDelete = d.requests.filter((r) => r.method === 'DELETE').at(-1)?.at ?? 0;
      last = JSON.stringify({ want: [...want], got: [...got] });
      return oneEach && same && Date.now() - lastDelete > 1500;
    },
    { timeout: 20_000, interval: 200, message: `the storm settled (${last})` },
  );
  const settledMs = Date.now() - started;
  const final = await summary(ctx, post.id);
  await eventually(() => ratingText(d, message.id) === formatRating(final), {
    timeout: 10_000,
    message: `the announcement shows the final rating ${JSON.stringify(final)}, not ${ratingText(d, message.id)}`,
  });
  // Quiet for a while: no further edits come, and nothing moved.
  await new Promise((r) => setTimeout(r, REFRESH_MS * 2));
  assert.equal(await summary(ctx, post.id), final, 'still the final state');
  const patches = d.requests.filter((r) => r.method === 'PATCH' && r.params.message_id === message.id && r.status < 300).map((r) => r.at);
  const elapsed = patches.at(-1)! - patches[0]!;
  const gaps = patches.slice(1).map((at, i) => at - patches[i]!);
  console.log(
    `    storm: ${events.length} toggles, ${final.count} ratings at the end, settled in ${settledMs} ms; ${patches.length} edits over ${elapsed} ms, smallest gap ${gaps.length ? Math.min(...gaps) : '-'} ms; ${d.requests.filter((r) => r.method === 'DELETE').length} reaction removals by the bot`,
  );
  assert.ok(patches.length >= 1, 'the announcement was edited');
  assert.ok(patches.length <= Math.floor(elapsed / REFRESH_MS) + 1, `${patches.length} edits in ${elapsed} ms`);
  for (const g of gaps) assert.ok(g >= REFRESH_MS - 50, `two edits only ${g} ms apart`);
  assert.not.match(ctx.bot.output(), /listener failed/);
});

test.run();
