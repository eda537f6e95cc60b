// Issue 9, resilience 2: PostgreSQL stopped for 10 seconds in the middle of an event storm. The bot stays
// up (same process, it answers /status afterwards) and then converges to what Discord shows.
// A private PostgreSQL cluster (test/support/services.ts): the machine's shared one is never stopped.
// Run alone: npx tsx test/resilience/resilience-postgres.test.ts
import * as assert from 'uvu/assert';
import { createDb } from '../../src/db/index.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';
import { exportData } from '../../src/services/export.ts';
import { eventually } from '../support/assert.ts';
import { exportJson, logLines, type BotProcess } from '../support/bot.ts';
import { announcedPost, e2eSuite, startE2eBot, type E2eContext } from '../support/e2e.ts';
import type { StormEvent } from '../../emulator/index.ts';
import { KEYCAPS } from '../../src/domain/rating.ts';
import { mirrorDifferences, startPrivatePostgres, type PrivatePostgres, type WatchedPost } from '../support/services.ts';

const PEOPLE = Array.from({ length: 20 }, (_, i) => `person${i}`);
const OUTAGE_MS = 10_000;

interface Ctx extends E2eContext {
  pg: PrivatePostgres;
  posts: WatchedPost[];
  bot: BotProcess;
}

// The suite's own PostgreSQL cluster, set by the database hook below and handed to the tests.
let pg: PrivatePostgres | undefined;

const test = e2eSuite<Ctx>('resilience: PostgreSQL stopped for 10 s in the middle of a storm', {
  async database() {
    pg = await startPrivatePostgres();
    const db = createDb({ databaseUrl: pg.url });
    const close = async () => {
      await db.destroy();
      await pg?.destroy();
    };
    try {
      await migrateToLatest(db);
    } catch (err) {
      await close();
      throw err;
    }
    return { db, url: pg.url, close };
  },
  emulator: {
    guilds: [{ name: 'blog', channels: [{ name: 'posts' }] }],
    users: [...PEOPLE.map((username) => ({ username })), { username: 'admin', manageGuild: true }],
  },
  commands: true,
});

test.before(async (ctx) => {
  ctx.pg = pg!;
  ctx.posts = [];
  // As the publish pipeline leaves them: each announcement with its thread and the bot's five keycaps, and the row.
  for (const key of ['one', 'two']) {
    const { postId, threadId, announcementId } = await announcedPost(ctx, key, { keycaps: true });
    ctx.posts.push({ postId, threadId: threadId!, announcementId });
  }
});

function stormEvents(posts: readonly WatchedPost[], count: number, seed: number): StormEvent[] {
  let s = seed;
  const rand = (n: number) => ((s = (s * 1103515245 + 12345) % 2 ** 31), Math.floor((s / 2 ** 31) * n));
  return Array.from({ length: count }, (_, i): StormEvent => {
    const post = posts[rand(posts.length)]!;
    const user = PEOPLE[rand(PEOPLE.length)]!;
    if (rand(2) === 0) return { type: 'message', user, channel: post.threadId, content: `reply ${seed}-${i} from ${user}` };
    return { type: rand(5) < 3 ? 'react' : 'unreact', user, message: post.announcementId, emoji: KEYCAPS[rand(5)]! };
  });
}

test('the bot stays up through the outage, answers /status, and converges', async (ctx) => {
  const d = ctx.discord;
  // The periodic catch-up and recount are far away: convergence must not wait for them.
  ctx.bot = await startE2eBot(ctx, {
    env: { ANNOUNCEMENT_REFRESH_MS: '1000', SYNC_INTERVAL_SECONDS: '3600', RECOUNT_INTERVAL_SECONDS: '3600' },
  });
  await ctx.bot.waitForOutput(/connected to Discord/);
  const pid = ctx.bot.child.pid;

  const events = stormEvents(ctx.posts, 1000, 11);
  // Before: the threads and announcements are known to the process (its caches are warm).
  await d.storm(events.slice(0, 80));
  await eventually(async () => (await exportData(ctx.t.db)).posts.every((p) => p.comments.length > 5 && p.ratings.length > 0), {
    timeout: 10_000,
    message: 'the storm reaches the database',
  });

  const t0 = Date.now();
  await ctx.pg.stop();
  const stoppedIn = Date.now() - t0;
  // During: the storm goes on for the whole outage.
  let sent = 80;
  while (Date.now() - t0 < OUTAGE_MS) {
    await d.storm(events.slice(sent, sent + 15));
    sent += 15;
    await new Promise((r) => setTimeout(r, 400));
  }
  assert.ok(sent > 200 && sent < events.length, `${sent} events sent`);
  const statusDown = await d.runCommand('admin', 'posts', 'status', { timeout: 15_000 }).catch((err: Error) => {
    throw new Error(`${err.message}\n${ctx.bot.output().slice(-6000)}`);
  });
  assert.match(statusDown.embeds[0]!.fields!.find((f) => f.name === 'Database')!.value, /^❌ postgres/);
  await ctx.pg.start();
  const outageMs = Date.now() - t0;
  // After: the rest of the storm.
  await d.storm(events.slice(sent));

  assert.is(ctx.bot.child.exitCode, null, 'the bot process is still running');
  assert.is(ctx.bot.child.pid, pid);
  let last: string[] = [];
  await eventually(
    async () => {
      last = mirrorDifferences(d, await exportData(ctx.t.db), ctx.posts);
      return last.length === 0;
    },
    { timeout: 45_000, interval: 300, message: 'convergence' },
  ).catch((err: Error) => {
    throw new Error(
      `${err.message}\nstill different:\n${last.join('\n')}\n${ctx.bot
        .output()
        .split('\n')
        .filter((l) => /warn|error|"level":[45]0/.test(l))
        .slice(-15)
        .join('\n')}`,
    );
  });
  const convergedMs = Date.now() - t0;

  const status = await d.runCommand('admin', 'posts', 'status', { timeout: 15_000 });
  assert.ok(status.ephemeral);
  assert.match(status.embeds[0]!.fields!.find((f) => f.name === 'Database')!.value, /^✅ postgres/);
  assert.is(status.embeds[0]!.fields!.find((f) => f.name === 'Posts')!.value, '2');
  assert.is(ctx.bot.child.pid, pid, 'the same process answered');
  assert.equal(mirrorDifferences(d, await exportJson(ctx.pg.url), ctx.posts), []);
  assert.ok(
    logLines(ctx.bot).some((l) => l.msg === 'comment writes failed: retrying with backoff'),
    'the comment writer met the outage',
  );
  console.log(
    `    postgres outage: stopped in ${stoppedIn} ms, down ${outageMs} ms with ${sent - 80} events meanwhile; converged ${convergedMs - outageMs} ms after it was back`,
  );
});

test.run();
