/**
 * The blog widget in headless Chromium (Debian's /usr/bin/chromium driven by playwright-core): a local blog
 * page on one origin embeds the snippet served by the HTTP API on another origin (CORS for real), for the
 * seed post, a post with hostile content, and a page that has no discussion.
 * Saves test-output/widget-full.png (the whole widget) and test-output/widget.png (its top); with
 * UPDATE_SCREENSHOTS=1 also a copy of that in docs/widget.png (the screenshot in docs/web.md), which a plain test run
 * leaves alone (rendering differs slightly between machines, and a test must not change tracked files).
 * Run alone: npx tsx test/web/widget.test.ts
 */
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import { type Browser } from 'playwright-core';
import { launchChromium } from '../support/browser.ts';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfig } from '../../src/config.ts';
import { VERSION } from '../../src/context.ts';
import { startHttpServer, type RunningHttpServer } from '../../src/http/server.ts';
import { createLogger } from '../../src/logger.ts';
import { upsertComments } from '../../src/repositories/comments.ts';
import { setFeedWeb, upsertFeed } from '../../src/repositories/feeds.ts';
import { setPublishState, upsertPostFromFeed } from '../../src/repositories/posts.ts';
import { createTestDb, type TestDb } from '../support/db.ts';
import { loadSeed, seedDiscussion, SEED_URL } from '../support/fixtures.ts';
import { chooseAppearance } from '../../src/services/privacy.ts';
import { snowflake } from '../support/snowflake.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const HOSTILE_URL = 'https://blog.example/hostile';
const PRIVATE_URL = 'https://blog.example/members-choose';
const HOSTILE = `<img src=x onerror="window.__xss=1"><script>window.__xss=2</script> **bold** https://example.org/page).`;

interface Ctx {
  t: TestDb;
  api: RunningHttpServer;
  blog: Server;
  blogOrigin: string;
  browser: Browser;
  threadUrl: string;
  messageUrl: string;
  hostileThreadUrl: string;
  hostileMessageUrl: string;
}

const test = suite<Ctx>('blog widget in headless Chromium');

function page(apiBase: string): string {
  const { post } = loadSeed();
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${post.title}</title>
<style>
  body { font: 16px/1.6 Georgia, serif; max-width: 46rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
  /* A blog's own theme: one custom property, no !important needed. */
  .blogcord { --blogcord-accent: #b03060; }
</style></head>
<body>
  <article><h1>${post.title}</h1><p>${post.paragraphs[0]}</p></article>
  <div id="seed" data-blogcord data-url="${SEED_URL}" data-api="${apiBase}"></div>
  <div id="hostile" data-blogcord data-url="${HOSTILE_URL}" data-api="${apiBase}" data-heading="Comments" data-heading-level="3"></div>
  <div id="private" data-blogcord data-url="${PRIVATE_URL}" data-api="${apiBase}"></div>
  <div id="missing" data-blogcord data-url="https://blog.example/not-discussed" data-api="${apiBase}"></div>
  <script src="${apiBase}/widget.js" async></script>
</body></html>`;
}

test.before(async (ctx) => {
  ctx.t = await createTestDb('sqlite');
  const { post, guildId } = await seedDiscussion(ctx.t.db);
  ctx.threadUrl = `https://discord.com/channels/${guildId}/${post.threadId}`;
  ctx.messageUrl = `https://discord.com/channels/${guildId}/${post.channelId}/${post.messageId}`;
  // A second post whose reply tries to inject markup.
  const { feed } = await upsertFeed(ctx.t.db, { guildId, url: 'https://blog.example/feed', channelId: snowflake() });
  const hostile = (
    await upsertPostFromFeed(
      ctx.t.db,
      feed,
      {
        key: 'h',
        url: HOSTILE_URL,
        title: 'Hostile',
        author: null,
        publishedAt: null,
        summaryHtml: null,
        searchText: 'Hostile',
        imageUrl: null,
        contentHash: 'h',
      },
      'pending',
    )
  ).post;
  const threadId = snowflake();
  await setPublishState(ctx.t.db, hostile.id, { state: 'published', channelId: feed.channelId, messageId: threadId, threadId });
  ctx.hostileThreadUrl = `https://discord.com/channels/${guildId}/${threadId}`;
  ctx.hostileMessageUrl = `https://discord.com/channels/${guildId}/${feed.channelId}/${threadId}`;
  // The server put both feeds on the web (/web enable): the widget serves only public feeds.
  for (const id of [post.feedId, feed.id]) await setFeedWeb(ctx.t.db, id, true);
  await upsertComments(ctx.t.db, [
    {
      id: snowflake(),
      postId: hostile.id,
      threadId,
      authorId: snowflake(),
      authorName: '<b onmouseover=alert(1)>Mallory</b>',
      content: HOSTILE,
      replyToId: null,
      attachments: [{ url: 'javascript:alert(1)', name: 'evil.txt', contentType: null }],
      createdAt: new Date().toISOString(),
      editedAt: null,
    },
  ]);
  // A third post whose repliers chose how they appear (/privacy set): anonymous, hidden, and named replying to the hidden one.
  const members = (
    await upsertPostFromFeed(
      ctx.t.db,
      feed,
      {
        key: 'm',
        url: PRIVATE_URL,
        title: 'Members choose',
        author: null,
        publishedAt: null,
        summaryHtml: null,
        searchText: 'Members',
        imageUrl: null,
        contentHash: 'm',
      },
      'pending',
    )
  ).post;
  const membersThread = snowflake();
  await setPublishState(ctx.t.db, members.id, { state: 'published', channelId: feed.channelId, messageId: membersThread, threadId: membersThread });
  const [anon, hidden, named] = [snowflake(), snowflake(), snowflake()];
  const [r1, r2, r3] = [snowflake(), snowflake(), snowflake()];
  const at = (s: number) => new Date(Date.parse('2026-11-30T10:00:00Z') + s * 60_000).toISOString();
  await upsertComments(ctx.t.db, [
    {
      id: r1,
      postId: members.id,
      threadId: membersThread,
      authorId: anon,
      authorName: 'Ann Onymous',
      content: 'I would rather not be named',
      replyToId: null,
      attachments: [],
      createdAt: at(1),
      editedAt: null,
    },
    {
      id: r2,
      postId: members.id,
      threadId: membersThread,
      authorId: hidden,
      authorName: 'Hidden Harry',
      content: 'not for the web',
      replyToId: r1,
      attachments: [],
      createdAt: at(2),
      editedAt: null,
    },
    {
      id: r3,
      postId: members.id,
      threadId: membersThread,
      authorId: named,
      authorName: 'Nora',
      content: 'answering Harry',
      replyToId: r2,
      attachments: [],
      createdAt: at(3),
      editedAt: null,
    },
  ]);
  await chooseAppearance(ctx.t.db, guildId, anon, 'anonymous');
  await chooseAppearance(ctx.t.db, guildId, hidden, 'hidden');

  ctx.blog = createServer();
  await new Promise<void>((resolve) => ctx.blog.listen(0, '127.0.0.1', resolve));
  ctx.blogOrigin = `http://127.0.0.1:${(ctx.blog.address() as { port: number }).port}`;
  const config = loadConfig({ HTTP_CORS_ORIGINS: ctx.blogOrigin }, { dotenv: false });
  ctx.api = await startHttpServer(
    { config, log: createLogger('silent'), db: ctx.t.db, version: VERSION, redisHealth: async () => {} },
    { port: 0, host: '127.0.0.1' },
  );
  const html = page(`http://127.0.0.1:${ctx.api.port}`);
  ctx.blog.on('request', (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(html);
  });
  ctx.browser = await launchChromium();
});

test.after(async (ctx) => {
  await ctx.browser?.close();
  await ctx.api?.close();
  if (ctx.blog) await new Promise((resolve) => ctx.blog.close(resolve));
  await ctx.t?.close();
});

test('the seed post: "★ 5/5 (2 ratings) · 22 replies", the reply tree, dates, the Discord link; hostile text stays text', async (ctx) => {
  const browserPage = await ctx.browser.newPage({ viewport: { width: 860, height: 900 } });
  // tsx (esbuild keepNames) wraps named functions of the evaluated callbacks in __name(): give the page a no-op one.
  await browserPage.addInitScript('globalThis.__name = (fn) => fn;');
  const problems: string[] = [];
  browserPage.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
  browserPage.on('pageerror', (e) => problems.push(e.message));
  try {
    await browserPage.goto(ctx.blogOrigin);
    await browserPage.waitForSelector('#seed[data-blogcord-state="ready"]', { timeout: 10_000 });
    await browserPage.waitForSelector('#hostile[data-blogcord-state="ready"]', { timeout: 10_000 });
    await browserPage.waitForSelector('#missing[data-blogcord-state="empty"]', { timeout: 10_000 });

    const seed = await browserPage.evaluate(() => {
      const root = document.querySelector('#seed')!;
      const section = root.querySelector('section.blogcord')!;
      const heading = document.getElementById(section.getAttribute('aria-labelledby')!);
      const top = Array.from(root.querySelectorAll(':scope .blogcord-thread > li.blogcord-reply'));
      const depthOf = (li: Element) => {
        let d = 0;
        for (let p = li.parentElement; p && p !== root; p = p.parentElement) if (p.matches('li.blogcord-reply')) d++;
        return d;
      };
      const all = Array.from(root.querySelectorAll('li.blogcord-reply'));
      const join = root.querySelector<HTMLAnchorElement>('a.blogcord-join')!;
      const rate = root.querySelector<HTMLAnchorElement>('a.blogcord-rate')!;
      return {
        stats: root.querySelector('.blogcord-stats')!.textContent,
        heading: heading ? `${heading.tagName}:${heading.textContent}` : null,
        total: all.length,
        topLevel: top.length,
        depths: all.map(depthOf),
        lists: root.querySelectorAll('ol.blogcord-list').length,
        times: Array.from(root.querySelectorAll('time[datetime]')).map((t) => t.getAttribute('datetime')),
        authors: all.map((li) => li.querySelector(':scope > article .blogcord-author')?.textContent),
        texts: all.map((li) => li.querySelector<HTMLElement>(':scope > article .blogcord-text')?.innerText),
        join: { text: join.textContent, href: join.href, color: getComputedStyle(join).color },
        rate: { text: rate.textContent, href: rate.href },
        avatars: root.querySelectorAll('.blogcord-avatar').length,
      };
    });
    assert.is(seed.stats, '★★★★★ 5/5 · 2 ratings · 22 replies');
    assert.is(seed.heading, 'H2:Discussion on Discord');
    assert.is(seed.total, 22);
    assert.is(seed.topLevel, 11);
    assert.is(seed.depths.filter((d) => d === 1).length, 10);
    assert.is(seed.depths.filter((d) => d === 2).length, 1, 'the one reply to a reply is nested twice');
    assert.is(seed.times.length, 22);
    assert.ok(seed.times.every((t) => t && !Number.isNaN(Date.parse(t))));
    // Document order of the rendered tree = the fixture's order (a depth-first walk), with the fixture's depths.
    const { comments } = loadSeed();
    assert.equal(
      seed.depths,
      comments.map((c) => c.depth),
    );
    assert.equal(
      seed.authors,
      comments.map((c) => c.author),
    );
    // The text as rendered (markdown → HTML, line breaks as <br>): the same words, whitespace and the asterisks Discord reads as emphasis aside.
    const words = (t: string | undefined) => (t ?? '').replace(/\*/g, '').replace(/\s+/g, ' ').trim();
    assert.equal(
      seed.texts.map(words),
      comments.map((c) => words(c.text)),
    );
    assert.equal(seed.join, { text: 'Join the discussion on Discord', href: ctx.threadUrl, color: 'rgb(176, 48, 96)' }, 'the blog overrides --blogcord-accent');
    assert.equal(seed.rate, { text: 'Rate this post', href: ctx.messageUrl });
    assert.is(seed.avatars, 22, 'every reply has an avatar (a neutral placeholder without a stored one)');

    const hostile = await browserPage.evaluate(() => {
      const root = document.querySelector('#hostile')!;
      return {
        heading: root.querySelector('h3')?.textContent,
        author: root.querySelector('.blogcord-author')!.textContent,
        text: root.querySelector('.blogcord-text')!.textContent,
        bold: root.querySelector('.blogcord-text strong')?.textContent,
        injected: root.querySelectorAll('img, script:not([type="application/ld+json"]), b').length,
        links: Array.from(root.querySelectorAll('a')).map((a) => a.getAttribute('href')),
        xss: (window as unknown as { __xss?: number }).__xss ?? null,
      };
    });
    assert.is(hostile.heading, 'Comments');
    assert.is(hostile.author, '<b onmouseover=alert(1)>Mallory</b>');
    assert.is(hostile.text, HOSTILE.replace('**bold**', 'bold').replace(/__/g, ''), 'markup is text; markdown is rendered (__…__ is underline)');
    assert.is(hostile.bold, 'bold');
    assert.is(hostile.injected, 0);
    assert.is(hostile.xss, null);
    assert.equal(
      hostile.links,
      ['https://example.org/page', ctx.hostileThreadUrl, ctx.hostileMessageUrl],
      'the link in the text is clickable; the javascript: attachment is dropped',
    );

    const missing = await browserPage.locator('#missing').innerText();
    assert.match(missing, /No discussion on Discord yet\./);
    assert.equal(
      problems.filter((p) => !/404/.test(p)),
      [],
      'no script errors (the 404 of the undiscussed page is expected)',
    );

    mkdirSync(`${ROOT}test-output`, { recursive: true });
    mkdirSync(`${ROOT}docs`, { recursive: true });
    // The whole widget (tall: 22 replies), and its top for docs/web.md.
    await browserPage.locator('#seed').screenshot({ path: `${ROOT}test-output/widget-full.png` });
    const box = (await browserPage.locator('#seed').boundingBox())!;
    await browserPage.screenshot({
      path: `${ROOT}test-output/widget.png`,
      fullPage: true,
      clip: { x: Math.max(0, box.x - 16), y: Math.max(0, box.y - 16), width: box.width + 32, height: Math.min(box.height, 960) + 16 },
    });
    if (process.env.UPDATE_SCREENSHOTS === '1') copyFileSync(`${ROOT}test-output/widget.png`, `${ROOT}docs/widget.png`);
    assert.ok(existsSync(`${ROOT}test-output/widget.png`) && existsSync(`${ROOT}test-output/widget-full.png`));
  } finally {
    await browserPage.close();
  }
});

test('members’ choices: an anonymous reply shows "A member", a hidden one "Hidden reply" with its replies still under it', async (ctx) => {
  const browserPage = await ctx.browser.newPage({ viewport: { width: 860, height: 900 } });
  await browserPage.addInitScript('globalThis.__name = (fn) => fn;');
  try {
    await browserPage.goto(ctx.blogOrigin);
    await browserPage.waitForSelector('#private[data-blogcord-state="ready"]', { timeout: 10_000 });
    const shown = await browserPage.evaluate(() => {
      const root = document.querySelector('#private')!;
      const all = Array.from(root.querySelectorAll('li.blogcord-reply'));
      return {
        text: root.textContent,
        replies: all.map((li) => ({
          author: li.querySelector(':scope > article .blogcord-author')?.textContent ?? null,
          placeholder: li.querySelector(':scope > .blogcord-deleted')?.textContent ?? null,
          children: li.querySelectorAll(':scope > ol > li.blogcord-reply').length,
        })),
      };
    });
    assert.equal(shown.replies, [
      { author: 'A member', placeholder: null, children: 1 },
      { author: null, placeholder: 'Hidden reply', children: 1 },
      { author: 'Nora', placeholder: null, children: 0 },
    ]);
    for (const gone of ['Ann Onymous', 'Hidden Harry', 'not for the web']) assert.not.ok(shown.text!.includes(gone), gone);
  } finally {
    await browserPage.close();
  }
});

test.run();
