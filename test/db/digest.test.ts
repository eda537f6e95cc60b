/**
 * The weekly digest: periods across time zones and DST, the SQL on both databases, the renderer within
 * Discord's limits, and exactly-once posting with a fake DiscordPort that honours nonces.
 * Run alone: npx tsx test/db/digest.test.ts
 */
import { type Stars } from '../../src/domain/rating.ts';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { UnrecoverableError, type Job } from 'bullmq';
import type { APIMessage, RESTPostAPIChannelMessageJSONBody } from 'discord-api-types/v10';
import { loadConfig } from '../../src/config.ts';
import type { AppContext } from '../../src/context.ts';
import type { Db } from '../../src/db/index.ts';
import { digestProcessor } from '../../src/jobs/digest.ts';
import { closeQueues, createQueues } from '../../src/jobs/queues.ts';
import { createLogger } from '../../src/logger.ts';
import { createRedis } from '../../src/redis.ts';
import { digestFooter, fitLines, periodKeyFromFooter, renderDigest, type DigestEntry, type DigestView } from '../../src/render/digest.ts';
import { validateMessagePayload } from '../../src/render/limits.ts';
import { markCommentsDeleted } from '../../src/repositories/comments.ts';
import { listNewPosts, mostDiscussed } from '../../src/repositories/digest-window.ts';
import { getDigest, listDigests } from '../../src/repositories/digest-runs.ts';
import { upsertFeed } from '../../src/repositories/feeds.ts';
import { upsertGuildSettings } from '../../src/repositories/guilds.ts';
import { setPublishState, upsertPostFromFeed, type PublishState } from '../../src/repositories/posts.ts';
import { setRating } from '../support/ratings.ts';
import { collectDigest, postDigest, previewDigest, DigestPostError } from '../../src/services/digest.ts';
import { digestSchedulerId, syncAllDigestSchedulers, syncDigestScheduler } from '../../src/jobs/digest.ts';
import { cronPattern, currentPeriodSoFar, periodJustEnded, type DigestPeriod, type DigestSchedule } from '../../src/services/digest-period.ts';
import { DiscordRequestError, type DiscordPort } from '../../src/services/discord-port.ts';
import { exportData } from '../../src/services/export.ts';
import { rejects } from '../support/assert.ts';
import { REDIS_URL } from '../support/bot.ts';
import { createTestDb, DIALECTS, type TestDb } from '../support/db.ts';
import { digestTotals, listActivePosts, ratedInWindow } from '../support/digest-window.ts';
import { storeComment as comment } from '../support/messages.ts';
import { snowflake } from '../support/snowflake.ts';

const hours = (p: { start: string; end: string }) => (Date.parse(p.end) - Date.parse(p.start)) / 3_600_000;

// ============================================================================ periods

const periods = suite('digest periods');

periods('Monday 09:00 UTC: the week that just ended, keyed by the ISO week of its start', () => {
  const s: DigestSchedule = { day: 1, hour: 9, timezone: 'UTC' };
  const p = periodJustEnded(s, new Date('2026-11-30T09:00:00Z')); // exactly the scheduled moment
  assert.equal(p, { key: '2026-W48', start: '2026-11-23T09:00:00.000Z', end: '2026-11-30T09:00:00.000Z', timezone: 'UTC', partial: false });
  // One millisecond earlier, the week before is the one that just ended.
  assert.equal(periodJustEnded(s, new Date('2026-11-30T08:59:59.999Z')).key, '2026-W47');
  // Midweek: still the same ended week; the current one so far starts at the last scheduled moment.
  assert.equal(periodJustEnded(s, new Date('2026-12-03T12:00:00Z')).key, '2026-W48');
  const now = currentPeriodSoFar(s, new Date('2026-12-03T12:00:00Z'));
  assert.equal(now, { key: '2026-W49', start: '2026-11-30T09:00:00.000Z', end: '2026-12-03T12:00:00.000Z', timezone: 'UTC', partial: true });
});

periods('Europe/Amsterdam across the last Sunday of March (167 h) and of October (169 h)', () => {
  const s: DigestSchedule = { day: 1, hour: 9, timezone: 'Europe/Amsterdam' };
  const spring = periodJustEnded(s, new Date('2026-03-30T08:00:00Z')); // Mon 30 Mar 10:00 CEST
  assert.equal(spring.start, '2026-03-23T08:00:00.000Z'); // 09:00 CET
  assert.equal(spring.end, '2026-03-30T07:00:00.000Z'); // 09:00 CEST
  assert.is(hours(spring), 167);
  assert.is(spring.key, '2026-W13');
  const autumn = periodJustEnded(s, new Date('2026-10-26T12:00:00Z'));
  assert.equal(autumn.start, '2026-10-19T07:00:00.000Z'); // 09:00 CEST
  assert.equal(autumn.end, '2026-10-26T08:00:00.000Z'); // 09:00 CET
  assert.is(hours(autumn), 169);
  // The next period starts where the previous ended: no gap, no overlap.
  assert.is(periodJustEnded(s, new Date('2026-11-02T08:00:00Z')).start, autumn.end);
  // A schedule at 02:00 on the spring-forward Sunday (02:00 does not exist): moved to 03:00 CEST, consistently.
  const gap: DigestSchedule = { day: 7, hour: 2, timezone: 'Europe/Amsterdam' };
  const g = periodJustEnded(gap, new Date('2026-03-29T01:30:00Z'));
  assert.is(g.end, '2026-03-29T01:00:00.000Z');
  assert.is(periodJustEnded(gap, new Date('2026-04-05T00:00:00Z')).start, g.end);
});

periods('America/New_York (second Sunday of March, first of November) and a southern-hemisphere zone', () => {
  const s: DigestSchedule = { day: 1, hour: 9, timezone: 'America/New_York' };
  const spring = periodJustEnded(s, new Date('2026-03-09T14:00:00Z'));
  assert.equal([spring.start, spring.end, hours(spring)], ['2026-03-02T14:00:00.000Z', '2026-03-09T13:00:00.000Z', 167]);
  const fall = periodJustEnded(s, new Date('2026-11-02T15:00:00Z'));
  assert.equal([fall.start, fall.end, hours(fall)], ['2026-10-26T13:00:00.000Z', '2026-11-02T14:00:00.000Z', 169]);
  // Before 09:00 local on Monday (13:59 UTC = 08:59 EST), the current week so far started last Monday.
  assert.is(currentPeriodSoFar(s, new Date('2026-11-02T13:59:00Z')).start, fall.start);
  // Auckland leaves daylight saving on the first Sunday of April: that week is 169 h.
  const nz = periodJustEnded({ day: 1, hour: 8, timezone: 'Pacific/Auckland' }, new Date('2026-04-06T00:00:00Z'));
  assert.is(hours(nz), 169);
  // The same UTC instant is a different local week in Tokyo and Los Angeles (Saturday 23:00 vs Sunday 16:00 = cutoff).
  const at = new Date('2026-12-06T07:30:00Z');
  assert.is(periodJustEnded({ day: 7, hour: 16, timezone: 'Asia/Tokyo' }, at).end, '2026-12-06T07:00:00.000Z');
  assert.is(periodJustEnded({ day: 7, hour: 16, timezone: 'America/Los_Angeles' }, at).end, '2026-11-30T00:00:00.000Z');
});

periods('ISO week keys across the year boundary (2026 has 53 ISO weeks)', () => {
  const s: DigestSchedule = { day: 1, hour: 0, timezone: 'UTC' };
  assert.is(periodJustEnded(s, new Date('2027-01-04T00:00:00Z')).key, '2026-W53');
  assert.is(periodJustEnded(s, new Date('2027-01-11T00:00:00Z')).key, '2027-W01');
  assert.is(periodJustEnded({ day: 7, hour: 12, timezone: 'UTC' }, new Date('2027-01-10T12:00:00Z')).key, '2026-W53'); // starts Sun 3 Jan 2027
});

periods('cron patterns, and bad schedules are refused with a clear reason', () => {
  assert.is(cronPattern({ day: 1, hour: 9, timezone: 'UTC' }), '0 9 * * 1');
  assert.is(cronPattern({ day: 7, hour: 0, timezone: 'Europe/Amsterdam' }), '0 0 * * 0');
  assert.throws(() => periodJustEnded({ day: 1, hour: 9, timezone: 'Mars/Olympus' }), /not an IANA time zone/);
  assert.throws(() => periodJustEnded({ day: 8, hour: 9, timezone: 'UTC' }), /weekday 1–7/);
  assert.throws(() => cronPattern({ day: 1, hour: 24, timezone: 'UTC' }), /hour is 0–23/);
});

periods.run();

// ============================================================================ renderer

const render = suite('digest renderer');

const GUILD = '111111111111111111';
const entry = (i: number, extra: Partial<DigestEntry> = {}): DigestEntry => ({
  id: `p${i}`,
  title: `Post ${i}`,
  url: `https://blog.example/${i}`,
  channelId: '222222222222222222',
  messageId: String(333333333333333333n + BigInt(i)),
  threadId: String(333333333333333333n + BigInt(i)),
  ratingSum: 9,
  ratingCount: 2,
  replies: 3,
  ...extra,
});
const baseView = (over: Partial<DigestView> = {}): DigestView => ({
  guildId: GUILD,
  periodKey: '2026-W48',
  period: { start: '2026-11-23T09:00:00.000Z', end: '2026-11-30T09:00:00.000Z', timezone: 'UTC', partial: false },
  newPosts: [entry(1)],
  newPostsTotal: 1,
  topRated: [entry(1)],
  mostDiscussed: [{ ...entry(1), newComments: 2 }],
  totals: { newComments: 2, newRatings: 2, participants: 3 },
  activity: { days: [], stars: [0, 0, 0, 0, 0] },
  waiting: [],
  waitingTotal: 0,
  newVoices: { count: 0, named: [] },
  previous: { newComments: 0, newRatings: 0, participants: 0 },
  ...over,
});

render('entries link to the post and its thread, show the rating and replies; the footer carries the period key', () => {
  const body = renderDigest(baseView());
  assert.equal(validateMessagePayload(body), []);
  assert.equal(body.allowed_mentions, { parse: [] });
  const e = body.embeds![0]!;
  assert.is(e.title, 'Weekly digest · 23–30 Nov 2026');
  assert.match(e.description!, '[Post 1](https://blog.example/1) ([discussion](https://discord.com/channels/111111111111111111/333333333333333334))');
  assert.match(e.description!, '★ 4.5/5 (2 ratings) · 💬 3 replies');
  assert.equal(
    e.fields!.map((f) => f.name),
    ['⭐ Top rated', '💬 Most discussed', 'This week'],
  );
  assert.match(e.fields![1]!.value, '2 new comments (3 replies in all)');
  assert.is(e.fields![2]!.value, '1 new post · 2 new comments · 2 ratings · 3 people taking part');
  assert.is(e.footer!.text, digestFooter('2026-W48'));
  assert.is(periodKeyFromFooter(e.footer!.text), '2026-W48');
  assert.is(periodKeyFromFooter(digestFooter('2026-W48-now-r2')), '2026-W48-now-r2');
  assert.is(periodKeyFromFooter('something else'), null);
});

render('30 posts with long titles, markdown and long URLs stay within every limit (and say how many more)', () => {
  const long = (i: number) =>
    entry(i, {
      title: `**Bold** [not a link](x) @everyone ${'a very long title '.repeat(20)}${i}`,
      url: `https://blog.example/${'segment/'.repeat(40)}${i}?q=(1)`,
      ratingSum: i,
      ratingCount: 1 + (i % 3),
    });
  const posts = Array.from({ length: 25 }, (_, i) => long(i + 1));
  const body = renderDigest(
    baseView({
      newPosts: posts,
      newPostsTotal: 31,
      topRated: posts.slice(0, 5),
      mostDiscussed: posts.slice(0, 5).map((p) => ({ ...p, newComments: 7 })),
    }),
  );
  assert.equal(validateMessagePayload(body), []);
  const e = body.embeds![0]!;
  assert.match(e.description!, /…and \d+ more$/);
  assert.match(e.description!, '**📰 New posts (31)**');
  assert.not.match(e.description!, '@everyone');
  assert.match(e.description!, '\\*\\*Bold\\*\\*');
  // URLs over 300 characters are not linked (the thread still is).
  assert.not.match(e.description!, 'segment/segment');
  assert.match(e.description!, 'https://discord.com/channels/');
  // And with a short URL the post is linked, parentheses escaped.
  const short = renderDigest(baseView({ newPosts: [entry(2, { url: 'https://blog.example/a(b)' })] }));
  assert.match(short.embeds![0]!.description!, '(https://blog.example/a%28b%29)');
});

render('an empty week and a week so far', () => {
  const empty = renderDigest(
    baseView({ newPosts: [], newPostsTotal: 0, topRated: [], mostDiscussed: [], totals: { newComments: 0, newRatings: 0, participants: 0 } }),
  );
  assert.equal(validateMessagePayload(empty), []);
  assert.is(empty.embeds![0]!.description, 'A quiet week: no new posts, comments or ratings.');
  const soFar = renderDigest(
    baseView({
      periodKey: '2026-W49-now',
      period: { start: '2026-11-30T09:00:00.000Z', end: '2026-12-02T10:00:00.000Z', timezone: 'Europe/Amsterdam', partial: true },
    }),
  );
  assert.is(soFar.embeds![0]!.title, 'Digest so far · Mon 30 Nov 2026, 10:00 – now');
  assert.is(soFar.embeds![0]!.fields!.at(-1)!.name, 'So far');
});

render('fitLines keeps whole lines and counts the rest', () => {
  assert.is(fitLines(['a', 'b'], 100), 'a\nb');
  const cut = fitLines(
    Array.from({ length: 50 }, () => 'x'.repeat(50)),
    200,
  );
  assert.ok(cut.length <= 200);
  assert.match(cut, /…and 47 more$/);
});

render.run();

// ============================================================================ queries + service, on both databases

class FakeDiscord implements DiscordPort {
  readonly botId = '999999999999999999';
  readonly channels = new Map<string, APIMessage[]>();
  readonly nonces = new Map<string, APIMessage>();
  created = 0;
  /** Called before a message is created; throw to simulate a failure before Discord got it. */
  beforeCreate: (() => void) | null = null;
  /** Called after a message is created; throw to simulate a lost response (a crash before the id is recorded). */
  afterCreate: (() => void) | null = null;
  /** Hide the channel history from listMessages (a busy channel, where the repair cannot see it). */
  hideHistory = false;
  #seq = 1_000_000_000_000_000_000n;

  async botUserId() {
    return this.botId;
  }
  async createMessage(channelId: string, body: RESTPostAPIChannelMessageJSONBody): Promise<APIMessage> {
    this.beforeCreate?.();
    if (body.enforce_nonce && body.nonce !== undefined) {
      const hit = this.nonces.get(String(body.nonce));
      if (hit) return hit;
    }
    const problems = validateMessagePayload(body);
    if (problems.length) throw new DiscordRequestError(`Invalid Form Body: ${problems.join('; ')}`, 50035, 400);
    const id = String(this.#seq++);
    const message = {
      id,
      channel_id: channelId,
      author: { id: this.botId, username: 'blogcord' },
      content: body.content ?? '',
      embeds: body.embeds ?? [],
      timestamp: new Date().toISOString(),
    } as unknown as APIMessage;
    this.channels.set(channelId, [...(this.channels.get(channelId) ?? []), message]);
    this.created++;
    if (body.nonce !== undefined) this.nonces.set(String(body.nonce), message);
    this.afterCreate?.();
    return message;
  }
  async listMessages(channelId: string, query: { before?: string; limit?: number }): Promise<APIMessage[]> {
    if (this.hideHistory) return [];
    let list = [...(this.channels.get(channelId) ?? [])].reverse();
    if (query.before) list = list.filter((m) => BigInt(m.id) < BigInt(query.before!));
    return list.slice(0, query.limit ?? 50);
  }
  messages(channelId: string): APIMessage[] {
    return this.channels.get(channelId) ?? [];
  }
  // Not used by the digest.
  getChannel(): never {
    throw new Error('not used');
  }
  editMessage(): never {
    throw new Error('not used');
  }
  getMessage(): never {
    throw new Error('not used');
  }
  startThread(): never {
    throw new Error('not used');
  }
  createForumPost(): never {
    throw new Error('not used');
  }
  editThread(): never {
    throw new Error('not used');
  }
  addReaction(): never {
    throw new Error('not used');
  }
  removeUserReaction(): never {
    throw new Error('not used');
  }
  listReactors(): never {
    throw new Error('not used');
  }
  // Webhooks (per-feed identity) are not part of these tests: any use is a test bug, said loudly.
  async createWebhook(): Promise<never> {
    throw new Error('FakeDiscord: webhooks are not part of this test');
  }
  async executeWebhook(): Promise<never> {
    throw new Error('FakeDiscord: webhooks are not part of this test');
  }
  async editWebhookMessage(): Promise<never> {
    throw new Error('FakeDiscord: webhooks are not part of this test');
  }
}

function makeCtx(db: Db, discord: DiscordPort, env: Record<string, string> = {}): AppContext {
  return {
    config: loadConfig({ DIGEST_CHANNEL_ID: undefined, ...env }, { dotenv: false }),
    log: createLogger('silent'),
    db: db as AppContext['db'],
    version: 'test',
    discord,
    queues: null as unknown as AppContext['queues'],
    jobs: null as unknown as AppContext['jobs'], // the digest asks for no queue work
    redisHealth: async () => {},
  };
}

const WEEK: DigestPeriod = { key: '2026-W48', start: '2026-11-23T09:00:00.000Z', end: '2026-11-30T09:00:00.000Z', timezone: 'UTC', partial: false };
const IN = (h: number) => new Date(Date.parse(WEEK.start) + h * 3_600_000).toISOString();
const BEFORE = (h: number) => new Date(Date.parse(WEEK.start) - h * 3_600_000).toISOString();
const AFTER = (h: number) => new Date(Date.parse(WEEK.end) + h * 3_600_000).toISOString();

interface Seeded {
  guildId: string;
  channelId: string;
  posts: Record<string, string>;
}

async function addPost(
  db: Db,
  feed: { id: string; guildId: string },
  key: string,
  opts: { publishedAt: string | null; discoveredAt?: string; state?: PublishState; title?: string },
): Promise<string> {
  const { post } = await upsertPostFromFeed(
    db,
    feed,
    {
      key,
      url: `https://blog.example/${key}`,
      title: opts.title ?? `Title ${key}`,
      author: null,
      publishedAt: opts.publishedAt,
      summaryHtml: null,
      searchText: key,
      imageUrl: null,
      contentHash: key,
    },
    'pending',
  );
  const messageId = snowflake();
  await setPublishState(db, post.id, { state: opts.state ?? 'published', channelId: snowflake(), messageId, threadId: messageId });
  if (opts.discoveredAt) await db.kysely.updateTable('posts').set({ discovered_at: opts.discoveredAt }).where('id', '=', post.id).execute();
  return post.id;
}

async function rate(db: Db, postId: string, stars: number[], at: string, users?: string[]): Promise<void> {
  for (let i = 0; i < stars.length; i++) await setRating(db, postId, users?.[i] ?? snowflake(), stars[i] as Stars, at);
}

/**
 * A week with: new posts (one with no publication date, discovered in the week), an old post rated and
 * discussed in the week, a 'known' post and another server's post (both never counted), comments and
 * ratings before/after the window, and a deleted comment.
 */
async function seedWeek(db: Db): Promise<Seeded> {
  const guildId = snowflake();
  const channelId = snowflake();
  const { feed } = await upsertFeed(db, { guildId, url: `https://blog.example/${guildId}/feed`, channelId });
  const posts: Record<string, string> = {};
  posts.single = await addPost(db, feed, 'single', { publishedAt: IN(1) });
  posts.ten = await addPost(db, feed, 'ten', { publishedAt: IN(2) });
  posts.undated = await addPost(db, feed, 'undated', { publishedAt: null, discoveredAt: IN(3) });
  posts.old = await addPost(db, feed, 'old', { publishedAt: BEFORE(24 * 30) });
  posts.known = await addPost(db, feed, 'known', { publishedAt: IN(4), state: 'known' });
  posts.later = await addPost(db, feed, 'later', { publishedAt: AFTER(1) });
  const { feed: other } = await upsertFeed(db, { guildId: snowflake(), url: 'https://other.example/feed', channelId: snowflake() });
  const foreign = await addPost(db, other, 'foreign', { publishedAt: IN(1) });

  // Ratings: C over 90 days = (5 + 45 + 4) / 15 = 3.6.
  await rate(db, posts.single!, [5], IN(5), ['500000000000000001']);
  await rate(db, posts.ten!, [5, 5, 5, 5, 5, 4, 4, 4, 4, 4], IN(6), ['500000000000000001', ...Array.from({ length: 9 }, () => snowflake())]);
  await rate(db, posts.old!, [1, 1], BEFORE(24 * 10));
  await rate(db, posts.old!, [1, 1], IN(7)); // rated again this week
  await rate(db, foreign, [5, 5, 5], IN(5));
  await rate(db, posts.later!, [2], AFTER(2));

  // Comments: 'old' is the most discussed this week (3 live), 'ten' has 2 (+1 deleted), 'single' 1 and one before the week.
  const alice = '600000000000000001';
  for (const h of [10, 11, 12]) await comment(db, posts.old!, h === 10 ? alice : snowflake(), IN(h));
  await comment(db, posts.old!, snowflake(), BEFORE(1));
  await comment(db, posts.ten!, alice, IN(13));
  await comment(db, posts.ten!, '500000000000000001', IN(14)); // a rater who also commented: one person
  const gone = await comment(db, posts.ten!, snowflake(), IN(15));
  await markCommentsDeleted(db, [gone], IN(16));
  await comment(db, posts.single!, snowflake(), IN(17));
  await comment(db, posts.single!, snowflake(), BEFORE(2));
  await comment(db, foreign, snowflake(), IN(18));
  await comment(db, posts.later!, snowflake(), AFTER(3));
  return { guildId, channelId, posts };
}

for (const dialect of DIALECTS) {
  const q = suite(`digest queries and exactly-once service (${dialect})`);
  let t: TestDb;
  q.before(async () => {
    t = await createTestDb(dialect);
  });
  q.after(async () => {
    await t?.close();
  });

  q('the window: new posts, rated and discussed posts, totals — other servers, known posts and other weeks left out', async () => {
    const s = await seedWeek(t.db);
    const w = { guildId: s.guildId, start: WEEK.start, end: WEEK.end };
    const news = await listNewPosts(t.db, w);
    assert.is(news.total, 3);
    assert.equal(
      news.posts.map((p) => p.id),
      [s.posts.undated, s.posts.ten, s.posts.single],
    ); // newest first
    const ten = news.posts.find((p) => p.id === s.posts.ten)!;
    assert.equal([ten.ratingSum, ten.ratingCount, ten.replies], [45, 10, 2]);
    assert.is(ten.threadId, ten.messageId);
    assert.is((await listNewPosts(t.db, w, 2)).posts.length, 2);

    const active = await listActivePosts(t.db, w);
    assert.equal(active.map((a) => a.id).sort(), [s.posts.single!, s.posts.ten!, s.posts.old!].sort());
    const rated = ratedInWindow(active);
    assert.equal(
      rated.sort((a, b) => a.id.localeCompare(b.id)),
      [
        { id: s.posts.single!, ratingSum: 5, ratingCount: 1, replies: 2 },
        { id: s.posts.ten!, ratingSum: 45, ratingCount: 10, replies: 2 },
        { id: s.posts.old!, ratingSum: 4, ratingCount: 4, replies: 4 }, // all its ratings and replies, also the older ones
      ].sort((a, b) => a.id.localeCompare(b.id)),
    );
    assert.equal(mostDiscussed(active), [
      { id: s.posts.old!, newComments: 3 },
      { id: s.posts.ten!, newComments: 2 },
      { id: s.posts.single!, newComments: 1 },
    ]);
    // 6 live comments; 1 + 10 + 2 ratings; people: 6 commenters (alice twice, one rater) + 11 raters - the shared one.
    assert.equal(await digestTotals(t.db, w), { newComments: 6, newRatings: 13, participants: 5 + 12 - 1 });
  });

  q('ranking in context: with C = 3.6, ten ratings averaging 4.5 rank above a single 5★', async () => {
    const s = await seedWeek(t.db);
    const view = await collectDigest(t.db, s.guildId, WEEK, WEEK.key);
    assert.equal(
      view.topRated.map((p) => p.id),
      [s.posts.ten, s.posts.single, s.posts.old],
    );
    assert.is(view.newPostsTotal, 3);
    assert.equal(
      view.mostDiscussed.map((p) => [p.id, p.newComments, p.replies]),
      [
        [s.posts.old, 3, 4],
        [s.posts.ten, 2, 2],
        [s.posts.single, 1, 2],
      ],
    );
    const body = renderDigest(view);
    assert.equal(validateMessagePayload(body), []);
    assert.match(body.embeds![0]!.fields![0]!.value, /^1\. \[Title ten\]\(https:\/\/blog\.example\/ten\) .*★ 4\.5\/5 \(10 ratings\) · 💬 2 replies/);
    // Same score and count: more replies first.
    const { feed } = await upsertFeed(t.db, { guildId: s.guildId, url: 'https://blog.example/tie', channelId: s.channelId });
    const a = await addPost(t.db, feed, 'tie-a', { publishedAt: IN(20) });
    const b = await addPost(t.db, feed, 'tie-b', { publishedAt: IN(20) });
    await rate(t.db, a, [5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5], IN(21));
    await rate(t.db, b, [5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5], IN(21));
    await comment(t.db, b, snowflake(), IN(22));
    const again = await collectDigest(t.db, s.guildId, WEEK, WEEK.key);
    assert.equal(
      again.topRated.slice(0, 2).map((p) => p.id),
      [b, a],
    );
  });

  q('exactly once: a duplicated job does nothing; concurrent jobs post one message; the export lists it', async () => {
    const s = await seedWeek(t.db);
    const discord = new FakeDiscord();
    const ctx = makeCtx(t.db, discord);
    const [one, two] = await Promise.all([postDigest(ctx, s.guildId, { period: WEEK }), postDigest(ctx, s.guildId, { period: WEEK })]);
    assert.equal([one.status, two.status].sort(), ['already-posted', 'posted']);
    assert.is(discord.created, 1);
    assert.is(one.messageId, two.messageId);
    const again = await postDigest(ctx, s.guildId, { period: WEEK });
    assert.is(again.status, 'already-posted');
    assert.is(discord.created, 1);
    const [msg] = discord.messages(s.channelId);
    assert.is(msg!.embeds[0]!.footer!.text, digestFooter('2026-W48'));
    assert.match(msg!.embeds[0]!.description!, 'Title undated');
    const row = (await getDigest(t.db, s.guildId, '2026-W48'))!;
    assert.equal([row.state, row.messageId, row.channelId], ['posted', msg!.id, s.channelId]);
    const exported = await exportData(t.db, { guildId: s.guildId });
    assert.equal(
      exported.digests.map((d) => [d.periodKey, d.messageId]),
      [['2026-W48', msg!.id]],
    );
    // force posts again under the next key; the export lists both.
    const forced = await postDigest(ctx, s.guildId, { period: WEEK, force: true });
    assert.equal([forced.status, forced.periodKey], ['posted', '2026-W48-r2']);
    assert.is(discord.created, 2);
    assert.is(discord.messages(s.channelId)[1]!.embeds[0]!.footer!.text, digestFooter('2026-W48-r2'));
    assert.equal(
      (await exportData(t.db, { guildId: s.guildId })).digests.map((d) => d.periodKey),
      ['2026-W48', '2026-W48-r2'],
    );
  });

  q('a crash between posting and recording is repaired from the channel, not doubled', async () => {
    const s = await seedWeek(t.db);
    const discord = new FakeDiscord();
    const ctx = makeCtx(t.db, discord);
    discord.afterCreate = () => {
      throw new Error('socket hang up'); // Discord created the message; we never learnt its id
    };
    await rejects(() => postDigest(ctx, s.guildId, { period: WEEK }), /socket hang up/);
    discord.afterCreate = null;
    assert.is((await getDigest(t.db, s.guildId, WEEK.key))!.state, 'claimed');
    // The retry comes after the claim's grace period.
    await t.db.kysely
      .updateTable('digests')
      .set({ created_at: new Date(Date.now() - 60_000).toISOString() })
      .execute();
    const retry = await postDigest(ctx, s.guildId, { period: WEEK });
    assert.is(retry.status, 'repaired');
    assert.is(discord.created, 1);
    assert.is(retry.messageId, discord.messages(s.channelId)[0]!.id);
    assert.is((await getDigest(t.db, s.guildId, WEEK.key))!.state, 'posted');

    // When the history cannot show it, the same nonce makes Discord answer with the first message.
    const s2 = await seedWeek(t.db);
    discord.afterCreate = () => {
      throw new Error('timeout');
    };
    await rejects(() => postDigest(ctx, s2.guildId, { period: WEEK }), /timeout/);
    discord.afterCreate = null;
    discord.hideHistory = true;
    await t.db.kysely
      .updateTable('digests')
      .set({ created_at: new Date(Date.now() - 60_000).toISOString() })
      .where('guild_id', '=', s2.guildId)
      .execute();
    const r2 = await postDigest(ctx, s2.guildId, { period: WEEK });
    discord.hideHistory = false;
    assert.is(r2.status, 'posted');
    assert.is(discord.messages(s2.channelId).length, 1);
    assert.is(r2.messageId, discord.messages(s2.channelId)[0]!.id);

    // A failure before Discord got it: the retry posts (once).
    const s3 = await seedWeek(t.db);
    discord.beforeCreate = () => {
      throw new DiscordRequestError('Service Unavailable', 0, 503);
    };
    await rejects(() => postDigest(ctx, s3.guildId, { period: WEEK }), /Service Unavailable/);
    discord.beforeCreate = null;
    await t.db.kysely
      .updateTable('digests')
      .set({ created_at: new Date(Date.now() - 60_000).toISOString() })
      .where('guild_id', '=', s3.guildId)
      .execute();
    assert.is((await postDigest(ctx, s3.guildId, { period: WEEK })).status, 'posted');
    assert.is(discord.messages(s3.channelId).length, 1);
  });

  q('Discord refusing the channel is recorded as failed with the reason; a later run posts once the access is fixed', async () => {
    const s = await seedWeek(t.db);
    const discord = new FakeDiscord();
    const ctx = makeCtx(t.db, discord);
    discord.beforeCreate = () => {
      throw new DiscordRequestError('Missing Access', 50001, 403);
    };
    const err = await rejects(() => postDigest(ctx, s.guildId, { period: WEEK }), /Missing Access/);
    assert.ok(err instanceof DigestPostError && err.permanent);
    const row = (await getDigest(t.db, s.guildId, WEEK.key))!;
    assert.is(row.state, 'failed');
    assert.match(row.error!, 'Missing Access');
    discord.beforeCreate = null;
    const later = await postDigest(ctx, s.guildId, { period: WEEK });
    assert.is(later.status, 'posted');
    assert.is(discord.created, 1);
  });

  q('an empty week: skipped and recorded (nothing posted), or posted when the server asks for empty digests', async () => {
    const discord = new FakeDiscord();
    const ctx = makeCtx(t.db, discord);
    const guildId = snowflake();
    const channelId = snowflake();
    await upsertFeed(t.db, { guildId, url: 'https://quiet.example/feed', channelId });
    const quiet: DigestPeriod = { ...WEEK, key: '2026-W40', start: '2026-09-28T09:00:00.000Z', end: '2026-10-05T09:00:00.000Z' };
    const r = await postDigest(ctx, guildId, { period: quiet });
    assert.is(r.status, 'skipped');
    assert.is((await getDigest(t.db, guildId, '2026-W40'))!.state, 'skipped');
    assert.is((await postDigest(ctx, guildId, { period: quiet })).status, 'already-skipped');
    assert.is(discord.created, 0);
    // /digest now in an empty week: nothing posted, nothing recorded.
    const soFar = currentPeriodSoFar({ day: 1, hour: 9, timezone: 'UTC' }, new Date('2026-10-06T10:00:00Z'));
    assert.is((await postDigest(ctx, guildId, { period: soFar })).status, 'empty');
    assert.is(await getDigest(t.db, guildId, '2026-W41-now'), null);
    await upsertGuildSettings(t.db, guildId, { digestEmpty: 'post' });
    const posted = await postDigest(ctx, guildId, {
      period: { ...quiet, key: '2026-W39', start: '2026-09-21T09:00:00.000Z', end: '2026-09-28T09:00:00.000Z' },
    });
    assert.is(posted.status, 'posted');
    assert.is(discord.messages(channelId)[0]!.embeds[0]!.description, 'A quiet week: no new posts, comments or ratings.');
  });

  q('the channel: the server’s choice, else DIGEST_CHANNEL_ID, else the first feed’s; none → nothing recorded', async () => {
    const s = await seedWeek(t.db);
    const discord = new FakeDiscord();
    const envChannel = snowflake();
    const chosen = snowflake();
    assert.is((await postDigest(makeCtx(t.db, discord, { DIGEST_CHANNEL_ID: envChannel }), s.guildId, { period: WEEK })).channelId, envChannel);
    await upsertGuildSettings(t.db, s.guildId, { digestChannelId: chosen });
    assert.is((await postDigest(makeCtx(t.db, discord), s.guildId, { period: WEEK, force: true })).channelId, chosen);
    const lonely = snowflake();
    await upsertGuildSettings(t.db, lonely, { digestEmpty: 'post' });
    const r = await postDigest(makeCtx(t.db, discord), lonely, { period: WEEK });
    assert.is(r.status, 'no-channel');
    assert.equal(await listDigests(t.db, { guildId: lonely }), []);
  });

  q('the week so far (/digest now) is recorded apart from the scheduled week; preview records nothing', async () => {
    const s = await seedWeek(t.db);
    const discord = new FakeDiscord();
    const ctx = makeCtx(t.db, discord);
    const soFar = currentPeriodSoFar({ day: 1, hour: 9, timezone: 'UTC' }, new Date(IN(100)));
    assert.is(soFar.key, '2026-W48');
    const now1 = await postDigest(ctx, s.guildId, { period: soFar });
    assert.equal([now1.status, now1.periodKey], ['posted', '2026-W48-now']);
    assert.is((await postDigest(ctx, s.guildId, { period: soFar })).status, 'already-posted');
    assert.is((await postDigest(ctx, s.guildId, { period: soFar, force: true })).periodKey, '2026-W48-now-r2');
    // The scheduled digest of the whole week still comes.
    assert.is((await postDigest(ctx, s.guildId, { period: WEEK })).status, 'posted');
    assert.is(discord.created, 3);
    const preview = await previewDigest(ctx, s.guildId, new Date(IN(100)));
    assert.equal(validateMessagePayload(preview.body), []);
    assert.match(preview.body.embeds![0]!.title!, /^Digest so far/);
    assert.is(discord.created, 3);
    assert.equal(
      (await listDigests(t.db, { guildId: s.guildId })).map((d) => d.periodKey),
      ['2026-W48', '2026-W48-now', '2026-W48-now-r2'],
    );
  });

  q('the job processor: the tick of the scheduler picks the period; bad data and disabled servers', async () => {
    const s = await seedWeek(t.db);
    const discord = new FakeDiscord();
    const ctx = makeCtx(t.db, discord);
    const run = digestProcessor(ctx);
    const job = (data: unknown, prevMillis?: number) => ({ id: 'repeat:x', data, opts: prevMillis ? { prevMillis } : {} }) as unknown as Job;
    const r1 = await run(job({ guildId: s.guildId }, Date.parse(WEEK.end)));
    assert.equal([r1.status, (r1 as { periodKey: string }).periodKey], ['posted', '2026-W48']);
    const r2 = await run(job({ guildId: s.guildId }, Date.parse(WEEK.end) + 3000));
    assert.is(r2.status, 'already-posted');
    assert.is(discord.created, 1);
    const bad = await rejects(() => run(job({ guildId: 'nope' })), /needs a guildId/);
    assert.ok(bad instanceof UnrecoverableError);
    await upsertGuildSettings(t.db, s.guildId, { digestEnabled: false });
    assert.is((await run(job({ guildId: s.guildId }, Date.parse(WEEK.end) + 7 * 24 * 3600_000))).status, 'disabled');
    await upsertGuildSettings(t.db, s.guildId, { digestEnabled: true, digestTimezone: 'Not/AZone' });
    const tz = await rejects(() => run(job({ guildId: s.guildId })), /not an IANA time zone/);
    assert.ok(tz instanceof UnrecoverableError);
    discord.beforeCreate = () => {
      throw new DiscordRequestError('Unknown Channel', 10003, 404);
    };
    await upsertGuildSettings(t.db, s.guildId, { digestTimezone: 'UTC' });
    const gone = await rejects(() => run(job({ guildId: s.guildId }, Date.parse(WEEK.end) + 7 * 24 * 3600_000)), /Unknown Channel/);
    assert.ok(gone instanceof UnrecoverableError);
  });

  q.run();
}

// ============================================================================ schedulers (real Redis)

const sched = suite('digest job schedulers');
let tdb: TestDb;
const redis = createRedis(REDIS_URL, { maxRetriesPerRequest: 3 });
const prefix = `tdigest${Date.now().toString(36)}`;
const queues = createQueues(redis, prefix);

sched.after(async () => {
  await closeQueues(queues);
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length) await redis.del(...keys);
  await redis.quit();
  await tdb?.close();
});

sched('every enabled server gets a cron scheduler in its zone; /digest off and stale ones are removed', async () => {
  tdb = await createTestDb('sqlite');
  const ctx = { ...makeCtx(tdb.db, new FakeDiscord()), queues };
  const a = snowflake();
  const b = snowflake();
  await upsertGuildSettings(tdb.db, a, { digestDay: 7, digestHour: 18, digestTimezone: 'Europe/Amsterdam' });
  await upsertFeed(tdb.db, { guildId: b, url: 'https://b.example/feed', channelId: snowflake() });
  await queues.digest.upsertJobScheduler('digest-123456789012345678', { pattern: '0 9 * * 1' }, { name: 'digest', data: { guildId: '123456789012345678' } });
  const r = await syncAllDigestSchedulers(ctx);
  assert.equal(r.scheduled.sort(), [a, b].sort());
  assert.equal(r.removed, ['123456789012345678']);
  const sa = await queues.digest.getJobScheduler(digestSchedulerId(a));
  assert.equal([sa?.pattern, sa?.tz, sa?.template?.data], ['0 18 * * 0', 'Europe/Amsterdam', { guildId: a }]);
  assert.is((await queues.digest.getJobScheduler(digestSchedulerId(b)))?.pattern, '0 9 * * 1');
  await upsertGuildSettings(tdb.db, a, { digestEnabled: false });
  assert.is(await syncDigestScheduler(ctx, a), 'removed');
  assert.is(await queues.digest.getJobScheduler(digestSchedulerId(a)), undefined);
  // The test override replaces every pattern.
  await syncAllDigestSchedulers({ ...ctx, config: loadConfig({ DIGEST_CRON_OVERRIDE: '*/3 * * * * *' }, { dotenv: false }) });
  assert.is((await queues.digest.getJobScheduler(digestSchedulerId(b)))?.pattern, '*/3 * * * * *');
  assert.is(await queues.digest.getJobSchedulersCount(), 1);
});

sched.run();
