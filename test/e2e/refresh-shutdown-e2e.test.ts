// The folded announcement refresh request of a real `blogcord bot` process at a graceful shutdown
// (src/services/refresh-requests.ts, src/wiring.ts refreshFoldingJobs, src/app.ts's closers): replies to one post
// within one refresh window, then SIGTERM before the window ends. The request the window folded must reach Redis
// during the shutdown, after the last reply's commit; the process closes the writers, then sends what is folded,
// then closes the queues (its log says so: a request added after Queue.close() still gets through BullMQ on the
// shared producer connection, so Redis alone would not tell that order from the right one).
//
// Redis shows that request only while a refresh of the post runs: otherwise it joins the refresh already waiting
// (BullMQ's deduplication) or, when this process made that one, is not sent at all (scheduleAnnouncementRefresh's
// coalescing), and that waiting refresh runs after every commit anyway. While one runs, BullMQ keeps the last request
// as the post's next refresh (`keepLastIfActive`): a hash naming its job id, which carries the time it was asked for.
// The test holds the first refresh active in a BullMQ worker of its own, as a `worker` process does while a refresh
// is slow (the bot runs no workers).
import { Worker, type Job, Queue } from 'bullmq';
import * as assert from 'uvu/assert';
import { listComments } from '../../src/repositories/comments.ts';
import { refreshWindowMs } from '../../src/services/refresh-requests.ts';
import { createRedis } from '../../src/redis.ts';
import { eventually } from '../support/assert.ts';
import { REDIS_URL } from '../support/bot.ts';
import { announcedPost, e2eSuite, startE2eBot } from '../support/e2e.ts';

const REFRESH_MS = 5000;
const WINDOW_MS = refreshWindowMs(REFRESH_MS);

const test = e2eSuite('the folded refresh request at shutdown, end to end', {
  emulator: { guilds: [{ name: 'blog', channels: [{ name: 'posts' }] }], users: [{ username: 'alice' }, { username: 'bob' }] },
});

/** When a refresh job was asked for: its id is `refresh-<post>-<ms>-<n>` (src/jobs/producers.ts). */
const askedAt = (jobId: string): number => Number(/-(\d+)-\d+$/.exec(jobId)?.[1] ?? NaN);

test('replies within one window, then SIGTERM: the folded request is sent at shutdown, after the last commit', async (ctx) => {
  assert.is(WINDOW_MS, 1000);
  const d = ctx.discord;
  const post = await announcedPost(ctx, 'folded-at-shutdown');
  const bot = await startE2eBot(ctx, {
    role: 'bot',
    env: { ANNOUNCEMENT_REFRESH_MS: String(REFRESH_MS), SYNC_INTERVAL_SECONDS: '3600', RECOUNT_INTERVAL_SECONDS: '3600', LOG_LEVEL: 'debug' },
  });
  await bot.waitForOutput(/connected to Discord/);
  const connection = createRedis(REDIS_URL);
  const workerConnection = createRedis(REDIS_URL);
  const queue = new Queue('refresh', { connection, prefix: bot.queuePrefix });
  let release = () => {};
  const held = new Promise<void>((resolve) => (release = resolve));
  const taken: string[] = [];
  const worker = new Worker(
    'refresh',
    async (job: Job) => {
      taken.push(job.id!);
      await held;
    },
    { connection: workerConnection, prefix: bot.queuePrefix, concurrency: 1 },
  );
  const nextKey = `${bot.queuePrefix}:refresh:dn:${post.postId}`;
  const committed = (n: number) =>
    eventually(async () => (await listComments(ctx.t.db, post.postId)).length >= n, { timeout: 10_000, interval: 10, message: `${n} replies stored` });
  try {
    // A first reply: its refresh (delayed REFRESH_MS) is taken by the worker and held, as a slow refresh is.
    await d.say('alice', post.threadId!, 'the first reply');
    await committed(1);
    await eventually(() => taken.length === 1, { timeout: REFRESH_MS + 10_000, message: 'the first refresh running' });

    // Then replies within one window: the first one's request is sent at once (kept as the next refresh) ...
    await d.say('bob', post.threadId!, 'a reply while the refresh runs');
    await committed(2);
    const leading = await eventually(() => connection.hget(nextKey, 'jid'), { message: 'the next refresh asked for' });
    // ... the next ones are folded into one request at the window's end, which does not come before the shutdown.
    for (const [user, text] of [
      ['alice', 'and another'],
      ['bob', 'and one more'],
      ['alice', 'the last reply'],
    ] as const)
      await d.say(user, post.threadId!, text);
    await committed(5);
    const stopAt = Date.now();
    assert.is(await connection.hget(nextKey, 'jid'), leading, 'nothing sent since the first reply of the window');
    assert.ok(stopAt < askedAt(leading!) + WINDOW_MS, `the shutdown comes within the window (${stopAt - askedAt(leading!)} ms after its first request)`);
    assert.is(await bot.stop(), 0, bot.output().slice(-3000));

    // The request the window folded was sent during the shutdown: after SIGTERM, so after the last reply's commit.
    const last = await connection.hget(nextKey, 'jid');
    assert.ok(last && last !== leading, `a request sent at shutdown (the next refresh is still ${last})`);
    assert.ok(askedAt(last) >= stopAt, `asked for at ${askedAt(last)}, SIGTERM at ${stopAt}`);
    assert.ok(askedAt(last) < askedAt(leading!) + WINDOW_MS, 'before the window would have ended');
    // It is the post's refresh: when the running one ends, BullMQ queues it (delayed REFRESH_MS like any).
    release();
    const job = (await eventually(() => queue.getJob(last), { message: 'the next refresh queued' }))!;
    assert.equal(job.data, { postId: post.postId });
    assert.is(job.opts.delay, REFRESH_MS);
    // The shutdown's order, as the bot logged it: the writers flushed, then the folded requests sent, then the queues.
    const closing = bot
      .output()
      .split('\n')
      .flatMap((l) => (l.startsWith('{') && l.includes('"closing"') ? [(JSON.parse(l) as { name: string }).name] : []));
    const at = (name: string) => closing.indexOf(name);
    assert.ok(at('comment writer') >= 0 && at('rating writer') >= 0 && at('queues') >= 0, closing.join(', '));
    assert.ok(at('comment writer') < at('announcement refresh requests') && at('rating writer') < at('announcement refresh requests'), closing.join(', '));
    assert.ok(at('announcement refresh requests') < at('queues'), closing.join(', '));
  } finally {
    release();
    await worker.close();
    await queue.close();
    await workerConnection.quit();
    await connection.quit();
  }
});

test.run();
