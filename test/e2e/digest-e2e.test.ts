/**
 * The weekly digest end to end: the real bot process (`blogcord start`, then two `blogcord worker` processes)
 * against the local Discord emulator, on PostgreSQL and the real Redis.
 * Run alone: npx tsx test/digest-e2e.test.ts
 */
import * as assert from 'uvu/assert';
import { Queue } from 'bullmq';
import type { APIMessage } from 'discord-api-types/v10';
import { createRedis } from '../../src/redis.ts';
import { PNG } from 'pngjs';
import { periodKeyFromFooter } from '../../src/render/digest.ts';
import { countReplies } from '../../src/repositories/comments.ts';
import { listDigests } from '../../src/repositories/digest-runs.ts';
import { upsertFeed } from '../../src/repositories/feeds.ts';
import { getGuildSettings } from '../../src/repositories/guilds.ts';
import { setPublishState, upsertPostFromFeed } from '../../src/repositories/posts.ts';
import { getRatingSummary } from '../../src/repositories/ratings.ts';
import { exportData } from '../../src/services/export.ts';
import { currentPeriodSoFar, periodJustEnded, type DigestSchedule } from '../../src/services/digest-period.ts';
import { eventually } from '../support/assert.ts';
import { logLines, newQueuePrefix, REDIS_URL, type BotProcess } from '../support/bot.ts';
import { e2eSuite, startE2eBot } from '../support/e2e.ts';
import type { TestDb } from '../support/db.ts';
import type { DiscordEmulator } from '../../emulator/index.ts';

const test = e2eSuite('weekly digest end to end', {
  dialect: 'postgres',
  emulator: {
    guilds: [
      {
        name: 'blog',
        channels: [
          { name: 'posts', type: 'text' },
          { name: 'digest', type: 'text' },
          { name: 'forum', type: 'forum' },
        ],
      },
    ],
    users: [{ username: 'admin', manageGuild: true }, { username: 'alice' }, { username: 'bob' }, { username: 'carol' }, { username: 'dave' }],
  },
  commands: true,
});
const SCHEDULE: DigestSchedule = { day: 1, hour: 9, timezone: 'Europe/Amsterdam' };

const redis = createRedis(REDIS_URL, { maxRetriesPerRequest: 3 });

test.after(async () => {
  await redis.quit();
});

const digestMessages = (discord: DiscordEmulator): APIMessage[] =>
  discord.messages('digest').filter((m) => periodKeyFromFooter(m.embeds[0]?.footer?.text) !== null);
const keyOf = (m: APIMessage) => periodKeyFromFooter(m.embeds[0]?.footer?.text);

/** A post announced by the bot in #posts with a thread, stored as the publish pipeline would have stored it. */
async function seedPost(
  { discord, t }: { discord: DiscordEmulator; t: TestDb },
  feed: { id: string; guildId: string },
  title: string,
  publishedAt: Date,
): Promise<{ postId: string; announcement: APIMessage; threadId: string }> {
  const announcement = await discord.say(discord.botUser, 'posts', `📰 ${title}`);
  const thread = await discord.createThread(discord.botUser, 'posts', title, { fromMessage: announcement });
  const { post } = await upsertPostFromFeed(
    t.db,
    feed,
    {
      key: title,
      url: `https://blog.example/${encodeURIComponent(title)}`,
      title,
      author: 'Ann',
      publishedAt: publishedAt.toISOString(),
      summaryHtml: null,
      searchText: title,
      imageUrl: null,
      contentHash: title,
    },
    'pending',
  );
  await setPublishState(t.db, post.id, { state: 'published', channelId: announcement.channel_id, messageId: announcement.id, threadId: thread.id });
  return { postId: post.id, announcement, threadId: thread.id };
}

test('/digest schedule, preview, now (once, refused, forced), off; then two workers post each period once, also after Redis is flushed', async (ctx) => {
  const { discord, t, guildId } = ctx;
  const { feed } = await upsertFeed(t.db, { guildId, url: 'https://blog.example/feed', channelId: discord.channel('posts').id });

  const now = new Date();
  const thisWeek = currentPeriodSoFar(SCHEDULE, now);
  const lastWeek = periodJustEnded(SCHEDULE, now);
  const recently = new Date(Math.max(Date.parse(thisWeek.start) + 1000, now.getTime() - 60_000));
  const fresh = await seedPost(ctx, feed, 'Fresh thoughts on feeds', recently);
  await seedPost(ctx, feed, 'Another new post', new Date(recently.getTime() + 1));
  await seedPost(ctx, feed, 'Last week’s post', new Date(Date.parse(lastWeek.start) + 3_600_000));

  const bot = await startE2eBot(ctx);
  // Discord is the source of truth: the server rates and discusses through Discord, the bot mirrors it.
  await discord.react('alice', fresh.announcement, '5️⃣');
  await discord.react('dave', fresh.announcement, '4️⃣');
  for (const user of ['alice', 'bob', 'carol']) await discord.say(user, fresh.threadId, `${user} thinks this is a fine post`);
  await eventually(async () => (await getRatingSummary(t.db, fresh.postId)).count === 2 && (await countReplies(t.db, [fresh.postId])).get(fresh.postId) === 3, {
    timeout: 15_000,
    message: 'the ratings and replies mirrored',
  });
  const run = (user: string, sub: string, options?: Record<string, unknown>, force = false) =>
    discord.runCommand(user, 'posts', 'digest', { subcommand: sub, ...(options ? { options: options as never } : {}), force, timeout: 15_000 });

  // --- /digest schedule: a bad time zone is refused and changes nothing; a good one is saved and scheduled.
  const badZone = await run('admin', 'schedule', { day: 1, hour: 9, timezone: 'Mars/Olympus_Mons', channel: 'digest' });
  assert.ok(badZone.ephemeral);
  assert.match(badZone.content, '"Mars/Olympus_Mons" is not a time zone I know');
  assert.is((await getGuildSettings(t.db, guildId)).digestChannelId, null);
  // A server may show admin commands to everyone: the bot checks Manage Server again.
  const member = await run('alice', 'schedule', { day: 1, hour: 9, timezone: 'UTC', channel: 'digest' }, true);
  assert.match(member.content, 'Manage Server');
  const scheduled = await run('admin', 'schedule', { day: 1, hour: 9, timezone: 'Europe/Amsterdam', channel: 'digest' });
  assert.match(scheduled.content, `posted in <#${discord.channel('digest').id}> every Monday 09:00 (Europe/Amsterdam)`);
  const botQueue = new Queue('digest', { connection: redis, prefix: bot.queuePrefix });
  try {
    const s = await botQueue.getJobScheduler(`digest-${guildId}`);
    assert.equal([s?.pattern, s?.tz], ['0 9 * * 1', 'Europe/Amsterdam']);

    // --- /digest preview: ephemeral, the same renderer, nothing posted.
    const preview = await run('admin', 'preview');
    assert.ok(preview.ephemeral);
    assert.match(preview.embeds[0]!.title!, /^Digest so far/);
    assert.match(preview.embeds[0]!.description!, 'Fresh thoughts on feeds');
    // The preview carries the same chart: attached, shown by the embed.
    const previewFiles = preview.message!.attachments;
    assert.is(previewFiles.length, 1);
    assert.is(previewFiles[0]!.filename, 'digest.png');
    assert.is(preview.embeds[0]!.image?.url, previewFiles[0]!.url);
    assert.is(digestMessages(discord).length, 0);

    // --- /digest now: one digest naming the week's posts with their ratings and reply counts.
    const first = await run('admin', 'now');
    assert.match(first.content, 'Posted the digest of this week so far', first.content);
    const posted = await eventually(() => (digestMessages(discord).length === 1 ? digestMessages(discord)[0] : null), { message: 'the digest message' });
    const embed = posted!.embeds[0]!;
    assert.is(keyOf(posted!), `${thisWeek.key}-now`);
    assert.is(posted!.author.id, discord.botUser.id);
    assert.match(embed.description!, '**📰 New posts (2)**');
    assert.match(
      embed.description!,
      `[Fresh thoughts on feeds](https://blog.example/Fresh%20thoughts%20on%20feeds) ([discussion](https://discord.com/channels/${guildId}/${fresh.threadId}))`,
    );
    assert.match(embed.description!, '★ 4.5/5 (2 ratings) · 💬 3 replies');
    assert.match(embed.description!, 'Another new post');
    assert.match(embed.description!, 'Be the first to rate · 💬 0 replies');
    assert.not.match(embed.description!, 'Last week');
    assert.match(embed.fields![0]!.value, '1. [Fresh thoughts on feeds]');
    assert.is(embed.fields!.at(-1)!.value, '2 new posts · 3 new comments · 2 ratings · 4 people taking part');
    // The chart reached Discord as an uploaded PNG with alt text, and the embed shows it (attachment:// resolved).
    assert.is(posted!.attachments.length, 1);
    const chart = posted!.attachments[0]!;
    assert.is(chart.filename, 'digest.png');
    assert.is(chart.content_type, 'image/png');
    assert.equal([chart.width, chart.height], [1200, 600]);
    assert.match(chart.description!, /^Chart of .*Replies and ratings per day: .*Ratings given, by stars: 5 stars: \d+/);
    assert.is(embed.image?.url, chart.url);
    const png = PNG.sync.read(Buffer.from(await (await fetch(chart.url)).arrayBuffer()));
    assert.equal([png.width, png.height], [1200, 600]);
    assert.match(first.content, posted!.id);

    // --- a second /digest now posts nothing and says so; force posts again.
    const second = await run('admin', 'now');
    assert.match(second.content, 'already posted');
    assert.match(second.content, 'force');
    assert.is(digestMessages(discord).length, 1);
    const forced = await run('admin', 'now', { force: true });
    assert.match(forced.content, 'Posted the digest');
    await eventually(() => digestMessages(discord).length === 2, { message: 'the forced digest' });
    assert.is(keyOf(digestMessages(discord)[1]!), `${thisWeek.key}-now-r2`);

    // --- /digest off removes the scheduler; schedule turns it on again.
    const off = await run('admin', 'off');
    assert.match(off.content, 'The weekly digest is off');
    assert.is(await botQueue.getJobScheduler(`digest-${guildId}`), undefined);
    assert.is((await getGuildSettings(t.db, guildId)).digestEnabled, false);
    await run('admin', 'schedule', { day: 1, hour: 9, timezone: 'Europe/Amsterdam', channel: 'digest' });
    assert.ok(await botQueue.getJobScheduler(`digest-${guildId}`));
  } finally {
    await botQueue.close();
  }
  await bot.stop();

  // --- two worker processes, one Redis prefix, the scheduler firing every 2 s: one digest for the week that ended.
  const shared = newQueuePrefix();
  const env = { DIGEST_CRON_OVERRIDE: '*/2 * * * * *' };
  const startWorkers = () => Promise.all([0, 1].map(() => startE2eBot(ctx, { role: 'worker', queuePrefix: shared, env })));
  const jobsDone = (workers: BotProcess[]) => workers.flatMap((w) => logLines(w).filter((l) => l.msg === 'digest job done'));
  let workers = await startWorkers();
  await eventually(() => digestMessages(discord).length === 3, { timeout: 15_000, message: 'the scheduled digest' });
  const weekly = digestMessages(discord)[2]!;
  assert.is(keyOf(weekly), lastWeek.key);
  assert.match(weekly.embeds[0]!.title!, /^Weekly digest · /);
  assert.match(weekly.embeds[0]!.description!, 'Last week’s post');
  assert.match(weekly.embeds[0]!.description!, 'Be the first to rate · 💬 0 replies');
  assert.is(weekly.embeds[0]!.fields!.at(-1)!.value, '1 new post · 0 new comments · 0 ratings · 0 people taking part');
  await eventually(() => jobsDone(workers).length >= 4, { timeout: 15_000, message: 'more scheduler ticks' });
  assert.is(digestMessages(discord).length, 3, 'later ticks post nothing');
  const statuses = jobsDone(workers).map((l) => l.status);
  assert.is(statuses.filter((s) => s === 'posted').length, 1);
  assert.is(statuses.filter((s) => s === 'already-posted').length, statuses.length - 1, JSON.stringify(statuses));
  await Promise.all(workers.map((w) => w.stop()));

  // --- Redis loses everything of this prefix; the restarted workers register the schedule again and it fires.
  const keys = await redis.keys(`${shared}:*`);
  assert.ok(keys.length > 0);
  await redis.del(...keys);
  const sharedQueue = new Queue('digest', { connection: redis, prefix: shared });
  try {
    assert.is(await sharedQueue.getJobScheduler(`digest-${guildId}`), undefined);
    workers = await startWorkers();
    const back = (await eventually(() => sharedQueue.getJobScheduler(`digest-${guildId}`), { message: 'the schedule registered again' }))!;
    assert.equal([back.pattern, back.tz], ['*/2 * * * * *', 'Europe/Amsterdam']);
    await eventually(() => jobsDone(workers).length >= 2, { timeout: 15_000, message: 'the schedule firing after the flush' });
    assert.ok(jobsDone(workers).every((l) => l.status === 'already-posted'));
    assert.is(digestMessages(discord).length, 3, 'still one digest per period');
  } finally {
    await sharedQueue.close();
  }
  await Promise.all(workers.map((w) => w.stop()));

  // The database and the export agree: three posted digests, each with its message.
  const rows = await listDigests(t.db, { guildId });
  assert.equal(
    rows.map((r) => [r.periodKey, r.state]),
    [
      [lastWeek.key, 'posted'],
      [`${thisWeek.key}-now`, 'posted'],
      [`${thisWeek.key}-now-r2`, 'posted'],
    ].sort((a, b) => a[0]!.localeCompare(b[0]!)),
  );
  const exported = await exportData(t.db, { guildId });
  assert.equal(
    exported.digests.map((d) => d.messageId).sort(),
    digestMessages(discord)
      .map((m) => m.id)
      .sort(),
  );
});

test.run();
