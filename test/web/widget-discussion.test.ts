/**
 * The discussion as readers see it, in headless Chromium (Debian's /usr/bin/chromium driven by playwright-core):
 * the widget in the light and the dark theme on a thread of hostile Discord markdown (rendered, never executed;
 * spoilers revealed by click and keyboard), a 5,000-reply thread ("Show more" twice, newest first), the no-JS
 * fragment a static site includes at build time (JavaScript disabled), and axe-core on each (zero serious or
 * critical violations). Screenshots: test-output/widget-light.png, widget-dark.png, widget-big.png, widget-nojs.png;
 * with UPDATE_SCREENSHOTS=1 also docs/widget-dark.png.
 * Run alone: npx tsx test/web/widget-discussion.test.ts
 */
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import { type Browser, type Page } from 'playwright-core';
import { launchChromium } from '../support/browser.ts';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfig } from '../../src/config.ts';
import { VERSION } from '../../src/context.ts';
import { startHttpServer, type RunningHttpServer } from '../../src/http/server.ts';
import { createLogger } from '../../src/logger.ts';
import { upsertComments, type CommentInput } from '../../src/repositories/comments.ts';
import { setFeedWeb, upsertFeed } from '../../src/repositories/feeds.ts';
import { setPublishState, upsertPostFromFeed } from '../../src/repositories/posts.ts';
import { setRating } from '../support/ratings.ts';
import { createTestDb, type TestDb } from '../support/db.ts';
import { seedDiscussion } from '../support/fixtures.ts';
import { snowflake } from '../support/snowflake.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const AXE = readFileSync(`${ROOT}node_modules/axe-core/axe.min.js`, 'utf8');
const MARKDOWN_URL = 'https://blog.example/markdown';
const BIG_URL = 'https://blog.example/big';
const BIG = 5000;

interface Ctx {
  t: TestDb;
  api: RunningHttpServer;
  apiBase: string;
  blog: Server;
  blogOrigin: string;
  browser: Browser;
  seedId: string;
  pages: Map<string, string>;
}

const test = suite<Ctx>('the discussion in headless Chromium: themes, hostile markdown, 5,000 replies, no JS, axe');

function blogPage(title: string, body: string, dark = false): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${title}</title>
<style>
  body { font: 16px/1.6 Georgia, serif; max-width: 46rem; margin: 2rem auto; padding: 0 1rem; color: ${dark ? '#ddd' : '#222'}; background: ${dark ? '#111214' : '#fff'}; }
</style></head>
<body><main><article><h1>${title}</h1><p>A post of the blog.</p></article>${body}</main></body></html>`;
}

async function seedPost(db: TestDb['db'], feed: Awaited<ReturnType<typeof upsertFeed>>['feed'], url: string, title: string) {
  const { post } = await upsertPostFromFeed(
    db,
    feed,
    {
      key: url,
      url,
      title,
      author: 'Ann',
      publishedAt: '2026-11-20T10:00:00.000Z',
      summaryHtml: `<p>${title}</p>`,
      searchText: title,
      imageUrl: null,
      contentHash: url,
    },
    'pending',
  );
  const threadId = snowflake();
  await setPublishState(db, post.id, { state: 'published', channelId: feed.channelId, messageId: threadId, threadId });
  return { post, threadId };
}

test.before(async (ctx) => {
  ctx.t = await createTestDb('sqlite');
  const { post: seed, guildId } = await seedDiscussion(ctx.t.db);
  ctx.seedId = seed.id;
  const { feed } = await upsertFeed(ctx.t.db, { guildId, url: 'https://blog.example/feed', channelId: snowflake() });
  for (const id of [seed.feedId, feed.id]) await setFeedWeb(ctx.t.db, id, true);

  // A thread of Discord markdown, some of it hostile.
  const md = await seedPost(ctx.t.db, feed, MARKDOWN_URL, 'Markdown');
  const [nora, mallory] = [snowflake(), snowflake()];
  const at = (m: number) => new Date(Date.parse('2026-11-30T10:00:00Z') + m * 60_000).toISOString();
  const c = (authorId: string, authorName: string, content: string, m: number, replyToId: string | null = null): CommentInput => ({
    id: snowflake(Date.parse(at(m))),
    postId: md.post.id,
    threadId: md.threadId,
    authorId,
    authorName,
    content,
    replyToId,
    attachments: [],
    createdAt: at(m),
    editedAt: null,
  });
  const first = c(
    nora,
    'Nora',
    '# Release notes\n**Bold**, *italic*, __underlined__, ~~struck~~ and ||the ending is a secret||.\n' +
      '> Quoted from the post\n- first point\n- second point\n```js\nconst answer = 42;\n```\nDocs: [the guide](https://example.org/guide), <t:1764496800:D>, `inline()`',
    1,
  );
  const second = c(
    mallory,
    'Mallory <img src=x onerror=alert(1)>',
    `<@${nora}> look: [https://bank.example](https://evil.example/steal) [click me](javascript:window.__xss=1) ` +
      '<img src=x onerror="window.__xss=2"> <script>window.__xss=3</script> ||second **secret**|| <:blobwave:423456789012345678> https://example.org/plain',
    2,
    first.id,
  );
  await upsertComments(ctx.t.db, [first, { ...second, editedAt: at(3) }]);
  await setRating(ctx.t.db, md.post.id, snowflake(), 4, at(1));
  await setRating(ctx.t.db, md.post.id, snowflake(), 5, at(2));

  // A 5,000-reply thread: every reply top-level, one minute apart.
  const big = await seedPost(ctx.t.db, feed, BIG_URL, 'A big thread');
  const rows: CommentInput[] = [];
  for (let i = 0; i < BIG; i++) {
    const createdAt = new Date(Date.parse('2026-10-01T00:00:00Z') + i * 60_000).toISOString();
    rows.push({
      id: snowflake(Date.parse(createdAt)),
      postId: big.post.id,
      threadId: big.threadId,
      authorId: snowflake(),
      authorName: `Reader ${i}`,
      content: `Reply number ${i}, with **some** words to make it a realistic size for a comment on a blog post.`,
      replyToId: null,
      attachments: [],
      createdAt,
      editedAt: null,
    });
  }
  for (let i = 0; i < rows.length; i += 500) await upsertComments(ctx.t.db, rows.slice(i, i + 500));

  ctx.blog = createServer();
  await new Promise<void>((resolve) => ctx.blog.listen(0, '127.0.0.1', resolve));
  ctx.blogOrigin = `http://127.0.0.1:${(ctx.blog.address() as { port: number }).port}`;
  const config = loadConfig({ HTTP_CORS_ORIGINS: ctx.blogOrigin }, { dotenv: false });
  ctx.api = await startHttpServer(
    { config, log: createLogger('silent'), db: ctx.t.db, version: VERSION, redisHealth: async () => {} },
    { port: 0, host: '127.0.0.1', rateLimit: { max: 10_000, timeWindowMs: 60_000 } },
  );
  ctx.apiBase = `http://127.0.0.1:${ctx.api.port}`;
  const widget = (attrs: string) =>
    `<div id="discussion" data-blogcord ${attrs} data-api="${ctx.apiBase}"></div><script src="${ctx.apiBase}/widget.js" async></script>`;
  // A static site's build: the fragment fetched once and written into the page (no script at all).
  const fragment = await (await fetch(`${ctx.apiBase}/embed/posts/${ctx.seedId}`)).text();
  ctx.pages = new Map([
    ['/light', blogPage('Markdown', widget(`data-url="${MARKDOWN_URL}" data-theme="light"`))],
    ['/dark', blogPage('Markdown', widget(`data-url="${MARKDOWN_URL}" data-theme="dark"`), true)],
    ['/big', blogPage('A big thread', widget(`data-url="${BIG_URL}" data-order="newest"`))],
    ['/static', blogPage('What do WeChat and Lord of the Rings have in common?', `<div id="discussion">${fragment}</div>`)],
  ]);
  ctx.blog.on('request', (req, res) => {
    const html = ctx.pages.get(req.url ?? '');
    res.writeHead(html ? 200 : 404, { 'content-type': 'text/html; charset=utf-8' });
    res.end(html ?? 'not found');
  });
  ctx.browser = await launchChromium();
  mkdirSync(`${ROOT}test-output`, { recursive: true });
});

test.after(async (ctx) => {
  await ctx.browser?.close();
  await ctx.api?.close();
  if (ctx.blog) await new Promise((resolve) => ctx.blog.close(resolve));
  await ctx.t?.close();
});

async function open(
  ctx: Ctx,
  path: string,
  opts: { javaScriptEnabled?: boolean; colorScheme?: 'light' | 'dark' } = {},
): Promise<{ page: Page; problems: string[] }> {
  const context = await ctx.browser.newContext({
    viewport: { width: 860, height: 900 },
    javaScriptEnabled: opts.javaScriptEnabled ?? true,
    colorScheme: opts.colorScheme,
  });
  const page = await context.newPage();
  await page.addInitScript('globalThis.__name = (fn) => fn;');
  // No network beyond the two local servers (the emoji CDN is not reachable here; its alt text shows).
  await page.route(/^https?:\/\/(?!127\.0\.0\.1)/, (route) => route.abort());
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(e.message));
  await page.goto(`${ctx.blogOrigin}${path}`);
  return { page, problems };
}

/** axe-core on the discussion: the serious and critical violations (ids and where). */
async function axe(page: Page): Promise<string[]> {
  await page.addScriptTag({ content: AXE });
  return page.evaluate(async () => {
    const run = (
      window as unknown as {
        axe: { run(el: Element, o: object): Promise<{ violations: Array<{ id: string; impact: string; nodes: Array<{ target: string[] }> }> }> };
      }
    ).axe;
    const result = await run.run(document.querySelector('#discussion')!, { resultTypes: ['violations'] });
    return result.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  });
}

async function shot(page: Page, name: string): Promise<void> {
  const box = (await page.locator('#discussion').boundingBox())!;
  await page.screenshot({
    path: `${ROOT}test-output/${name}`,
    fullPage: true,
    clip: { x: Math.max(0, box.x - 16), y: Math.max(0, box.y - 16), width: box.width + 32, height: Math.min(box.height, 1100) + 32 },
  });
}

for (const theme of ['light', 'dark'] as const) {
  test(`${theme} theme: hostile markdown is rendered and harmless, spoilers reveal by click and keyboard, axe finds nothing serious`, async (ctx) => {
    const { page, problems } = await open(ctx, `/${theme}`);
    try {
      await page.waitForSelector('#discussion[data-blogcord-state="ready"]', { timeout: 10_000 });
      const seen = await page.evaluate(() => {
        const root = document.querySelector('#discussion')!;
        const section = root.querySelector('section.blogcord')!;
        const texts = Array.from(root.querySelectorAll<HTMLElement>('.blogcord-text'));
        return {
          theme: section.getAttribute('data-theme'),
          background: getComputedStyle(section).backgroundColor,
          stats: root.querySelector('.blogcord-stats')!.textContent,
          authors: Array.from(root.querySelectorAll('.blogcord-author')).map((a) => a.textContent),
          strong: texts[0]!.querySelector('strong')?.textContent,
          heading: texts[0]!.querySelector('.blogcord-md-h1')?.textContent,
          quote: texts[0]!.querySelector('blockquote')?.textContent?.trim(),
          items: Array.from(texts[0]!.querySelectorAll('ul > li')).map((li) => li.textContent),
          code: texts[0]!.querySelector('pre code')?.className,
          date: texts[0]!.querySelector('time')?.getAttribute('datetime'),
          mention: texts[1]!.querySelector('.blogcord-mention')?.textContent,
          host: texts[1]!.querySelector('.blogcord-md-host')?.textContent,
          emoji: texts[1]!.querySelector('img.blogcord-emoji')?.getAttribute('alt'),
          hrefs: Array.from(root.querySelectorAll('.blogcord-text a')).map((a) => a.getAttribute('href')),
          scripts: root.querySelectorAll('script:not([type="application/ld+json"])').length,
          injectedImgs: root.querySelectorAll('img:not(.blogcord-emoji)').length,
          edited: root.querySelectorAll('.blogcord-edited').length,
          xss: (window as unknown as { __xss?: number }).__xss ?? null,
          spoilerColor: getComputedStyle(root.querySelector('.blogcord-spoiler')!).color,
        };
      });
      assert.is(seen.theme, theme);
      if (theme === 'dark') assert.is(seen.background, 'rgb(30, 31, 34)');
      assert.is(seen.stats, '★★★★☆ 4.5/5 · 2 ratings · 2 replies');
      assert.equal(seen.authors, ['Nora', 'Mallory <img src=x onerror=alert(1)>']);
      assert.is(seen.strong, 'Bold');
      assert.is(seen.heading, 'Release notes');
      assert.is(seen.quote, 'Quoted from the post');
      assert.equal(seen.items, ['first point', 'second point']);
      assert.is(seen.code, 'language-js');
      assert.is(seen.date, '2025-11-30T10:00:00.000Z');
      assert.is(seen.mention, '@Nora');
      assert.is(seen.host, '(evil.example)');
      assert.is(seen.emoji, ':blobwave:');
      assert.equal(seen.hrefs, ['https://example.org/guide', 'https://evil.example/steal', 'https://example.org/plain']);
      assert.is(seen.scripts, 0);
      assert.is(seen.injectedImgs, 0);
      assert.is(seen.edited, 1);
      assert.is(seen.xss, null);
      assert.is(seen.spoilerColor, 'rgba(0, 0, 0, 0)', 'a spoiler is covered until revealed');

      // Click reveals the first spoiler; the keyboard (Tab to it, Enter) the second.
      await page.locator('.blogcord-spoiler').first().click();
      const spoilers = page.locator('.blogcord-spoiler');
      await spoilers.nth(1).focus();
      await page.keyboard.press('Enter');
      await page.locator('body').click({ position: { x: 2, y: 2 } }); // focus away: only the class keeps them shown
      const revealed = await page.evaluate(() =>
        Array.from(document.querySelectorAll('.blogcord-spoiler')).map(
          (s) => s.classList.contains('blogcord-spoiler--shown') && getComputedStyle(s).color !== 'rgba(0, 0, 0, 0)',
        ),
      );
      assert.equal(revealed, [true, true]);

      assert.equal(await axe(page), [], 'axe: no serious or critical violation');
      assert.equal(problems, []);
      await shot(page, `widget-${theme}.png`);
      if (theme === 'dark' && process.env.UPDATE_SCREENSHOTS === '1') copyFileSync(`${ROOT}test-output/widget-dark.png`, `${ROOT}docs/widget-dark.png`);
    } finally {
      await page.context().close();
    }
  });
}

test('a 5,000-reply thread: the first answer is under 100 KB, 50 newest replies, "Show more" twice adds 50 each', async (ctx) => {
  const json = await fetch(`${ctx.apiBase}/api/posts?url=${encodeURIComponent(BIG_URL)}`);
  const jsonBytes = (await json.arrayBuffer()).byteLength;
  const html = await fetch(`${ctx.apiBase}/embed/posts?url=${encodeURIComponent(BIG_URL)}`);
  const htmlBytes = (await html.arrayBuffer()).byteLength;
  assert.ok(jsonBytes < 100_000, `the JSON's first page is ${jsonBytes} bytes`);
  assert.ok(htmlBytes < 100_000, `the fragment's first page is ${htmlBytes} bytes`);

  const { page, problems } = await open(ctx, '/big');
  try {
    await page.waitForSelector('#discussion[data-blogcord-state="ready"]', { timeout: 15_000 });
    const state = () =>
      page.evaluate(() => {
        const items = Array.from(document.querySelectorAll('.blogcord-thread > li'));
        return {
          count: items.length,
          authors: items.map((li) => li.querySelector('.blogcord-author')!.textContent),
          more: document.querySelector('.blogcord-more')?.textContent ?? null,
          stats: document.querySelector('.blogcord-stats')!.textContent,
        };
      });
    const first = await state();
    assert.is(first.count, 50);
    assert.is(first.stats, 'Not rated yet · 5000 replies');
    assert.is(first.authors[0], `Reader ${BIG - 1}`, 'newest first (data-order="newest")');
    assert.is(first.more, 'Show more replies');
    await page.locator('.blogcord-more').click();
    await page.waitForFunction(() => document.querySelectorAll('.blogcord-thread > li').length === 100);
    await page.locator('.blogcord-more').click();
    await page.waitForFunction(() => document.querySelectorAll('.blogcord-thread > li').length === 150);
    const third = await state();
    assert.equal(
      third.authors,
      Array.from({ length: 150 }, (_, i) => `Reader ${BIG - 1 - i}`),
      'pages follow on without gaps or repeats',
    );
    assert.is(third.more, 'Show more replies');
    assert.equal(await axe(page), []);
    assert.equal(problems, []);
    await shot(page, 'widget-big.png');
  } finally {
    await page.context().close();
  }
});

test('without JavaScript: the fragment a static site included at build time shows the discussion, styled, with JSON-LD', async (ctx) => {
  const { page } = await open(ctx, '/static', { javaScriptEnabled: false });
  try {
    await page.waitForLoadState('load');
    const seen = await page.evaluate(() => ({
      stats: document.querySelector('.blogcord-stats')?.textContent,
      replies: document.querySelectorAll('li.blogcord-reply').length,
      listStyle: getComputedStyle(document.querySelector('.blogcord-list')!).listStyleType,
      ld: document.querySelector('script[type="application/ld+json"]')?.textContent ?? '',
      links: Array.from(document.querySelectorAll('.blogcord-actions a')).map((a) => a.textContent),
    }));
    assert.is(seen.stats, '★★★★★ 5/5 · 2 ratings · 22 replies');
    assert.is(seen.replies, 22);
    assert.is(seen.listStyle, 'none', 'the built-in stylesheet applies without JavaScript');
    assert.equal(seen.links, ['Join the discussion on Discord', 'Rate this post']);
    const ld = JSON.parse(seen.ld) as { '@type': string; comment: unknown[]; commentCount: number };
    assert.is(ld['@type'], 'DiscussionForumPosting');
    assert.is(ld.commentCount, 22);
    assert.is(ld.comment.length, 11);
    assert.equal(await page.evaluate(() => typeof (window as unknown as { blogcord?: unknown }).blogcord), 'undefined');
    await shot(page, 'widget-nojs.png');
  } finally {
    await page.context().close();
  }
  // axe needs a script: the same static page with JavaScript on (the page itself has none).
  const { page: withJs } = await open(ctx, '/static');
  try {
    assert.equal(await axe(withJs), []);
  } finally {
    await withJs.context().close();
  }
});

test.run();
