// Issue 9, resilience 3: Redis restarted (killed, and back empty: a Redis that keeps nothing) while posts
// are being published and while the digest is scheduled. No post lost or doubled, the digest still posts
// once for its period, and the schedules are back after the restart.
// A private redis-server (test/support/services.ts): the machine's shared Redis is never restarted.
// Run alone: npx tsx test/resilience/resilience-redis.test.ts
import { Queue } from 'bullmq';
import type { APIMessage } from 'discord-api-types/v10';
import * as assert from 'uvu/assert';
import { createRedis } from '../../src/redis.ts';
import { periodKeyFromFooter } from '../../src/render/digest.ts';
import { KEYCAPS } from '../../src/domain/rating.ts';
import { upsertGuildSettings } from '../../src/repositories/guilds.ts';
import { periodJustEnded } from '../../src/services/digest-period.ts';
import { eventually } from '../support/assert.ts';
import { exportJson, logLines, type BotProcess } from '../support/bot.ts';
import { botAnnouncements, e2eSuite, isCompleteAnnouncement, startE2eBot, type E2eContext } from '../support/e2e.ts';
import { feedItem, startFeedServer, type FeedServer } from '../support/feed-server.ts';
import { startPrivateRedis, type PrivateRedis } from '../support/services.ts';

interface Ctx extends E2eContext {
  redis: PrivateRedis;
  feeds: FeedServer;
  bot: BotProcess;
}

const test = e2eSuite<Ctx>('resilience: Redis restarted during publishing and digest scheduling', {
  emulator: {
    guilds: [{ name: 'blog', channels: [{ name: 'posts' }, { name: 'digest' }, { name: 'general' }] }],
    users: [{ username: 'admin', manageGuild: true }],
  },
  commands: true,
});
const SCHEDULE = { day: 1, hour: 9, timezone: 'UTC' };

test.before(async (ctx) => {
  ctx.redis = await startPrivateRedis();
  ctx.feeds = await startFeedServer({ items: [feedItem(1)] });
});

test.after(async (ctx) => {
  await ctx.feeds?.close();
  await ctx.redis?.destroy();
});

const announcements = (ctx: Ctx): APIMessage[] => botAnnouncements(ctx.discord, 'posts').filter((m) => !isDigest(m));
const complete = (ctx: Ctx, m: APIMessage): boolean => isCompleteAnnouncement(ctx.discord, m);
const isDigest = (m: APIMessage) => periodKeyFromFooter(m.embeds?.[0]?.footer?.text) !== null;
/** Every digest message in the server (whatever channel). */
const digests = (ctx: Ctx): APIMessage[] => ['posts', 'digest', 'general'].flatMap((c) => ctx.discord.messages(c)).filter(isDigest);
const threadsOfPosts = (ctx: Ctx) =>
  ctx.discord.requests.filter((r) => r.route === 'POST /channels/{channel_id}/messages/{message_id}/threads' && r.status < 300);

test('no post lost or doubled across a Redis restart; the digest posts once and its schedule comes back', async (ctx) => {
  const d = ctx.discord;
  // The digest of the server: weekly (Monday 09:00 UTC) in #digest, posted even when a week is empty, so
  // that it fires from the first tick of DIGEST_CRON_OVERRIDE on (every 2 s) for the week that ended.
  await upsertGuildSettings(ctx.t.db, d.guild('blog').id, {
    digestChannelId: d.channel('digest').id,
    digestDay: SCHEDULE.day,
    digestHour: SCHEDULE.hour,
    digestTimezone: SCHEDULE.timezone,
    digestEnabled: true,
    digestEmpty: 'post',
  });
  ctx.bot = await startE2eBot(ctx, {
    env: { REDIS_URL: ctx.redis.url, FEED_POLL_INTERVAL_SECONDS: '1', DIGEST_CRON_OVERRIDE: '*/2 * * * * *', ANNOUNCEMENT_REFRESH_MS: '500' },
  });
  const run = (name: string, sub: string, options: Record<string, unknown>) =>
    d.runCommand('admin', 'general', name, { subcommand: sub, options: options as never, timeout: 15_000 });
  const added = await run('feed', 'add', { url: ctx.feeds.url('/rss'), channel: 'posts', backfill: 0 });
  assert.match(added.content, /Now following/);

  // --- Publishing: five new items of last week's digest period appear; Redis dies while they are published.
  const lastWeek = periodJustEnded(SCHEDULE);
  const inPeriod = (n: number) => new Date(Date.parse(lastWeek.start) + n * 3_600_000).toISOString();
  for (const n of [2, 3, 4, 5, 6]) ctx.feeds.items.unshift(feedItem(n, { date: inPeriod(n) }));
  await d.waitForRequest((r) => r.route === 'POST /channels/{channel_id}/messages' && r.status === 200 && Boolean((r.body as { embeds?: unknown[] }).embeds), {
    timeout: 15_000,
  });
  // Taken before the restart: the bot may log that Redis is back before restart() has returned.
  const restartedAt = ctx.bot.output().length;
  await ctx.redis.restart();
  // Two more items while Redis comes back.
  for (const n of [7, 8]) ctx.feeds.items.unshift(feedItem(n, { date: inPeriod(n) }));
  await eventually(() => announcements(ctx).length === 7 && announcements(ctx).every((m) => complete(ctx, m)), {
    timeout: 30_000,
    message: `7 complete announcements (have ${announcements(ctx).length})`,
  }).catch((err: Error) => {
    throw new Error(
      `${err.message}\n${ctx.bot
        .output()
        .slice(restartedAt)
        .split('\n')
        .filter((l) => !/"level":20/.test(l))
        .slice(-30)
        .join('\n')}`,
    );
  });
  await new Promise((r) => setTimeout(r, 2000)); // re-polls and re-queued jobs would show a duplicate by now
  const titles = announcements(ctx).map((m) => m.embeds[0]!.title);
  assert.equal([...titles].sort(), [2, 3, 4, 5, 6, 7, 8].map((n) => `Post number ${n}`).sort(), 'each item exactly once');
  assert.is(threadsOfPosts(ctx).length, 7, 'one thread per post');
  for (const m of announcements(ctx))
    assert.is(
      d
        .reactions(m.id)
        .get(KEYCAPS[0])!
        .filter((u) => u === d.botUser.id).length,
      1,
    );
  assert.match(ctx.bot.output().slice(restartedAt), /redis is back: registering job schedulers again/);

  // --- The digest, scheduled every 2 s all along (through the first restart too): one message for last week.
  await eventually(() => digests(ctx).length === 1, { timeout: 15_000, message: 'the scheduled digest' });
  assert.is(periodKeyFromFooter(digests(ctx)[0]!.embeds[0]!.footer!.text), lastWeek.key);
  assert.is(digests(ctx)[0]!.channel_id, d.channel('digest').id);

  // Redis dies again while the digest is scheduled: the schedule comes back and fires, and posts nothing new.
  const doneBefore = logLines(ctx.bot).filter((l) => l.msg === 'digest job done').length;
  await ctx.redis.restart();
  const guildId = d.guild('blog').id;
  const probe = createRedis(ctx.redis.url, { maxRetriesPerRequest: 3 });
  const queue = new Queue('digest', { connection: probe, prefix: ctx.bot.queuePrefix });
  try {
    const back = await eventually(() => queue.getJobScheduler(`digest-${guildId}`), { timeout: 15_000, message: 'the digest schedule registered again' });
    assert.equal([back!.pattern, back!.tz], ['*/2 * * * * *', 'UTC']);
  } finally {
    await queue.close();
    await probe.quit();
  }
  await eventually(() => logLines(ctx.bot).filter((l) => l.msg === 'digest job done').length >= doneBefore + 2, {
    timeout: 15_000,
    message: 'the schedule firing after the restart',
  });
  const after = logLines(ctx.bot)
    .filter((l) => l.msg === 'digest job done')
    .slice(doneBefore);
  assert.ok(
    after.every((l) => l.status === 'already-posted'),
    JSON.stringify(after.map((l) => l.status)),
  );
  assert.is(digests(ctx).length, 1, 'still one digest for the period');
  assert.is(ctx.bot.child.exitCode, null, 'the bot stayed up');

  // The export agrees: seven published posts with their messages, one digest.
  const exported = await exportJson(ctx.t.url);
  const published = exported.posts.filter((p) => p.discord.messageId);
  assert.is(published.length, 7);
  assert.equal(new Set(published.map((p) => p.discord.messageId)), new Set(announcements(ctx).map((m) => m.id)));
  assert.equal(
    exported.digests.map((x) => [x.periodKey, x.messageId]),
    [[lastWeek.key, digests(ctx)[0]!.id]],
  );
});

test.run();
