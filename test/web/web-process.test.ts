/**
 * `blogcord web` as a real process: it serves the HTTP API and nothing else. It opens no gateway connection (the
 * emulator sees no session and no /gateway request) and runs no workers (no queue or scheduler keys in Redis).
 * On PostgreSQL two of them serve the same answers (as behind a reverse proxy), and an attachment link one of them
 * renewed is used by the other without asking Discord again (the Redis-shared media cache).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Redis } from 'ioredis';
import { startDiscordEmulator, type DiscordEmulator } from '../../emulator/index.ts';
import { upsertComments } from '../../src/repositories/comments.ts';
import { setFeedWeb } from '../../src/repositories/feeds.ts';
import { REDIS_URL, logLines, newQueuePrefix, startBot, stopAllBots, type BotProcess } from '../support/bot.ts';
import { createTestDb, type TestDb, type TestDialect } from '../support/db.ts';
import { seedDiscussion, SEED_URL } from '../support/fixtures.ts';
import { snowflake } from '../support/snowflake.ts';

const PNG = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000', 'hex');

async function startWeb(d: DiscordEmulator, databaseUrl: string, queuePrefix: string): Promise<{ bot: BotProcess; base: string }> {
  const bot = await startBot({
    discord: d,
    databaseUrl,
    role: 'web',
    queuePrefix,
    env: { HTTP_PORT: '0', HTTP_CORS_ORIGINS: '*', PUBLIC_URL: 'https://blogcord.example' },
  });
  const line = logLines(bot).find((l) => l.msg === 'http api listening');
  assert.ok(line && typeof line.port === 'number', 'the bound port is logged');
  return { bot, base: `http://127.0.0.1:${line!.port as number}` };
}

for (const dialect of ['sqlite', 'postgres'] as TestDialect[]) {
  const test = suite<{
    t: TestDb;
    d: DiscordEmulator;
    redis: Redis;
    prefix: string;
    dir: string;
    seed: Awaited<ReturnType<typeof seedDiscussion>>;
    commentId: string;
    webs: Array<{ bot: BotProcess; base: string }>;
  }>(`blogcord web as a process (${dialect})`);

  test.before(async (ctx) => {
    ctx.dir = mkdtempSync(join(tmpdir(), 'blogcord-web-'));
    ctx.t = await createTestDb(dialect, dialect === 'sqlite' ? { file: join(ctx.dir, 'web.db') } : {});
    ctx.d = await startDiscordEmulator({ guilds: [{ name: 'blog', channels: [{ name: 'posts' }] }], users: [{ username: 'alice' }] });
    ctx.redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    ctx.prefix = newQueuePrefix();
    ctx.seed = await seedDiscussion(ctx.t.db);
    await setFeedWeb(ctx.t.db, ctx.seed.post.feedId, true);
    // An image whose stored link is about to expire (a minute left): the web renews it through Discord.
    ctx.d.setAttachmentUrlTtl(60);
    const m = await ctx.d.say('alice', 'posts', 'image', { attachments: [{ filename: 'a.png', data: PNG, contentType: 'image/png' }] });
    ctx.d.setAttachmentUrlTtl(86_400);
    ctx.commentId = snowflake();
    await upsertComments(ctx.t.db, [
      {
        id: ctx.commentId,
        postId: ctx.seed.post.id,
        threadId: ctx.seed.post.threadId!,
        authorId: snowflake(),
        authorName: 'Alice',
        content: 'image',
        replyToId: null,
        attachments: [{ url: m.attachments[0]!.url, name: 'a.png', contentType: 'image/png' }],
        createdAt: new Date().toISOString(),
        editedAt: null,
      },
    ]);
    ctx.d.clearRequests();
    const count = dialect === 'postgres' ? 2 : 1;
    ctx.webs = [];
    for (let i = 0; i < count; i++) ctx.webs.push(await startWeb(ctx.d, ctx.t.url, ctx.prefix));
  });

  test.after(async (ctx) => {
    await stopAllBots();
    if (ctx.redis) {
      const keys = await ctx.redis.keys(`${ctx.prefix}:*`);
      if (keys.length) await ctx.redis.del(...keys);
      ctx.redis.disconnect();
    }
    await ctx.d?.stop();
    await ctx.t?.close();
    if (ctx.dir) rmSync(ctx.dir, { recursive: true, force: true });
  });

  test('serves the API: the seed post with its 22 replies, the same answer (and ETag) from every process', async ({ webs, seed }) => {
    const etags = new Set<string>();
    for (const { base, bot } of webs) {
      const res = await fetch(`${base}/api/posts?url=${encodeURIComponent(SEED_URL)}`);
      assert.is(res.status, 200);
      const view = await res.json();
      assert.is(view.id, seed.post.id);
      assert.is(view.replies, 23, '22 seed replies and the image reply');
      etags.add(String(res.headers.get('etag')));
      assert.is((await fetch(`${base}/healthz`)).status, 200);
      assert.ok(logLines(bot).some((l) => l.msg === 'blogcord is running' && l.role === 'web'));
    }
    assert.is(etags.size, 1, 'one ETag whichever process answers');
  });

  test('opens no gateway connection and runs no workers', async ({ d, webs, redis, prefix }) => {
    await new Promise((r) => setTimeout(r, 500));
    assert.is(d.sessions().length, 0, 'no gateway session');
    assert.not.ok(
      d.requests.some((r) => r.route.startsWith('GET /gateway')),
      'never asked for the gateway',
    );
    const keys = await redis.keys(`${prefix}:*`);
    assert.equal(
      keys.filter((k) => !k.startsWith(`${prefix}:media:`)),
      [],
      'no queue, scheduler or worker keys',
    );
    for (const { bot } of webs)
      assert.not.ok(
        /worker|scheduler|gateway/i.test(
          logLines(bot)
            .map((l) => String(l.msg))
            .join('\n'),
        ),
        bot.output().slice(-800),
      );
  });

  test('GET /media renews the expiring link once; every process redirects to the renewed one', async ({ d, webs, commentId }) => {
    const locations = new Set<string>();
    for (const { base } of webs) {
      for (let i = 0; i < 2; i++) {
        const res = await fetch(`${base}/media/${commentId}/0`, { redirect: 'manual' });
        assert.is(res.status, 302);
        locations.add(String(res.headers.get('location')));
      }
    }
    assert.is(locations.size, 1);
    const image = await fetch([...locations][0]!);
    assert.is(image.status, 200);
    assert.is(d.requests.filter((r) => r.route === 'POST /attachments/refresh-urls').length, 1, 'Discord asked once for all processes');
  });

  test('stops cleanly on SIGTERM', async ({ webs }) => {
    for (const { bot } of webs) assert.is(await bot.stop(), 0);
  });

  test.run();
}
