/**
 * The discussion's routes on both databases (fastify inject): pages of replies with opaque cursors, the post
 * JSON's first page, the embed fragment and its JSON-LD, the counts, the static files; 404 for posts of feeds
 * that are not on the web, exactly as the JSON API answers; 400 for every bad input.
 * Run alone: npx tsx test/web/http-discussion.test.ts
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../../src/config.ts';
import { VERSION } from '../../src/context.ts';
import { createHttpServer } from '../../src/http/server.ts';
import { createLogger } from '../../src/logger.ts';
import { upsertComments, type CommentInput } from '../../src/repositories/comments.ts';
import { setFeedWeb, upsertFeed } from '../../src/repositories/feeds.ts';
import { setPublishState, upsertPostFromFeed, type Post } from '../../src/repositories/posts.ts';
import type { CommentNode } from '../../src/services/blog.ts';
import { chooseAppearance } from '../../src/services/privacy.ts';
import { DIALECTS, createTestDb, type TestDb } from '../support/db.ts';
import { seedDiscussion, SEED_URL } from '../support/fixtures.ts';
import { snowflake } from '../support/snowflake.ts';

const MANY = 120;
const MANY_URL = 'https://blog.example/many';
const PRIVATE_URL = 'https://private.example/p';

interface Ctx {
  t: TestDb;
  app: FastifyInstance;
  seed: Post;
  many: Post;
  hidden: Post;
  anonName: string;
  hiddenName: string;
}

async function post(db: TestDb['db'], guildId: string, feedUrl: string, url: string): Promise<{ post: Post; threadId: string; feedId: string }> {
  const { feed } = await upsertFeed(db, { guildId, url: feedUrl, channelId: snowflake() });
  const { post: p } = await upsertPostFromFeed(
    db,
    feed,
    {
      key: url,
      url,
      title: `Post ${url}`,
      author: 'Ann',
      publishedAt: '2026-11-20T10:00:00.000Z',
      summaryHtml: '<p>Sum</p>',
      searchText: url,
      imageUrl: null,
      contentHash: url,
    },
    'pending',
  );
  const threadId = snowflake();
  await setPublishState(db, p.id, { state: 'published', channelId: feed.channelId, messageId: threadId, threadId });
  return { post: p, threadId, feedId: feed.id };
}

for (const dialect of DIALECTS) {
  const test = suite<Ctx>(`discussion routes (${dialect})`);

  test.before(async (ctx) => {
    ctx.t = await createTestDb(dialect);
    const { post: seed, guildId } = await seedDiscussion(ctx.t.db);
    ctx.seed = seed;
    await setFeedWeb(ctx.t.db, seed.feedId, true);
    const many = await post(ctx.t.db, guildId, 'https://blog.example/feed', MANY_URL);
    await setFeedWeb(ctx.t.db, many.feedId, true);
    ctx.many = many.post;
    // 120 top-level replies one minute apart, each of the first three with a reply; two share a timestamp.
    const t0 = Date.parse('2026-11-21T00:00:00Z');
    const rows: CommentInput[] = [];
    const [anon, hid] = [snowflake(), snowflake()];
    ctx.anonName = 'Ann Onymous';
    ctx.hiddenName = 'Hidden Harry';
    for (let i = 0; i < MANY; i++) {
      const createdAt = new Date(t0 + Math.min(i, MANY - 2) * 60_000).toISOString();
      const id = snowflake(t0 + i * 60_000);
      const authorId = i === 0 ? anon : i === 1 ? hid : snowflake();
      const authorName = i === 0 ? ctx.anonName : i === 1 ? ctx.hiddenName : `Reader ${i}`;
      rows.push({
        id,
        postId: many.post.id,
        threadId: many.threadId,
        authorId,
        authorName,
        content: `top ${i} **bold**`,
        replyToId: null,
        attachments: [],
        createdAt,
        editedAt: null,
      });
      if (i < 3)
        rows.push({
          id: snowflake(t0 + i * 60_000 + 1),
          postId: many.post.id,
          threadId: many.threadId,
          authorId: snowflake(),
          authorName: `Answer ${i}`,
          content: `answer to ${i}`,
          replyToId: id,
          attachments: [{ url: 'https://cdn.discordapp.com/attachments/9/9/a.png?ex=1&is=2&hm=3', name: 'a.png', contentType: 'image/png' }],
          createdAt: new Date(t0 + i * 60_000 + 1).toISOString(),
          editedAt: null,
        });
    }
    await upsertComments(ctx.t.db, rows);
    await chooseAppearance(ctx.t.db, guildId, anon, 'anonymous');
    await chooseAppearance(ctx.t.db, guildId, hid, 'hidden');
    // A feed the server did not put on the web.
    const priv = await post(ctx.t.db, guildId, 'https://private.example/feed', PRIVATE_URL);
    ctx.hidden = priv.post;
    ctx.app = await createHttpServer(
      { config: loadConfig({}, { dotenv: false }), log: createLogger('silent'), db: ctx.t.db, version: VERSION, redisHealth: async () => {} },
      { rateLimit: { max: 10_000, timeWindowMs: 60_000 } },
    );
  });

  test.after(async (ctx) => {
    await ctx.app?.close();
    await ctx.t?.close();
  });

  const get = (ctx: Ctx, url: string) => ctx.app.inject({ method: 'GET', url });
  type Page = { comments: CommentNode[]; page: { next: string | null; order: string; limit: number }; topLevel: number };

  test('GET /api/posts/:id/comments walks every top-level reply once, in order, with opaque cursors', async (ctx) => {
    for (const order of ['oldest', 'newest'] as const) {
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const res = await get(ctx, `/api/posts/${ctx.many.id}/comments?order=${order}&limit=50${cursor ? `&cursor=${cursor}` : ''}`);
        assert.is(res.statusCode, 200, res.body);
        const body = res.json() as Page;
        assert.is(body.topLevel, MANY);
        assert.ok(body.comments.length <= 50);
        seen.push(...body.comments.map((c) => c.id));
        cursor = body.page.next;
        if (cursor) assert.match(cursor, /^[A-Za-z0-9_-]+$/);
        pages++;
      } while (cursor && pages < 10);
      assert.is(pages, 3);
      assert.is(seen.length, MANY);
      assert.is(new Set(seen).size, MANY, 'no reply twice');
      const res = (await get(ctx, `/api/posts/${ctx.many.id}/comments?order=${order}&limit=100`)).json() as Page;
      const times = res.comments.map((c) => `${c.createdAt}`);
      const sorted = [...times].sort();
      assert.equal(times, order === 'oldest' ? sorted : sorted.reverse());
    }
    const first = (await get(ctx, `/api/posts/${ctx.many.id}/comments`)).json() as Page;
    assert.equal(first.page, { order: 'oldest', limit: 50, next: first.page.next });
    assert.is(first.comments[2]!.replies.length, 1, 'a top-level reply comes with its replies');
  });

  test('the replies: rendered html, privacy choices, attachments through /media/:commentId/:index only', async (ctx) => {
    const body = (await get(ctx, `/api/posts/${ctx.many.id}/comments?limit=3`)).json() as Page;
    const [anon, hidden, named] = body.comments;
    assert.ok(anon && !anon.deleted && anon.anonymous === true && anon.author === 'A member');
    assert.ok(hidden && hidden.deleted && 'hidden' in hidden);
    assert.ok(named && !named.deleted);
    if (!named.deleted) assert.is(named.html, 'top 2 <strong>bold</strong>');
    const answer = named.replies[0]!;
    assert.ok(!answer.deleted);
    if (!answer.deleted)
      assert.equal(answer.attachments, [{ url: `http://localhost:80/media/${answer.id}/0`, index: 0, name: 'a.png', contentType: 'image/png' }]);
    const text = JSON.stringify(body);
    for (const gone of [ctx.anonName, ctx.hiddenName, 'cdn.discordapp.com/attachments']) assert.not.ok(text.includes(gone), gone);
  });

  test('bad page requests are 400 with a clear message; nothing is served for a non-public or unknown post', async (ctx) => {
    for (const q of ['limit=0', 'limit=101', 'limit=abc', 'order=sideways', 'cursor=not%20base64', 'cursor=e30']) {
      const res = await get(ctx, `/api/posts/${ctx.many.id}/comments?${q}`);
      assert.is(res.statusCode, 400, q);
      assert.is(res.json().error.code, 'bad_request', q);
    }
    const oldest = (await get(ctx, `/api/posts/${ctx.many.id}/comments`)).json() as Page;
    const wrong = await get(ctx, `/api/posts/${ctx.many.id}/comments?order=newest&cursor=${oldest.page.next}`);
    assert.is(wrong.statusCode, 400);
    assert.match(wrong.json().error.message, /order=oldest/);
    for (const url of [
      `/api/posts/${ctx.hidden.id}/comments`,
      '/api/posts/nope/comments',
      `/embed/posts/${ctx.hidden.id}`,
      `/embed/posts/${ctx.hidden.id}/comments`,
    ]) {
      const res = await get(ctx, url);
      assert.is(res.statusCode, 404, url);
      assert.is(res.json().error.code, 'post_not_found', url);
    }
    const byUrl = await get(ctx, `/embed/posts?url=${encodeURIComponent(PRIVATE_URL)}`);
    assert.is(byUrl.statusCode, 404);
    assert.equal(byUrl.json(), (await get(ctx, `/api/posts?url=${encodeURIComponent(PRIVATE_URL)}`)).json(), 'the same 404 as the JSON API');
    assert.equal((await get(ctx, `/embed/posts/${ctx.hidden.id}`)).json(), (await get(ctx, `/api/posts/${ctx.hidden.id}`)).json());
    assert.is((await get(ctx, '/embed/posts')).statusCode, 400);
    assert.is((await get(ctx, '/embed/posts?url=javascript:alert(1)')).statusCode, 400);
  });

  test('GET /api/posts?url= serves the first page: 50 top-level replies and page.next; the seed post whole', async (ctx) => {
    const many = (await get(ctx, `/api/posts?url=${encodeURIComponent(MANY_URL)}`)).json() as Page & { replies: number };
    assert.is(many.comments.length, 50);
    assert.ok(many.page.next);
    assert.is(many.replies, MANY + 3, 'every live reply counts (a hidden member’s too: only its content is withheld)');
    const seed = (await get(ctx, `/api/posts?url=${encodeURIComponent(SEED_URL)}`)).json() as Page;
    assert.is(seed.comments.length, 11);
    assert.is(seed.page.next, null);
    const byId = (await get(ctx, `/api/posts/${ctx.many.id}?order=newest`)).json() as Page;
    assert.is(byId.page.order, 'newest');
    assert.is(byId.comments[0]!.createdAt > byId.comments[1]!.createdAt || byId.comments[0]!.createdAt === byId.comments[1]!.createdAt, true);
  });

  test('GET /embed/posts/:id and ?url=: the fragment with heading, header, tree, calls to action and valid JSON-LD', async (ctx) => {
    const res = await get(ctx, `/embed/posts/${ctx.seed.id}`);
    assert.is(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^text\/html/);
    assert.ok(res.headers.etag);
    const html = res.body;
    assert.match(html, /^<link rel="stylesheet" href="http:\/\/localhost:80\/widget.css"><section class="blogcord" lang="en" data-theme="auto"/);
    assert.match(html, /<h2 class="blogcord-heading" id="blogcord-h-[^"]+">Discussion on Discord<\/h2>/);
    assert.match(html, /<span class="blogcord-stars" aria-hidden="true">★★★★★<\/span> <span aria-hidden="true">5\/5 · 2 ratings<\/span>/);
    assert.match(html, /22 replies/);
    assert.match(html, /class="blogcord-join" href="https:\/\/discord.com\/channels\//);
    assert.match(html, /class="blogcord-rate" href="https:\/\/discord.com\/channels\//);
    assert.is((html.match(/<li class="blogcord-reply/g) ?? []).length, 22);
    const ld = JSON.parse(/<script type="application\/ld\+json">(.*?)<\/script>/s.exec(html)![1]!) as Record<string, any>;
    assert.is(ld['@context'], 'https://schema.org');
    assert.is(ld['@type'], 'DiscussionForumPosting');
    assert.is(ld.headline, ctx.seed.title);
    assert.is(ld.url, SEED_URL);
    assert.is(ld.commentCount, 22);
    assert.equal(ld.interactionStatistic, [{ '@type': 'InteractionCounter', interactionType: 'https://schema.org/CommentAction', userInteractionCount: 22 }]);
    assert.is(ld.aggregateRating, undefined, 'off by default');
    assert.is(ld.comment.length, 11);
    assert.is(ld.comment[0]['@type'], 'Comment');
    assert.is(typeof ld.comment[0].author.name, 'string');
    assert.ok(!Number.isNaN(Date.parse(ld.comment[0].datePublished)));
    assert.is(typeof ld.comment[0].text, 'string');
    const byUrl = await get(ctx, `/embed/posts?url=${encodeURIComponent(SEED_URL)}`);
    assert.is(byUrl.body, html, 'the same fragment by URL');
    const rated = JSON.parse(/<script type="application\/ld\+json">(.*?)<\/script>/s.exec((await get(ctx, `/embed/posts/${ctx.seed.id}?rating=1`)).body)![1]!);
    assert.equal(rated.aggregateRating, { '@type': 'AggregateRating', ratingValue: 5, ratingCount: 2, bestRating: 5, worstRating: 1 });
    const de = (await get(ctx, `/embed/posts/${ctx.seed.id}?lang=de-AT&theme=dark&level=3&style=none`)).body;
    assert.match(de, /^<section class="blogcord" lang="de" data-theme="dark"/);
    assert.match(de, /<h3 class="blogcord-heading"[^>]*>Diskussion auf Discord<\/h3>/);
    assert.match(de, /22 Antworten/);
    assert.is((await get(ctx, `/embed/posts/${ctx.seed.id}?theme=purple`)).statusCode, 400);
  });

  test('the fragment respects privacy: anonymous as "A member" (no avatar letter), hidden as a placeholder, also in JSON-LD', async (ctx) => {
    const html = (await get(ctx, `/embed/posts/${ctx.many.id}?limit=3`)).body;
    assert.not.ok(html.includes(ctx.anonName));
    assert.not.ok(html.includes(ctx.hiddenName));
    assert.match(html, /<span class="blogcord-avatar blogcord-avatar--none" aria-hidden="true"><\/span><span class="blogcord-author">A member<\/span>/);
    assert.match(html, /<p class="blogcord-deleted">Hidden reply<\/p>/);
    const ld = JSON.parse(/<script type="application\/ld\+json">(.*?)<\/script>/s.exec(html)![1]!);
    assert.is(ld.comment[0].author.name, 'A member');
    assert.match(
      html,
      /<a class="blogcord-more" href="http:\/\/localhost:80\/embed\/posts\/[^"]+\/comments\?cursor=[A-Za-z0-9_-]+&amp;order=oldest&amp;limit=3&amp;lang=en"/,
    );
  });

  test('GET /embed/posts/:id/comments: the next page as <li> items and the next "Show more"', async (ctx) => {
    const first = (await get(ctx, `/api/posts/${ctx.many.id}/comments?limit=100`)).json() as Page;
    const res = await get(ctx, `/embed/posts/${ctx.many.id}/comments?cursor=${first.page.next}&limit=100`);
    assert.is(res.statusCode, 200);
    assert.match(res.body, /^<ol class="blogcord-list blogcord-page" lang="en">/);
    assert.is((res.body.match(/<li class="blogcord-reply/g) ?? []).length, MANY - 100);
    assert.not.match(res.body, /blogcord-more/, 'the last page has no "Show more"');
  });

  test('GET /api/counts: up to 50 URLs, each found or not, labels in the asked language; 400 beyond or without any', async (ctx) => {
    const q = [SEED_URL, MANY_URL, PRIVATE_URL, 'https://nowhere.example/x'].map((u) => `url=${encodeURIComponent(u)}`).join('&');
    const res = await get(ctx, `/api/counts?${q}`);
    assert.is(res.statusCode, 200);
    const { counts } = res.json() as { counts: Array<Record<string, unknown>> };
    assert.equal(counts[0], { url: SEED_URL, found: true, id: ctx.seed.id, replies: 22, rating: { average: 5, count: 2 }, label: '22 replies · ★ 5' });
    assert.is(counts[1]!.label, `${MANY + 3} replies`);
    assert.equal(counts[2], { url: PRIVATE_URL, found: false }, 'a feed not on the web is not counted');
    assert.equal(counts[3], { url: 'https://nowhere.example/x', found: false });
    const de = (await get(ctx, `/api/counts?url=${encodeURIComponent(SEED_URL)}&lang=de`)).json() as { counts: Array<{ label: string }> };
    assert.is(de.counts[0]!.label, '22 Antworten · ★ 5');
    const one = (await get(ctx, `/api/counts?url=${encodeURIComponent(SEED_URL)}`)).json() as { counts: unknown[] };
    assert.is(one.counts.length, 1, 'a single url= is a list of one');
    const fifty = Array.from({ length: 50 }, (_, i) => `url=${encodeURIComponent(`https://a.example/${i}`)}`).join('&');
    assert.is((await get(ctx, `/api/counts?${fifty}`)).statusCode, 200);
    const over = await get(ctx, `/api/counts?${fifty}&url=${encodeURIComponent('https://a.example/50')}`);
    assert.is(over.statusCode, 400);
    assert.match(over.json().error.message, /at most 50/);
    assert.is((await get(ctx, '/api/counts')).statusCode, 400);
    assert.is((await get(ctx, '/api/counts?url=ftp%3A%2F%2Fx')).statusCode, 400);
  });

  test('static files: counts.js, widget.css, widget.js and the i18n strings, within their size budgets', async (ctx) => {
    const budgets: Array<[string, RegExp, number]> = [
      ['/widget.js', /^text\/javascript/, 10 * 1024],
      ['/widget.css', /^text\/css/, 6 * 1024],
      ['/counts.js', /^text\/javascript/, 2 * 1024],
    ];
    for (const [url, type, max] of budgets) {
      const res = await get(ctx, url);
      assert.is(res.statusCode, 200, url);
      assert.match(String(res.headers['content-type']), type);
      assert.ok(res.rawPayload.length <= max, `${url} is ${res.rawPayload.length} bytes (budget ${max})`);
      assert.is(res.headers['cross-origin-resource-policy'], 'cross-origin');
    }
    for (const [lang, heading] of [
      ['de', 'Diskussion auf Discord'],
      ['fr', 'Discussion sur Discord'],
      ['es', 'Debate en Discord'],
      ['ja', 'Discord でのディスカッション'],
      ['xx', 'Discussion on Discord'],
    ]) {
      const res = await get(ctx, `/widget/i18n/${lang}.json`);
      assert.is(res.statusCode, 200);
      assert.is(res.json().strings.heading, heading);
    }
  });

  test.run();
}
