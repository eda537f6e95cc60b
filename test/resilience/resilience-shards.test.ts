// Issue 9, resilience 5: two `bot` processes as shards 0 and 1 of 2 plus two `worker` processes, all on one
// PostgreSQL schema and one queue prefix. The emulator has a server on each shard; replies and reactions
// in both: nothing lost or doubled across shards; publishing by the two workers gives one announcement per post.
// Run alone: npx tsx test/resilience/resilience-shards.test.ts
import type { APIMessage } from 'discord-api-types/v10';
import * as assert from 'uvu/assert';
import { KEYCAPS } from '../../src/domain/rating.ts';
import { exportData } from '../../src/services/export.ts';
import { eventually } from '../support/assert.ts';
import { exportJson, logLines, newQueuePrefix, type BotProcess } from '../support/bot.ts';
import { botAnnouncements, e2eSuite, isCompleteAnnouncement, startE2eBot, type E2eContext } from '../support/e2e.ts';
import { shardOf, type StormEvent } from '../../emulator/index.ts';
import { feedItem, startFeedServer, type FeedServer } from '../support/feed-server.ts';
import { mirrorDifferences, type WatchedPost } from '../support/services.ts';

const PEOPLE = Array.from({ length: 12 }, (_, i) => `person${i}`);
const GUILDS = ['north', 'south'] as const;

interface Ctx extends E2eContext {
  feeds: FeedServer;
  prefix: string;
  bots: BotProcess[];
  workers: BotProcess[];
}

const test = e2eSuite<Ctx>('resilience: two shards and two workers on PostgreSQL', {
  dialect: 'postgres',
  emulator: {
    guilds: GUILDS.map((name) => ({ name, channels: [{ name: 'posts' }, { name: 'general' }] })),
    users: [{ username: 'admin', manageGuild: true }, ...PEOPLE.map((username) => ({ username }))],
  },
  commands: true,
});

test.before(async (ctx) => {
  ctx.feeds = await startFeedServer({ items: [1, 2, 3].map((n) => feedItem(n)).reverse() });
  ctx.prefix = newQueuePrefix();
});

test.after(async (ctx) => {
  await ctx.feeds?.close();
});

const announcements = (ctx: Ctx, guild: string): APIMessage[] => botAnnouncements(ctx.discord, ctx.discord.channel('posts', guild).id);
const complete = (ctx: Ctx, m: APIMessage) => isCompleteAnnouncement(ctx.discord, m);

test('replies and reactions in servers on both shards, posts published by two workers: each exactly once', async (ctx) => {
  const d = ctx.discord;
  const shards = GUILDS.map((g) => shardOf(d.guild(g).id, 2));
  assert.equal([...shards].sort(), [0, 1], `one server on each shard (${shards})`);

  const env = { FEED_POLL_INTERVAL_SECONDS: '1', ANNOUNCEMENT_REFRESH_MS: '500', SYNC_INTERVAL_SECONDS: '3600', RECOUNT_INTERVAL_SECONDS: '3600' };
  const common = { queuePrefix: ctx.prefix };
  // Workers first (they apply the migrations and own the queues), then the two gateway shards.
  ctx.workers = await Promise.all([0, 1].map(() => startE2eBot(ctx, { ...common, role: 'worker', env })));
  ctx.bots = await Promise.all(
    [0, 1].map((shard) => startE2eBot(ctx, { ...common, role: 'bot', env: { ...env, SHARD_IDS: String(shard), SHARD_COUNT: '2' } })),
  );
  await d.waitForReady({ shards: 2, timeout: 15_000 });
  for (const [i, bot] of ctx.bots.entries()) {
    await bot.waitForOutput(/connected to Discord/);
    const connected = logLines(bot).find((l) => l.msg === 'connected to Discord')!;
    assert.equal(connected.shards, [i], `bot ${i} runs shard ${i} only`);
    assert.is(connected.guilds, 1, `bot ${i} sees one server`);
  }

  // Each server follows the blog (the command is answered by the shard of its server), two old posts each.
  for (const g of GUILDS) {
    const res = await d.runCommand('admin', d.channel('general', g).id, 'feed', {
      subcommand: 'add',
      options: { url: ctx.feeds.url(g === 'north' ? '/rss' : '/atom'), channel: d.channel('posts', g).id } as never,
      timeout: 20_000,
    });
    assert.match(res.content, /Now following/);
  }
  // New posts appear: both workers poll and publish; each post is announced once per server.
  for (const n of [4, 5, 6]) ctx.feeds.items.unshift(feedItem(n));
  await eventually(() => GUILDS.every((g) => announcements(ctx, g).length === 3 && announcements(ctx, g).every((m) => complete(ctx, m))), {
    timeout: 30_000,
    message: `3 complete announcements per server (have ${GUILDS.map((g) => announcements(ctx, g).length)})`,
  });

  const exported0 = await exportData(ctx.t.db);
  const posts: WatchedPost[] = GUILDS.flatMap((g) =>
    announcements(ctx, g).map((m) => ({ postId: exported0.posts.find((p) => p.discord.messageId === m.id)!.id, threadId: m.id, announcementId: m.id })),
  );
  assert.is(posts.length, 6);

  // A storm in both servers at once.
  let s = 5;
  const rand = (n: number) => ((s = (s * 1103515245 + 12345) % 2 ** 31), Math.floor((s / 2 ** 31) * n));
  const events: StormEvent[] = Array.from({ length: 360 }, (_, i) => {
    const p = posts[rand(posts.length)]!;
    const user = PEOPLE[rand(PEOPLE.length)]!;
    if (rand(2) === 0) return { type: 'message', user, channel: p.threadId, content: `reply ${i} by ${user}` };
    return { type: rand(4) < 3 ? 'react' : 'unreact', user, message: p.announcementId, emoji: KEYCAPS[rand(5)]! };
  });
  for (let i = 0; i < events.length; i += 60) await d.storm(events.slice(i, i + 60));

  let last: string[] = [];
  await eventually(
    async () => {
      last = mirrorDifferences(d, await exportData(ctx.t.db), posts);
      return last.length === 0;
    },
    { timeout: 30_000, interval: 250, message: 'both servers mirrored' },
  ).catch((err: Error) => {
    throw new Error(`${err.message}\n${last.join('\n')}`);
  });

  await new Promise((r) => setTimeout(r, 2000)); // more polls by both workers: nothing new
  const exported = await exportJson(ctx.t.url);
  assert.equal(mirrorDifferences(d, exported, posts), []);
  for (const g of GUILDS) {
    const guildId = d.guild(g).id;
    assert.is(announcements(ctx, g).length, 3, `${g}: one announcement per post`);
    const threads = d.requests.filter(
      (r) => r.route === 'POST /channels/{channel_id}/messages/{message_id}/threads' && r.status < 300 && r.params.channel_id === d.channel('posts', g).id,
    );
    assert.is(threads.length, 3, `${g}: one thread per post`);
    const published = exported.posts.filter((p) => p.guildId === guildId && p.discord.messageId);
    assert.equal(published.map((p) => p.title).sort(), ['Post number 4', 'Post number 5', 'Post number 6']);
  }
  const comments = exported.posts.reduce((n: number, p: { comments: unknown[] }) => n + p.comments.length, 0);
  assert.ok(comments > 120, `${comments} comments`);
  // Both workers took part in publishing.
  const publishers = ctx.workers.filter((w) => logLines(w).some((l) => l.msg === 'published'));
  console.log(`    shards: ${events.length} storm events over 2 servers on 2 shards; ${comments} comments; ${publishers.length} of 2 workers published`);
  for (const p of [...ctx.bots, ...ctx.workers]) assert.is(p.child.exitCode, null);
  for (const b of ctx.bots) assert.not.match(b.output(), /listener failed/);
});

test.run();
