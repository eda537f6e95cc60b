// Issue 9, resilience 1: the bot process killed with SIGKILL in the middle of an event storm (replies in
// post threads, keycap reactions by many people) and started again. After convergence (catch-up and
// recount at the start) the export equals what Discord shows: no comment or rating lost, none doubled.
// Run alone: npx tsx test/resilience/resilience-crash.test.ts
import * as assert from 'uvu/assert';
import { exportData } from '../../src/services/export.ts';
import { eventually } from '../support/assert.ts';
import { exportJson, logLines, type BotProcess } from '../support/bot.ts';
import { announcedPost, e2eSuite, startE2eBot, type E2eContext } from '../support/e2e.ts';
import type { StormEvent } from '../../emulator/index.ts';
import { KEYCAPS } from '../../src/domain/rating.ts';
import { mirrorDifferences, type WatchedPost } from '../support/services.ts';

const PEOPLE = Array.from({ length: 24 }, (_, i) => `person${i}`);
const BURSTS = 12;
const BURST_SIZE = 50;

interface Ctx extends E2eContext {
  posts: WatchedPost[];
}

const test = e2eSuite<Ctx>('resilience: SIGKILL in the middle of an event storm', {
  emulator: {
    guilds: [{ name: 'blog', channels: [{ name: 'posts' }] }],
    users: [...PEOPLE.map((username) => ({ username })), { username: 'otherbot', bot: true }],
  },
});

test.before(async (ctx) => {
  ctx.posts = [];
  // As the publish pipeline leaves them: each announcement with its thread and the bot's five keycaps, and the row.
  for (const key of ['alpha', 'beta', 'gamma']) {
    const { postId, threadId, announcementId } = await announcedPost(ctx, key, { keycaps: true });
    ctx.posts.push({ postId, threadId: threadId!, announcementId });
  }
});

/** A seeded storm: replies in the three threads and keycap toggles on the three announcements, mixed. */
function stormEvents(posts: readonly WatchedPost[], count: number, seed: number): StormEvent[] {
  let s = seed;
  const rand = (n: number) => ((s = (s * 1103515245 + 12345) % 2 ** 31), Math.floor((s / 2 ** 31) * n));
  return Array.from({ length: count }, (_, i): StormEvent => {
    const post = posts[rand(posts.length)]!;
    const user = PEOPLE[rand(PEOPLE.length)]!;
    const kind = rand(10);
    if (kind < 4) return { type: 'message', user, channel: post.threadId, content: `reply ${seed}-${i} from ${user}` };
    if (kind === 4) return { type: 'message', user: 'otherbot', channel: post.threadId, content: `a bot says ${i}` };
    return { type: kind < 8 ? 'react' : 'unreact', user, message: post.announcementId, emoji: KEYCAPS[rand(5)]! };
  });
}

const botEnv = { ANNOUNCEMENT_REFRESH_MS: '1000', SYNC_INTERVAL_SECONDS: '3600', RECOUNT_INTERVAL_SECONDS: '3600' };

test('killed mid-storm and started again: the export equals the emulator exactly', async (ctx) => {
  const d = ctx.discord;
  const first = await startE2eBot(ctx, { env: botEnv });
  await first.waitForOutput(/connected to Discord/);

  const events = stormEvents(ctx.posts, BURSTS * BURST_SIZE, 7);
  let second: Promise<BotProcess> | null = null;
  let killedAfter = 0;
  let startedAt = 0;
  const t0 = Date.now();
  for (let b = 0; b < BURSTS; b++) {
    if (b === 4) {
      // SIGKILL without waiting for the storm to settle: whatever was buffered or in flight dies with it.
      killedAfter = Date.now() - t0;
      await first.kill();
    }
    if (b === 7) {
      // Started again while the storm goes on: events arrive before, during and after it connects.
      startedAt = Date.now() - t0;
      second = startE2eBot(ctx, { env: botEnv, queuePrefix: first.queuePrefix });
    }
    if (b === 10) await (await second!).waitForOutput(/connected to Discord/); // the last bursts reach the new process live
    await d.storm(events.slice(b * BURST_SIZE, (b + 1) * BURST_SIZE));
    await new Promise((r) => setTimeout(r, 150));
  }
  const bot = await second!;
  await bot.waitForOutput(/connected to Discord/);
  const stormMs = Date.now() - t0;
  assert.is(first.child.signalCode, 'SIGKILL', 'the first process died of SIGKILL');

  let last: string[] = [];
  await eventually(
    async () => {
      last = mirrorDifferences(d, await exportData(ctx.t.db), ctx.posts);
      return last.length === 0;
    },
    { timeout: 45_000, interval: 250, message: `convergence (${last.join('; ')})` },
  ).catch((err: Error) => {
    const logs = bot
      .output()
      .split('\n')
      .filter((l) => /recount|catch-up|connected to Discord|"level":[45]0/.test(l));
    throw new Error(`${err.message}\nstill different: ${last.join('\n')}\n${logs.slice(-20).join('\n')}`);
  });
  const convergedMs = Date.now() - t0;

  // The CLI export agrees too, and the storm was real: many replies and ratings, some only seen by catch-up/recount.
  const exported = await exportJson(ctx.t.url);
  assert.equal(mirrorDifferences(d, exported, ctx.posts), []);
  const comments = exported.posts.reduce((n: number, p: { comments: unknown[] }) => n + p.comments.length, 0);
  const ratings = exported.posts.reduce((n: number, p: { ratings: unknown[] }) => n + p.ratings.length, 0);
  assert.ok(comments > 150, `${comments} comments`);
  assert.ok(ratings > 20, `${ratings} ratings`);
  const logs = logLines(bot);
  assert.ok(
    logs.some((l) => l.msg === 'catch-up stored changes made while the bot was away'),
    'the restarted bot caught up replies it had not seen',
  );
  assert.ok(
    logs.some((l) => l.msg === 'recount finished'),
    'the restarted bot recounted the announcements',
  );
  assert.not.match(bot.output(), /listener failed/);
  console.log(
    `    crash: ${events.length} events in ${BURSTS} bursts, SIGKILL at ${killedAfter} ms, restarted at ${startedAt} ms, storm over at ${stormMs} ms, converged at ${convergedMs} ms; ${comments} comments, ${ratings} ratings`,
  );
});

test.run();
