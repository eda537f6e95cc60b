/**
 * Lasting images and avatars in the browser (issue 17), in headless Chromium: a thread with an image posted in
 * Discord (the emulator's signed CDN URL), the emulator's clock moved a day on so the stored URL has expired (its
 * CDN refuses it), then the blog page with the widget: the image still shows (the API's /media route got a fresh
 * URL from POST /attachments/refresh-urls), and the members' avatars show through /avatars (Discord's CDN is never
 * named in the page, no user id either); an avatar the CDN no longer has leaves the letter placeholder.
 * Screenshot: test-output/widget-media.png.
 * Run alone: npx tsx node_modules/uvu/bin.js test 'widget-media\.test\.ts$'
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import { deflateSync, crc32 } from 'node:zlib';
import { Redis } from 'ioredis';
import type { Browser } from 'playwright-core';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startDiscordEmulator, type DiscordEmulator } from '../../emulator/index.ts';
import { loadConfig } from '../../src/config.ts';
import { VERSION } from '../../src/context.ts';
import { createRest, RestDiscordPort } from '../../src/discord/rest-port.ts';
import { startHttpServer, type RunningHttpServer } from '../../src/http/server.ts';
import { createLogger } from '../../src/logger.ts';
import { upsertComments } from '../../src/repositories/comments.ts';
import { setFeedWeb } from '../../src/repositories/feeds.ts';
import { createMediaService, redisMediaCache } from '../../src/services/media.ts';
import { fromApiMessage, toCommentInput } from '../../src/services/mirror.ts';
import { launchChromium } from '../support/browser.ts';
import { REDIS_URL } from '../support/bot.ts';
import { createTestDb, type TestDb } from '../support/db.ts';
import { seedDiscussion, SEED_URL } from '../support/fixtures.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DAY = 86_400_000;
const log = createLogger('silent');

/** A solid-colour PNG (RGB, 8 bits), with a lighter diagonal band so it reads as a picture. */
function png(width: number, height: number, [r, g, b]: [number, number, number]): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    out.write(type, 4, 'latin1');
    data.copy(out, 8);
    out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
    return out;
  };
  const rows = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    rows[y * (width * 3 + 1)] = 0;
    for (let x = 0; x < width; x++) {
      const band = Math.abs(x - y) < width / 6 ? 60 : 0;
      rows.set([Math.min(255, r + band), Math.min(255, g + band), Math.min(255, b + band)], y * (width * 3 + 1) + 1 + x * 3);
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(rows)), chunk('IEND', Buffer.alloc(0))]);
}

interface Ctx {
  t: TestDb;
  d: DiscordEmulator;
  redis: Redis;
  api: RunningHttpServer;
  blog: Server;
  blogOrigin: string;
  browser: Browser;
  imageUrl: string;
  userIds: string[];
}

const test = suite<Ctx>('lasting images and avatars in headless Chromium');

test.before(async (ctx) => {
  ctx.d = await startDiscordEmulator({
    guilds: [{ name: 'blog', channels: [{ name: 'posts' }] }],
    users: [
      { username: 'alice', globalName: 'Alice' },
      { username: 'bruno', globalName: 'Bruno' },
      { username: 'chen', globalName: 'Chen' },
    ],
  });
  ctx.d.setAvatar('alice', png(64, 64, [214, 93, 14]));
  ctx.d.setAvatar('bruno', png(64, 64, [31, 120, 180]));
  ctx.d.setAvatar('chen', png(64, 64, [40, 160, 80]));
  ctx.userIds = ['alice', 'bruno', 'chen'].map((u) => ctx.d.user(u).id);
  ctx.t = await createTestDb('sqlite');
  const seed = await seedDiscussion(ctx.t.db, ctx.d.guild('blog').id);
  await setFeedWeb(ctx.t.db, seed.post.feedId, true);
  const thread = { postId: seed.post.id, threadId: seed.post.threadId!, messageId: seed.post.messageId };
  // What the mirror stores of three messages posted in Discord: one with a photo (its URL signed for a day).
  const photo = await ctx.d.say('alice', 'posts', 'The view from the talk, as promised:', {
    attachments: [{ filename: 'view.png', data: png(320, 180, [70, 110, 170]), contentType: 'image/png' }],
  });
  const bruno = await ctx.d.say('bruno', 'posts', 'Great photo! **Thanks** for sharing.');
  const chen = await ctx.d.say('chen', 'posts', 'My avatar changed since: the letter shows.');
  await upsertComments(
    ctx.t.db,
    [photo, bruno, chen].map((m) => toCommentInput(fromApiMessage(m), thread)),
  );
  // Chen's stored hash is one the CDN no longer has.
  await ctx.t.db.kysely.updateTable('comments').set({ author_avatar: 'u:00ff00ff00ff' }).where('id', '=', chen.id).execute();
  ctx.imageUrl = photo.attachments[0]!.url;

  ctx.redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  const discord = new RestDiscordPort(createRest({ discordApiUrl: ctx.d.restUrl, discordToken: ctx.d.token }));
  const media = createMediaService({
    db: ctx.t.db,
    log,
    discord,
    cache: redisMediaCache(ctx.redis, `twmedia${randomBytes(4).toString('hex')}`),
    now: () => ctx.d.now(),
  });
  ctx.blog = createServer();
  await new Promise<void>((resolve) => ctx.blog.listen(0, '127.0.0.1', resolve));
  ctx.blogOrigin = `http://127.0.0.1:${(ctx.blog.address() as { port: number }).port}`;
  const config = loadConfig({ HTTP_CORS_ORIGINS: ctx.blogOrigin, DISCORD_API_URL: ctx.d.restUrl }, { dotenv: false });
  ctx.api = await startHttpServer(
    { config, log, db: ctx.t.db, version: VERSION, redisHealth: async () => {}, media },
    { port: 0, host: '127.0.0.1', rateLimit: { max: 10_000, timeWindowMs: 60_000 } },
  );
  const apiBase = `http://127.0.0.1:${ctx.api.port}`;
  const page = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>A post</title>
<style>body { font: 16px/1.6 Georgia, serif; max-width: 46rem; margin: 2rem auto; padding: 0 1rem; color: #222; }</style></head>
<body><main><article><h1>What do WeChat and Lord of the Rings have in common?</h1><p>A post of the blog.</p></article>
<div id="discussion" data-blogcord data-url="${SEED_URL}" data-api="${apiBase}" data-order="newest" data-theme="light"></div>
<script src="${apiBase}/widget.js" async></script></main></body></html>`;
  ctx.blog.on('request', (_req, res) => res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page));
  ctx.browser = await launchChromium();
  mkdirSync(`${ROOT}test-output`, { recursive: true });
});

test.after(async (ctx) => {
  await ctx.browser?.close();
  await ctx.api?.close();
  if (ctx.blog) await new Promise((resolve) => ctx.blog.close(resolve));
  ctx.redis?.disconnect();
  await ctx.t?.close();
  await ctx.d?.stop();
});

test('a day later the stored image URL has expired, and the widget still shows the image and the avatars', async (ctx) => {
  assert.is((await fetch(ctx.imageUrl)).status, 200, 'the URL works while it is fresh');
  ctx.d.advanceClock(DAY + 60_000);
  assert.is((await fetch(ctx.imageUrl)).status, 404, 'expired: the CDN refuses the stored URL');

  const context = await ctx.browser.newContext({ viewport: { width: 860, height: 900 } });
  const page = await context.newPage();
  // Nothing beyond the local servers (the blog, the API, the emulator's CDN): no request to Discord itself.
  const outside: string[] = [];
  await page.route(/^https?:\/\/(?!127\.0\.0\.1)/, (route) => {
    outside.push(route.request().url());
    return route.abort();
  });
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(e.message));
  await page.goto(ctx.blogOrigin);
  await page.waitForSelector('#discussion .blogcord-file--image img');
  const photo = page.locator('#discussion .blogcord-file--image img');
  await photo.scrollIntoViewIfNeeded();
  await page.waitForFunction(() => {
    const img = document.querySelector<HTMLImageElement>('#discussion .blogcord-file--image img');
    return Boolean(img?.complete && img.naturalWidth > 0);
  });
  const seen = await photo.evaluate((img: HTMLImageElement) => ({ w: img.naturalWidth, h: img.naturalHeight, src: img.currentSrc }));
  assert.equal([seen.w, seen.h], [320, 180], 'the photo is shown at its size');
  assert.match(seen.src, /^http:\/\/127\.0\.0\.1:\d+\/media\/\d+\/0$/, "through the API's media route");
  const redirect = await fetch(seen.src, { redirect: 'manual' });
  const fresh = String(redirect.headers.get('location'));
  assert.is(redirect.status, 302);
  assert.match(fresh, /\/attachments\/.*\?ex=/, 'to a fresh signed URL');
  assert.is.not(fresh, ctx.imageUrl, 'not the expired one');

  // Avatars: Alice's and Bruno's images load; Chen's fails at the CDN and only the letter is left.
  await page.waitForFunction(
    () => {
      const imgs = Array.from(document.querySelectorAll<HTMLImageElement>('#discussion img.blogcord-avatar-img'));
      return imgs.length >= 2 && imgs.every((i) => i.complete && i.naturalWidth > 0);
    },
    undefined,
    { timeout: 10_000 },
  );
  const avatars = await page.$$eval('#discussion .blogcord-comment', (articles) =>
    articles
      .map((a) => ({
        name: a.querySelector('.blogcord-author')?.textContent ?? '',
        img: a.querySelector<HTMLImageElement>('img.blogcord-avatar-img')?.naturalWidth ?? 0,
        letter: a.querySelector('.blogcord-avatar')?.textContent ?? '',
      }))
      .filter((a) => ['Alice', 'Bruno', 'Chen'].includes(a.name)),
  );
  assert.equal(
    avatars.map((a) => [a.name, a.img > 0]),
    [
      ['Chen', false],
      ['Bruno', true],
      ['Alice', true],
    ],
    'newest first; Chen without an image',
  );
  assert.is(avatars.find((a) => a.name === 'Chen')!.letter, 'C', 'the letter placeholder');
  const html = await page.locator('#discussion').innerHTML();
  for (const id of ctx.userIds) assert.not.ok(html.includes(id), 'no Discord user id in the page');
  assert.not.ok(/cdn\.discordapp|\/avatars\/\d+\/[0-9a-f]/.test(html), 'no Discord CDN avatar URL in the page');
  assert.equal(outside, [], 'the page contacted nothing but the blog, the API and the local CDN');
  assert.equal(problems, []);

  const box = (await page.locator('#discussion').boundingBox())!;
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({
    path: `${ROOT}test-output/widget-media.png`,
    fullPage: true,
    clip: { x: Math.max(0, box.x - 16), y: Math.max(0, box.y - 16), width: box.width + 32, height: Math.min(box.height, 900) + 32 },
  });
  await context.close();
});

test.run();
