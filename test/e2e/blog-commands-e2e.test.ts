/**
 * /blog latest|search|show|top end to end: the real bot process (`blogcord start`) against the Discord
 * emulator, reading a file-backed SQLite database seeded with the seed post and its discussion. The same
 * process serves the HTTP API on HTTP_PORT (checked at the end). Plus the message builders at Discord's limits.
 * Run alone: npx tsx test/blog-commands-e2e.test.ts
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import blog, { latestMessage, searchMessage, showMessage, topMessage } from '../../commands/blog.ts';
import type { Command } from '../../src/discord/command.ts';
import { validateMessagePayload } from '../../src/render/limits.ts';
import { removeFeed, setFeedWeb, upsertFeed } from '../../src/repositories/feeds.ts';
import { setPublishState, upsertPostFromFeed, type Post } from '../../src/repositories/posts.ts';
import { setRating } from '../support/ratings.ts';
import type { PostSummaryView, PostView } from '../../src/services/blog.ts';
import type { BotProcess } from '../support/bot.ts';
import { e2eSuite, startE2eBot, type E2eContext } from '../support/e2e.ts';
import { seedDiscussion, SEED_URL } from '../support/fixtures.ts';
import { freePort } from '../support/services.ts';
import { snowflake } from '../support/snowflake.ts';

const SEED_TITLE = 'What do WeChat and Lord of the Rings have in common?';
const DAY = 86_400_000;

interface Ctx extends E2eContext {
  bot: BotProcess;
  seed: Post;
  threadId: string;
  recent: Post;
  older: Post;
  known: Post;
  httpPort: number;
}

const e2e = e2eSuite<Ctx>('/blog through the emulator with the real bot', {
  emulator: { guilds: [{ name: 'blog', channels: [{ name: 'posts', type: 'text' }] }], users: [{ username: 'alice' }] },
  commands: true,
});

e2e.before(async (ctx) => {
  const db = ctx.t.db;
  const seeded = await seedDiscussion(db, ctx.guildId);
  // The announcement and its thread exist in Discord (the emulator), so the links in the answers are real.
  const postsChannel = ctx.discord.channel('posts').id;
  const announcement = await ctx.discord.say('alice', 'posts', SEED_TITLE);
  ctx.threadId = (await ctx.discord.createThread('alice', 'posts', 'What do WeChat and Lord of the Rings have…', { fromMessage: announcement })).id;
  await setPublishState(db, seeded.post.id, { state: 'published', channelId: postsChannel, messageId: announcement.id, threadId: ctx.threadId });
  ctx.seed = seeded.post;

  const { feed } = await upsertFeed(db, { guildId: ctx.guildId, url: 'https://blog.example/feed', channelId: postsChannel });
  const add = async (key: string, title: string, publishedAt: string, state: 'pending' | 'known' = 'pending') =>
    (
      await upsertPostFromFeed(
        db,
        feed,
        {
          key,
          url: `https://blog.example/${key}`,
          title,
          author: 'Ann',
          publishedAt,
          summaryHtml: `<p>${title} summary</p>`,
          searchText: `${title} summary`,
          imageUrl: null,
          contentHash: key,
        },
        state,
      )
    ).post;
  ctx.recent = await add('recent', 'Zeppelins over Rotterdam', new Date(Date.now() - 2 * DAY).toISOString());
  ctx.older = await add('older', 'Tea ceremonies, explained', new Date(Date.now() - 20 * DAY).toISOString());
  ctx.known = await add('known', 'An old WeChat note never published', '2016-01-01T00:00:00.000Z', 'known');
  // Published without Discord ids: nothing for the bot's catch-up or recount to reconcile against the emulator.
  for (const p of [ctx.recent, ctx.older]) await setPublishState(db, p.id, { state: 'published' });
  await setRating(db, ctx.recent.id, snowflake(), 5, new Date().toISOString());
  for (let i = 0; i < 3; i++) await setRating(db, ctx.older.id, snowflake(), 4, new Date().toISOString());
  // Another server's post must never show up here.
  await seedDiscussion(db, snowflake());
  // Nothing to poll (the feeds stay unreachable from tests), and the seed announcement is years old, so
  // catch-up and the rating recount (both look at recent announcements) leave the seeded mirror alone.
  for (const f of await db.kysely.selectFrom('feeds').select('id').execute()) await removeFeed(db, f.id);
  await db.kysely.updateTable('posts').set({ discovered_at: '2017-10-12T00:00:00.000Z' }).where('id', '=', ctx.seed.id).execute();
  // The server put the seed's feed on the web (/web enable): the HTTP API serves only public feeds.
  await setFeedWeb(db, ctx.seed.feedId, true);

  ctx.httpPort = await freePort();
  ctx.bot = await startE2eBot(ctx, { env: { HTTP_PORT: String(ctx.httpPort), HTTP_CORS_ORIGINS: 'https://digitalstrategy.rsm.nl' } });
  await ctx.discord.waitForReady({ timeout: 15_000 });
});

const run = (ctx: Ctx, subcommand: string, options: Record<string, string | number> = {}) =>
  ctx.discord.runCommand('alice', 'posts', 'blog', { subcommand, options, timeout: 10_000 });

e2e('/blog latest: the newest served posts of this server, with rating, replies and thread link', async (ctx) => {
  const res = await run(ctx, 'latest', { count: 5 });
  assert.not.ok(res.ephemeral);
  const embed = res.embeds[0]!;
  assert.is(embed.title, 'Latest posts');
  const d = embed.description!;
  assert.ok(d.indexOf('Zeppelins over Rotterdam') < d.indexOf('Tea ceremonies') && d.indexOf('Tea ceremonies') < d.indexOf(SEED_TITLE), d);
  assert.ok(d.includes('★ 5/5 (2 ratings)') && d.includes('22 replies'), d);
  assert.ok(d.includes(`https://discord.com/channels/${ctx.guildId}/${ctx.threadId}`), d);
  assert.not.ok(d.includes('never published'), 'a known post is not served');
  assert.is(d.split(SEED_TITLE).length - 1, 1, "another server's copy of the seed post is not listed");
  const one = await run(ctx, 'latest', { count: 1 });
  assert.ok(one.embeds[0]!.description!.includes('Zeppelins') && !one.embeds[0]!.description!.includes('Tea'));
});

e2e('/blog search: a ranked hit, a clear miss, and FTS syntax that does not throw', async (ctx) => {
  const hit = await run(ctx, 'search', { query: 'wechat RINGS' });
  assert.ok(hit.embeds[0]?.description?.includes(SEED_TITLE), JSON.stringify(hit.embeds));
  assert.not.ok(hit.embeds[0]!.description!.includes('never published'));
  const prefix = await run(ctx, 'search', { query: 'zeppel' });
  assert.ok(prefix.embeds[0]?.description?.startsWith('**[Zeppelins over Rotterdam]'), 'word prefixes match');
  const miss = await run(ctx, 'search', { query: 'quantum chromodynamics' });
  assert.is(miss.content, 'No posts match “quantum chromodynamics”. Try fewer or other words.');
  assert.is(miss.embeds.length, 0);
  for (const query of ['"wechat" OR (NEAR(lord* -', 'title:wechat AND "unbalanced', '微信 指环王', "l'anneau — «ring»", '***', '%_\\']) {
    const res = await run(ctx, 'search', { query });
    assert.not.match(res.content, /Something went wrong/, query);
    assert.ok(res.embeds.length === 1 || /^(No posts match|There is nothing to search for)/.test(res.content), `${query}: ${res.content}`);
  }
  const syntax = await run(ctx, 'search', { query: '"wechat" OR (NEAR(lord* -' });
  assert.ok(syntax.embeds[0]?.description?.includes(SEED_TITLE), 'the words inside FTS syntax still search');
  const nothing = await run(ctx, 'search', { query: '***' });
  assert.match(nothing.content, /nothing to search for/);
});

e2e('/blog show: autocomplete by title; the post with bars, "5/5 (2 ratings)", replies and the thread link', async (ctx) => {
  const choices = await ctx.discord.autocomplete('alice', 'posts', 'blog', { subcommand: 'show', focused: 'post', value: 'lord of the' });
  assert.equal(choices, [{ name: SEED_TITLE, value: ctx.seed.id }]);
  const empty = await ctx.discord.autocomplete('alice', 'posts', 'blog', { subcommand: 'show', focused: 'post', value: '' });
  assert.is(empty.length, 3, 'nothing typed: the newest served posts');
  const res = await run(ctx, 'show', { post: String(choices[0]!.value) });
  const embed = res.embeds[0]!;
  assert.is(embed.title, SEED_TITLE);
  assert.is(embed.url, SEED_URL);
  const field = (name: string) => embed.fields!.find((f) => f.name === name)!.value;
  assert.ok(field('Rating').includes('★ 5/5 (2 ratings)'), field('Rating'));
  assert.ok(field('Rating').includes('5★ ██████████ 2') && field('Rating').includes('1★ ░░░░░░░░░░ 0'), field('Rating'));
  assert.is(field('Replies'), '💬 22 replies');
  assert.ok(field('Discussion').includes(`(https://discord.com/channels/${ctx.guildId}/${ctx.threadId})`), field('Discussion'));
  assert.ok(embed.description && embed.description.length > 20, 'the summary');
  const typed = await run(ctx, 'show', { post: 'tea ceremonies' });
  assert.is(typed.embeds[0]?.title, 'Tea ceremonies, explained', 'free text without picking a suggestion still finds the post');
  const none = await run(ctx, 'show', { post: 'no such post anywhere' });
  assert.match(none.content, /^No post matches “no such post anywhere”/);
  const known = await run(ctx, 'show', { post: ctx.known.id });
  assert.match(known.content, /^No post matches/, 'a known post is not served even by id');
});

e2e('/blog top: Bayesian ranking with its one-line explanation; an empty period is a clear answer', async (ctx) => {
  const all = await run(ctx, 'top', { period: 'all' });
  const embed = all.embeds[0]!;
  assert.is(embed.title, 'Top rated of all time');
  const d = embed.description!;
  // C = (5+5+5+4+4+4)/6 = 4.5: seed (2×5★) 4.64 > recent (1×5★) 4.58 > older (3×4★) 4.31.
  assert.ok(d.startsWith(`1. **[${SEED_TITLE}]`), d);
  assert.ok(d.indexOf('2. **[Zeppelins') > 0 && d.indexOf('3. **[Tea ceremonies') > d.indexOf('2. **[Zeppelins'), d);
  assert.match(embed.footer!.text, /^Ranked by Bayesian average: a post's ratings plus 5 at this server's mean \(4\.5★\)/);
  const week = await run(ctx, 'top', { period: 'week' });
  assert.ok(week.embeds[0]!.description!.startsWith('1. **[Zeppelins'), 'this week: only the post published two days ago');
  assert.not.ok(week.embeds[0]!.description!.includes('Tea'));
  const month = await run(ctx, 'top', { period: 'month' });
  assert.ok(month.embeds[0]!.description!.includes('Tea ceremonies') && !month.embeds[0]!.description!.includes(SEED_TITLE));
});

e2e('the same process serves the HTTP API on HTTP_PORT', async (ctx) => {
  await ctx.bot.waitForOutput(/http api listening/);
  const base = `http://127.0.0.1:${ctx.httpPort}`;
  const health = await fetch(`${base}/healthz`);
  assert.is(health.status, 200);
  const res = await fetch(`${base}/api/posts?url=${encodeURIComponent(SEED_URL)}&guild=${ctx.guildId}`, {
    headers: { origin: 'https://digitalstrategy.rsm.nl' },
  });
  assert.is(res.status, 200);
  assert.is(res.headers.get('access-control-allow-origin'), 'https://digitalstrategy.rsm.nl');
  const view = (await res.json()) as PostView;
  assert.equal(
    [view.replies, view.rating.label, view.discord.threadUrl],
    [22, '★ 5/5 (2 ratings)', `https://discord.com/channels/${ctx.guildId}/${ctx.threadId}`],
  );
  assert.is(view.comments.length, 11);
  const code = await ctx.bot.stop();
  assert.is(code, 0);
  await fetch(`${base}/healthz`).then(
    () => assert.unreachable('the API closes with the process'),
    () => {},
  );
});

e2e.run();

// ------------------------------------------------------------------ the answers at Discord's limits

const limits = suite('/blog answers fit Discord');

function fakePost(i: number, long = false): PostSummaryView {
  return {
    id: `p${i}`,
    guildId: '123456789012345678',
    title: long ? `${'Very long *title* with [brackets] '.repeat(20)}${i}` : `Post ${i}`,
    url: long ? `https://blog.example/${'x'.repeat(2000)}` : `https://blog.example/${i}`,
    author: 'Ann',
    publishedAt: '2026-11-20T10:00:00.000Z',
    rating: { average: 4.5, count: 2, distribution: { '1': 0, '2': 0, '3': 0, '4': 1, '5': 1 }, label: '★ 4.5/5 (2 ratings)' },
    replies: 3,
    discord: { threadUrl: 'https://discord.com/channels/123456789012345678/223456789012345678', messageUrl: null },
  };
}

limits('ten long posts, huge URLs and summaries still make valid messages', () => {
  const many = Array.from({ length: 10 }, (_, i) => fakePost(i, true));
  for (const payload of [
    latestMessage(many),
    searchMessage('x'.repeat(100), many),
    topMessage('all', { posts: many.map((p) => ({ ...p, score: 4 })), priorMean: 4.123, priorWeight: 5, since: null }),
  ]) {
    assert.equal(validateMessagePayload(payload), []);
    assert.is(payload.allowed_mentions?.parse?.length, 0);
  }
  const view: PostView = { ...fakePost(1, true), discussion: 'open', summary: '@everyone '.repeat(1000), imageUrl: 'https://blog.example/i.png', comments: [] };
  const show = showMessage(view);
  assert.equal(validateMessagePayload(show), []);
  assert.not.match(JSON.stringify(show), /@everyone/, 'mentions are neutralised');
});

limits('nothing found is a clear answer, not an error', () => {
  assert.is(latestMessage([]).content, 'No posts have been published in this server yet.');
  assert.is(searchMessage('nope', []).content, 'No posts match “nope”. Try fewer or other words.');
  assert.match(searchMessage('?!', []).content!, /nothing to search for/);
  assert.match(topMessage('week', { posts: [], priorMean: 3, priorWeight: 5, since: null }).content!, /No rated posts were published in the last 7 days/);
  assert.match(topMessage('all', { posts: [], priorMean: 3, priorWeight: 5, since: null }).content!, /No post has been rated yet/);
  const unrated: PostView = {
    ...fakePost(2),
    rating: { average: 0, count: 0, distribution: { '1': 0, '2': 0, '3': 0, '4': 0, '5': 0 }, label: 'Be the first to rate' },
    replies: 0,
    discussion: 'open',
    summary: '',
    imageUrl: null,
    comments: [],
    discord: { threadUrl: null, messageUrl: null },
  };
  const show = showMessage(unrated).embeds![0]!;
  assert.match(show.fields![0]!.value, /Be the first to rate/);
  assert.is(show.fields![2]!.value, 'Not announced on Discord yet');
});

limits('the command definition: not admin, four subcommands, show autocompletes', () => {
  assert.not.ok((blog as Command).admin, 'members use /blog');
  const subs = (blog.data.options ?? []) as Array<{ name: string; options?: Array<{ name: string; autocomplete?: boolean }> }>;
  assert.equal(
    subs.map((s) => s.name),
    ['latest', 'search', 'show', 'top'],
  );
  assert.ok(subs[2]!.options![0]!.autocomplete);
});

limits.run();
