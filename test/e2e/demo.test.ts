/**
 * `blogcord demo` as a person runs it (issue 22): the CLI as a process, its page in headless Chromium
 * (/usr/bin/chromium driven by playwright-core) until both panes show the seed's 22 replies and "5/5 (2 ratings)",
 * then Ctrl-C (SIGINT): no process, port or temporary folder is left behind; also when Ctrl-C comes while it starts.
 * Saves test-output/demo.png; with UPDATE_SCREENSHOTS=1 also docs/demo.png (the README's screenshot).
 * The demo starts its own redis-server (REDIS_URL unset). Run alone: npx tsx test/e2e/demo.test.ts
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { type Browser } from 'playwright-core';
import { launchChromium } from '../support/browser.ts';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface Demo {
  child: ChildProcess;
  output(): string;
  waitFor(pattern: RegExp, timeout: number): Promise<RegExpExecArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function startDemo(): Demo {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(DISCORD_|DATABASE_URL|REDIS_URL|HTTP_|FEED_|QUEUE_PREFIX|LOG_LEVEL)/.test(k)));
  const child = spawn(process.execPath, [`${ROOT}bin/blogcord.js`, 'demo'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const waiters = new Set<() => void>();
  const onData = (c: Buffer) => {
    out += c.toString();
    for (const w of [...waiters]) w();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
  return {
    child,
    output: () => out,
    exited,
    waitFor: (pattern, timeout) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const m = pattern.exec(out);
          if (m) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(m);
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out after ${timeout} ms waiting for ${pattern}:\n${out.slice(-3000)}`));
        }, timeout);
        waiters.add(check);
        check();
      }),
  };
}

/** Every process below `pid` (children, grandchildren), from ps. */
function descendants(pid: number): number[] {
  const rows = spawnSync('ps', ['-e', '-o', 'pid=,ppid='], { encoding: 'utf8' })
    .stdout.trim()
    .split('\n')
    .map((l) => l.trim().split(/\s+/).map(Number) as [number, number]);
  const found: number[] = [];
  const walk = (p: number) => {
    for (const [c, parent] of rows)
      if (parent === p) {
        found.push(c);
        walk(c);
      }
  };
  walk(pid);
  return found;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const answers = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });

/** Ctrl-C: SIGINT to the demo alone (a terminal would send it to the whole group; the demo must not rely on that). */
async function interrupt(demo: Demo, dir: string, ports: number[]): Promise<void> {
  const below = descendants(demo.child.pid!);
  assert.ok(below.length >= 1, `the demo runs its helpers as processes (found ${below.length})`);
  demo.child.kill('SIGINT');
  const timer = setTimeout(() => demo.child.kill('SIGKILL'), 30_000);
  const { code } = await demo.exited;
  clearTimeout(timer);
  assert.is(code, 0, `the demo exits with 0 after Ctrl-C:\n${demo.output().slice(-2000)}`);
  assert.match(demo.output(), 'Stopped; the temporary data is removed.');
  // A process may take a moment to go after its parent (tsx's esbuild service ends when its pipe closes).
  const until = Date.now() + 5000;
  while (below.some(alive) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
  const left = below.filter(alive).map((p) => spawnSync('ps', ['-o', 'pid=,args=', '-p', String(p)], { encoding: 'utf8' }).stdout.trim());
  assert.equal(left, [], 'no process the demo started is left');
  assert.not.ok(existsSync(dir), `the temporary folder ${dir} is removed`);
  for (const port of ports) assert.not.ok(await answers(port), `nothing listens on ${port} any more`);
}

interface Ctx {
  browser: Browser;
  demos: Demo[];
}

const test = suite<Ctx>('blogcord demo');

test.before(async (ctx) => {
  ctx.demos = [];
  ctx.browser = await launchChromium();
});

test.after(async (ctx) => {
  await ctx.browser?.close();
  for (const d of ctx.demos ?? []) {
    if (d.child.exitCode === null && d.child.signalCode === null) {
      d.child.kill('SIGINT');
      await d.exited;
    }
  }
});

test('the story on both panes: 22 replies, "5/5 (2 ratings)", the digest, /blog show and /feed status; Ctrl-C leaves nothing', async (ctx) => {
  const t0 = performance.now();
  const demo = startDemo();
  ctx.demos.push(demo);
  const [, url, port] = await demo.waitFor(/open (http:\/\/127\.0\.0\.1:(\d+)\/demo)\n/, 60_000);
  const urlAt = performance.now() - t0;
  const [, dir] = await demo.waitFor(/data in (\S+)\)/, 60_000);
  const page = await ctx.browser.newPage({ viewport: { width: 1500, height: 940 } });
  await page.addInitScript('globalThis.__name = (fn) => fn;');
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(e.message));
  await page.goto(url!);
  await demo.waitFor(/the story is finished/, 150_000);
  const finishedAt = performance.now() - t0;
  const readyAt = /^\s+([\d.]+) s {2}the bot is running/m.exec(demo.output());

  // The Discord side: the thread holds the 22 replies (the 23rd message was deleted), the announcement the rating.
  await page.waitForFunction(() => document.querySelector('#thread')?.textContent?.includes('· 22 replies'), null, { timeout: 20_000 });
  await page.waitForFunction(() => document.querySelector('#feed')?.textContent?.includes('5/5 (2 ratings)'), null, { timeout: 20_000 });
  // The last answers of the story (/blog show, /feed status) reach the page with its next refresh.
  await page.waitForFunction(() => document.querySelector('#feed')?.textContent?.includes('/feed status'), null, { timeout: 20_000 });
  const discord = await page.evaluate(() => {
    const feed = document.querySelector('#feed')!;
    const thread = document.querySelector('#thread')!;
    const after: Element[] = [];
    for (let n = thread.nextElementSibling; n; n = n.nextElementSibling) after.push(n);
    return {
      text: feed.textContent ?? '',
      replies: after.filter((m) => m.querySelector('.tag') === null).length,
      replyTos: after.filter((m) => m.querySelector('.reply-to')).length,
      edited: after.filter((m) => m.querySelector('.edited')).length,
      digestImages: Array.from(feed.querySelectorAll('.embed img')).map((i) => (i as HTMLImageElement).naturalWidth),
      rating5: Array.from(feed.querySelectorAll('.reaction')).map((r) => r.textContent),
    };
  });
  assert.is(discord.replies, 22);
  assert.is(discord.replyTos, 11, 'the same tree: 11 replies to a message');
  assert.is(discord.edited, 1, 'one reply was edited');
  assert.not.match(discord.text, 'Oops, this was meant for another channel');
  assert.ok(discord.rating5.includes('5️⃣ 3'), `two members and the bot on 5️⃣: ${discord.rating5.join(' ')}`);
  assert.ok(
    discord.digestImages.some((w) => w > 0),
    'the digest shows its chart (loaded from the local Discord)',
  );
  assert.match(discord.text, '/feed add');
  assert.match(discord.text, '/web enable');
  assert.match(discord.text, '/blog show');
  assert.match(discord.text, '/feed status');
  assert.match(discord.text, 'Last poll');
  assert.match(discord.text, '/digest now');
  assert.match(discord.text, 'Only you can see this');

  // The blog side: the real widget, from the bot's HTTP API, in the blog's page.
  const frame = page.frameLocator('#blogframe');
  // The widget's header: "★★★★★ 5/5 · 2 ratings · 22 replies".
  await frame.locator('.blogcord-stats', { hasText: /5\/5 · 2 ratings · 22 replies/ }).waitFor({ timeout: 30_000 });
  const widget = await page.frame({ url: /what-do-wechat/ })!.evaluate(() => ({
    replies: document.querySelectorAll('li.blogcord-reply:not(.blogcord-reply--deleted)').length,
    nested: document.querySelectorAll('.blogcord-replies .blogcord-replies li.blogcord-reply').length,
    title: document.querySelector('h1')?.textContent,
  }));
  assert.is(widget.replies, 22);
  assert.is(widget.nested, 1, 'one reply to a reply');
  assert.is(widget.title, 'What do WeChat and Lord of the Rings have in common?');
  assert.equal(problems, []);

  mkdirSync(`${ROOT}test-output`, { recursive: true });
  // The screenshot: the announcement's rating and reactions beside the widget's summary and first replies.
  await page.evaluate(() => {
    const announcement = Array.from(document.querySelectorAll('#feed .msg')).find((m) => m.querySelector('.embed .fields'))!;
    announcement.querySelector('.fields')!.scrollIntoView({ block: 'start' });
    document.querySelector('#feed')!.scrollBy(0, -60);
  });
  await page.frame({ url: /what-do-wechat/ })!.evaluate(() => document.querySelector('#discussion')!.scrollIntoView({ block: 'start' }));
  await page.screenshot({ path: `${ROOT}test-output/demo.png` });
  // And the thread's first replies (test-output/demo-thread.png), for a person to look at.
  await page.evaluate(() => document.querySelector('#thread')!.scrollIntoView({ block: 'start' }));
  await page.screenshot({ path: `${ROOT}test-output/demo-thread.png` });
  if (process.env.UPDATE_SCREENSHOTS === '1') copyFileSync(`${ROOT}test-output/demo.png`, `${ROOT}docs/demo.png`);
  await page.close();
  console.log(
    `  demo: URL printed after ${(urlAt / 1000).toFixed(1)} s, bot ready at ${readyAt?.[1] ?? '?'} s, story finished after ${(finishedAt / 1000).toFixed(1)} s`,
  );

  const redisPort = Number(/"url":"redis:\/\/127\.0\.0\.1:(\d+)"[^\n]*started a private redis-server/.exec(demo.output())?.[1]);
  assert.ok(redisPort > 0, 'the demo started its own redis-server');
  await interrupt(demo, dir!, [Number(port), redisPort]);
});

test('Ctrl-C while the demo is still starting leaves nothing behind either', async (ctx) => {
  const demo = startDemo();
  ctx.demos.push(demo);
  const [, , port] = await demo.waitFor(/open (http:\/\/127\.0\.0\.1:(\d+)\/demo)\n/, 60_000);
  const [, dir] = await demo.waitFor(/data in (\S+)\)/, 60_000);
  // The bot process is starting now (it takes seconds to be ready).
  await interrupt(demo, dir!, [Number(port)]);
  assert.not.match(demo.output(), 'the story is finished');
});

test.run();
