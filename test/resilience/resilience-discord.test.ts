// Issue 9, resilience 4: Discord answering 429 and 5xx for a while (the emulator's failNext) across
// publishing, reaction removal, announcement refresh, interaction replies and the digest. Everything
// still arrives exactly once: one announcement and one thread per post, one digest, every comment and
// rating in the export.
// Run alone: npx tsx test/resilience/resilience-discord.test.ts
import type { APIMessage } from 'discord-api-types/v10';
import * as assert from 'uvu/assert';
import { periodKeyFromFooter } from '../../src/render/digest.ts';
import { KEYCAPS } from '../../src/domain/rating.ts';
import { upsertGuildSettings } from '../../src/repositories/guilds.ts';
import { periodJustEnded } from '../../src/services/digest-period.ts';
import { exportData } from '../../src/services/export.ts';
import { eventually } from '../support/assert.ts';
import { exportJson, type BotProcess } from '../support/bot.ts';
import { botAnnouncements, e2eSuite, startE2eBot, type E2eContext } from '../support/e2e.ts';
import { feedItem, startFeedServer, type FeedServer } from '../support/feed-server.ts';
import { mirrorDifferences, type WatchedPost } from '../support/services.ts';

const PEOPLE = Array.from({ length: 8 }, (_, i) => `person${i}`);
const SCHEDULE = { day: 1, hour: 9, timezone: 'UTC' };
const R = '/channels/{channel_id}/messages/{message_id}';

interface Ctx extends E2eContext {
  feeds: FeedServer;
  bot: BotProcess;
}

const test = e2eSuite<Ctx>('resilience: Discord answering 429 and 5xx for a while', {
  emulator: {
    guilds: [{ name: 'blog', channels: [{ name: 'posts' }, { name: 'digest' }, { name: 'general' }] }],
    users: [{ username: 'admin', manageGuild: true }, ...PEOPLE.map((username) => ({ username }))],
  },
  commands: true,
});

test.before(async (ctx) => {
  const lastWeek = periodJustEnded(SCHEDULE);
  ctx.feeds = await startFeedServer({
    items: [1, 2, 3].map((n) => feedItem(n, { date: new Date(Date.parse(lastWeek.start) + n * 3_600_000).toISOString() })).reverse(),
  });
});

test.after(async (ctx) => {
  await ctx.feeds?.close();
});

const isDigest = (m: APIMessage) => periodKeyFromFooter(m.embeds?.[0]?.footer?.text) !== null;
const announcements = (ctx: Ctx) => botAnnouncements(ctx.discord, 'posts').filter((m) => !isDigest(m));
const digests = (ctx: Ctx) => ['posts', 'digest', 'general'].flatMap((c) => ctx.discord.messages(c)).filter(isDigest);
const ratingText = (ctx: Ctx, id: string) => ctx.discord.message(id)?.embeds?.[0]?.fields?.find((f) => f.name === 'Rating')?.value;
const failed = (ctx: Ctx, route: string) => ctx.discord.requests.filter((r) => r.route === route && r.status >= 429).length;

test('publishing, reactions, refreshes, interaction replies and the digest under 429/5xx: everything exactly once', async (ctx) => {
  const d = ctx.discord;
  const guildId = d.guild('blog').id;
  await upsertGuildSettings(ctx.t.db, guildId, {
    digestChannelId: d.channel('digest').id,
    digestDay: SCHEDULE.day,
    digestHour: SCHEDULE.hour,
    digestTimezone: SCHEDULE.timezone,
    digestEnabled: true,
    digestEmpty: 'post',
  });
  ctx.bot = await startE2eBot(ctx, {
    env: { FEED_POLL_INTERVAL_SECONDS: '1', ANNOUNCEMENT_REFRESH_MS: '300', DIGEST_CRON_OVERRIDE: '*/2 * * * * *' },
  });
  await d.waitForReady();

  // Faults for a while: every one of these routes fails its next few requests.
  d.failNext('POST /interactions/{interaction_id}/{interaction_token}/callback', { status: 429, retryAfter: 0.3, times: 1 });
  d.failNext('PATCH /webhooks/{application_id}/{interaction_token}/messages/{message_id}', { status: 503, times: 2 });
  d.failNext('POST /channels/{channel_id}/messages', { status: 503, times: 2 });
  d.failNext('POST /channels/{channel_id}/messages', { status: 429, retryAfter: 0.5, times: 2 });
  d.failNext(`POST ${R}/threads`, { status: 502, times: 4 });
  d.failNext(`PUT ${R}/reactions/{emoji}/@me`, { status: 429, retryAfter: 0.2, scope: 'shared', times: 3 });
  d.failNext(`PUT ${R}/reactions/{emoji}/@me`, { status: 500, times: 3 });
  d.failNext(`DELETE ${R}/reactions/{emoji}/{user_id}`, { status: 500, times: 3 });
  d.failNext(`DELETE ${R}/reactions/{emoji}/{user_id}`, { status: 429, retryAfter: 0.3, times: 2 });
  d.failNext(`PATCH ${R}`, { status: 502, times: 3 });
  d.failNext('*', { status: 500, times: 3 });

  const added = await d.runCommand('admin', 'general', 'feed', {
    subcommand: 'add',
    options: { url: ctx.feeds.url('/rss'), channel: 'posts', backfill: 3 } as never,
    timeout: 20_000,
  });
  assert.match(added.content, /Now following/);
  await eventually(
    () =>
      announcements(ctx).length === 3 &&
      announcements(ctx).every((m) => {
        try {
          d.thread(m.id);
        } catch {
          return false;
        }
        return KEYCAPS.every((e) => d.reactions(m.id).get(e)?.includes(d.botUser.id));
      }),
    { timeout: 40_000, interval: 100, message: `3 complete announcements (have ${announcements(ctx).length})` },
  );

  // The server talks and rates; people switch keycaps (the bot removes the old ones, under faults too).
  const posts: WatchedPost[] = [];
  const exported0 = await exportData(ctx.t.db);
  for (const m of announcements(ctx))
    posts.push({ postId: exported0.posts.find((p) => p.discord.messageId === m.id)!.id, threadId: m.id, announcementId: m.id });
  for (const [i, user] of PEOPLE.entries()) {
    for (const p of posts) {
      await d.say(user, p.threadId, `${user} on ${p.postId}`);
      await d.react(user, p.announcementId, KEYCAPS[(i + 2) % 5]!);
      if (i % 2 === 0) await d.react(user, p.announcementId, KEYCAPS[i % 5]!); // a switch: the bot removes the first
    }
  }
  d.failNext(`PATCH ${R}`, { status: 503, times: 3 });
  d.failNext(`DELETE ${R}/reactions/{emoji}/{user_id}`, { status: 502, times: 2 });
  for (const user of PEOPLE.slice(0, 3)) await d.react(user, posts[0]!.announcementId, '4️⃣');

  let last: string[] = [];
  await eventually(
    async () => {
      last = mirrorDifferences(d, await exportData(ctx.t.db), posts);
      return last.length === 0;
    },
    { timeout: 40_000, interval: 250, message: 'every comment and rating' },
  ).catch((err: Error) => {
    throw new Error(
      `${err.message}\n${last.join('\n')}\n${ctx.bot
        .output()
        .split('\n')
        .filter((l) => /"level":[45]0/.test(l))
        .slice(-10)
        .join('\n')}`,
    );
  });
  // The announcements show their final rating (the refresh got through its 5xx).
  const exported = await exportJson(ctx.t.url);
  for (const p of posts) {
    const r = exported.posts.find((x) => x.id === p.postId)!.rating;
    const label = `★ ${Math.round(r.average * 10) / 10}/5 (${r.count} ${r.count === 1 ? 'rating' : 'ratings'})`;
    await eventually(() => ratingText(ctx, p.announcementId) === label, {
      timeout: 20_000,
      message: `announcement shows ${label}, not ${ratingText(ctx, p.announcementId)}`,
    });
  }
  assert.equal(mirrorDifferences(d, exported, posts), []);

  // Exactly once: three announcements, three threads, one digest for the week; the faults did happen.
  await eventually(() => digests(ctx).length === 1, { timeout: 15_000, message: 'the digest' });
  await new Promise((r) => setTimeout(r, 2500)); // more polls and digest ticks: nothing new
  assert.is(announcements(ctx).length, 3);
  assert.is(d.requests.filter((r) => r.route === `POST ${R}/threads` && r.status < 300).length, 3, 'one thread per post');
  assert.is(digests(ctx).length, 1, 'one digest');
  assert.equal(
    exported.digests.map((x) => x.messageId),
    [digests(ctx)[0]!.id],
  );
  const status = await d.runCommand('admin', 'general', 'status', { timeout: 15_000 });
  assert.ok(status.ephemeral);
  assert.is(status.embeds[0]!.fields!.find((f) => f.name === 'Posts')!.value, '3');
  for (const route of [
    'POST /channels/{channel_id}/messages',
    `POST ${R}/threads`,
    `PUT ${R}/reactions/{emoji}/@me`,
    `DELETE ${R}/reactions/{emoji}/{user_id}`,
    `PATCH ${R}`,
  ]) {
    assert.ok(failed(ctx, route) > 0, `${route} met faults`);
  }
  assert.is(
    d.rest.failures.reduce((n, f) => n + f.left, 0),
    0,
    'every injected fault was met',
  );
  assert.is(ctx.bot.child.exitCode, null);
});

test.run();
