/**
 * The digest people look at: the chart's data per local day on both databases (a DST week, a server in UTC+13),
 * the PNG decoded and checked pixel by pixel, the sections (waiting for an answer, new voices, trend) appearing
 * and disappearing with their data, Discord's limits with huge titles, the emulator's checks of uploaded files,
 * and `blogcord digest render`. The image a person looks at is written to test-output/digest.png.
 * Run alone: npx tsx test/db/digest-look.test.ts
 */
import { type Stars } from '../../src/domain/rating.ts';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { PNG } from 'pngjs';
import type { Db } from '../../src/db/index.ts';
import { main } from '../../src/main.ts';
import { chartDescription, CHART_COLORS, renderDigestChart, type DigestChartData } from '../../src/render/digest-chart.ts';
import { percentChange, renderDigest, renderDigestMessage, type DigestEntry, type DigestView } from '../../src/render/digest.ts';
import { validateMessagePayload } from '../../src/render/limits.ts';
import { markCommentsDeleted } from '../../src/repositories/comments.ts';
import { upsertFeed } from '../../src/repositories/feeds.ts';
import { upsertGuildSettings } from '../../src/repositories/guilds.ts';
import { setPublishState, upsertPostFromFeed } from '../../src/repositories/posts.ts';
import { setAppearance } from '../../src/repositories/privacy.ts';
import { setRating } from '../support/ratings.ts';
import { collectDigest, postDigest } from '../../src/services/digest.ts';
import { periodDays, periodJustEnded, periodOfWeek, previousPeriod, type DigestPeriod } from '../../src/services/digest-period.ts';
import { loadConfig } from '../../src/config.ts';
import type { AppContext } from '../../src/context.ts';
import { createRest, RestDiscordPort } from '../../src/discord/rest-port.ts';
import { createLogger } from '../../src/logger.ts';
import { DiscordRequestError, type DiscordPort, type MessageFile } from '../../src/services/discord-port.ts';
import { FakeDiscord } from '../support/fakes.ts';
import { createTestDb, DIALECTS, type TestDb } from '../support/db.ts';
import { DiscordEmulator } from '../../emulator/index.ts';
import { storeComment as comment } from '../support/messages.ts';
import { snowflake } from '../support/snowflake.ts';

const H = 3_600_000;

// ------------------------------------------------------------------ periods and days

const periods = suite('digest days and weeks');

periods('a week from Monday 09:00 touches 8 local days; across the end of DST (Europe/Amsterdam) one of them has 25 hours', () => {
  // 2026-10-25: clocks go back at 03:00 CEST. The week 2026-10-19 09:00 CEST → 2026-10-26 09:00 CET is 169 hours.
  const p = periodOfWeek({ day: 1, hour: 9, timezone: 'Europe/Amsterdam' }, '2026-W43');
  assert.equal([p.start, p.end], ['2026-10-19T07:00:00.000Z', '2026-10-26T08:00:00.000Z']);
  const days = periodDays(p);
  assert.equal(
    days.map((d) => d.label),
    ['Mon 19', 'Tue 20', 'Wed 21', 'Thu 22', 'Fri 23', 'Sat 24', 'Sun 25', 'Mon 26'],
  );
  assert.is(days[0]!.start, p.start); // the first day starts with the period
  assert.is(days[1]!.start, '2026-10-19T22:00:00.000Z'); // local midnight, CEST
  assert.is(Date.parse(days[7]!.start) - Date.parse(days[6]!.start), 25 * H); // Sunday 25 October
  assert.is(days[7]!.start, '2026-10-25T23:00:00.000Z'); // local midnight, CET
});

periods('a server in UTC+13 (Pacific/Tongatapu): days start at 11:00 UTC the day before', () => {
  const p = periodOfWeek({ day: 1, hour: 0, timezone: 'Pacific/Tongatapu' }, '2026-W48');
  assert.equal([p.start, p.end], ['2026-11-22T11:00:00.000Z', '2026-11-29T11:00:00.000Z']);
  const days = periodDays(p);
  assert.is(days.length, 7); // from midnight to midnight: exactly 7 days
  assert.equal(
    days.map((d) => d.date),
    ['2026-11-23', '2026-11-24', '2026-11-25', '2026-11-26', '2026-11-27', '2026-11-28', '2026-11-29'],
  );
  assert.ok(days.every((d, i) => Date.parse(d.start) === Date.parse(p.start) + i * 24 * H));
});

periods('the previous period: seven local days back (same wall-clock time across DST); for a week so far, the same part of last week', () => {
  const p = periodOfWeek({ day: 1, hour: 9, timezone: 'Europe/Amsterdam' }, '2026-W44'); // 26 Oct (CET) – 2 Nov
  assert.equal(previousPeriod(p), { start: '2026-10-19T07:00:00.000Z', end: p.start });
  const sofar: DigestPeriod = { ...p, end: new Date(Date.parse(p.start) + 30 * H).toISOString(), partial: true };
  assert.equal(previousPeriod(sofar), { start: '2026-10-19T07:00:00.000Z', end: '2026-10-20T13:00:00.000Z' });
});

periods('periodOfWeek refuses a key that is not an ISO week, and names the week it returns', () => {
  const s = { day: 1, hour: 9, timezone: 'UTC' };
  assert.is(periodOfWeek(s, '2026-W53').key, '2026-W53'); // 2026 has 53 ISO weeks
  for (const bad of ['2026-W54', '2025-W53', '2026-48', 'W48']) assert.throws(() => periodOfWeek(s, bad), /not an ISO week/);
});

periods('property: the days of any week tile it exactly, in order, in any zone', () => {
  const zones = ['UTC', 'Europe/Amsterdam', 'America/New_York', 'Pacific/Tongatapu', 'Australia/Lord_Howe', 'Asia/Kathmandu', 'America/St_Johns'];
  fc.assert(
    fc.property(
      fc.constantFrom(...zones),
      fc.integer({ min: 1, max: 7 }),
      fc.integer({ min: 0, max: 23 }),
      fc.date({ min: new Date('2024-01-01'), max: new Date('2030-12-31'), noInvalidDate: true }),
      (timezone, day, hour, at) => {
        const p = periodJustEnded({ day, hour, timezone }, at);
        const days = periodDays(p);
        assert.ok(days.length >= 7 && days.length <= 8);
        assert.is(days[0]!.start, p.start);
        for (let i = 1; i < days.length; i++) assert.ok(days[i]!.start > days[i - 1]!.start);
        assert.ok(days.at(-1)!.start < p.end);
        assert.is(new Set(days.map((d) => d.date)).size, days.length);
      },
    ),
    { numRuns: 150 },
  );
});

periods.run();

// ------------------------------------------------------------------ the image

/** Decodes a PNG (pngjs, not the library that drew it) and returns a pixel reader. */
function decode(png: Buffer) {
  const img = PNG.sync.read(png);
  const at = (x: number, y: number) => {
    const i = (y * img.width + x) * 4;
    return [img.data[i]!, img.data[i + 1]!, img.data[i + 2]!, img.data[i + 3]!] as const;
  };
  return { img, at };
}
const hex = (h: string) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16));
/** WCAG contrast ratio of two sRGB colours. */
function contrast(a: readonly number[], b: readonly number[]): number {
  const lum = (c: readonly number[]) => {
    const [r, g, bl] = c.slice(0, 3).map((v) => {
      const s = v / 255;
      return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r! + 0.7152 * g! + 0.0722 * bl!;
  };
  const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x);
  return (hi! + 0.05) / (lo! + 0.05);
}
const near = (p: readonly number[], c: readonly number[], tol = 12) =>
  Math.abs(p[0]! - c[0]!) <= tol && Math.abs(p[1]! - c[1]!) <= tol && Math.abs(p[2]! - c[2]!) <= tol;

const sample: DigestChartData = {
  periodName: '23–30 Nov 2026',
  timezone: 'Europe/Amsterdam',
  days: ['Mon 23', 'Tue 24', 'Wed 25', 'Thu 26', 'Fri 27', 'Sat 28', 'Sun 29', 'Mon 30'].map((label, i) => ({
    date: `2026-11-${23 + i}`,
    label,
    replies: [12, 40, 33, 18, 25, 7, 9, 3][i]!,
    ratings: [4, 10, 8, 6, 12, 2, 3, 1][i]!,
  })),
  stars: [2, 3, 9, 15, 17],
};

const image = suite('digest chart image');

image('a valid opaque 1200×600 PNG with bars in both series, the star bars, and text readable on its card in light and dark themes', () => {
  const chart = renderDigestChart(sample)!;
  const { img, at } = decode(chart.png);
  assert.equal([img.width, img.height], [1200, 600]);
  const counts = { replies: 0, ratings: 0, stars: 0, text: 0, transparent: 0 };
  const colours = new Set<number>();
  for (let y = 0; y < img.height; y += 2) {
    for (let x = 0; x < img.width; x += 2) {
      const p = at(x, y);
      if (p[3] !== 255) counts.transparent++;
      colours.add((p[0] << 16) | (p[1] << 8) | p[2]);
      if (near(p, hex(CHART_COLORS.replies))) counts.replies++;
      if (near(p, hex(CHART_COLORS.ratings))) counts.ratings++;
      if (near(p, hex(CHART_COLORS.stars))) counts.stars++;
      if (near(p, hex(CHART_COLORS.text), 30)) counts.text++;
    }
  }
  // Opaque everywhere: Discord's theme (white or #313338) never shows through, so the card reads the same in both.
  assert.is(counts.transparent, 0);
  assert.ok(colours.size > 50, `only ${colours.size} colours: not a drawn chart`);
  assert.ok(counts.replies > 2000, `replies bars: ${counts.replies} px`);
  assert.ok(counts.ratings > 500, `ratings bars: ${counts.ratings} px`);
  assert.ok(counts.stars > 2000, `star bars: ${counts.stars} px`);
  assert.ok(counts.text > 200, `text: ${counts.text} px`);
  // The corner is the card; text and muted labels on it meet WCAG AA (4.5:1), bars stand out from it (3:1).
  const card = at(2, 2);
  assert.ok(near(card, hex(CHART_COLORS.background), 2));
  assert.ok(contrast(card, hex(CHART_COLORS.text)) >= 4.5);
  assert.ok(contrast(card, hex(CHART_COLORS.muted)) >= 4.5);
  assert.ok(contrast(card, hex(CHART_COLORS.replies)) >= 3);
  // And the card itself stands apart from both Discord themes' backgrounds (it is not lost in either).
  assert.ok(contrast(card, hex('#313338')) >= 3);
  assert.ok(contrast(card, [255, 255, 255]) < 1.2); // on white: the frame is the card's own edge, the text is what matters
  // The tallest replies bar (Tue, 40) is higher than the smallest (Mon 30, 3): the image follows its data.
  const columnHeight = (x0: number, x1: number) => {
    let best = 0;
    for (let x = x0; x < x1; x++) {
      let n = 0;
      for (let y = 0; y < img.height; y++) if (near(at(x, y), hex(CHART_COLORS.replies))) n++;
      best = Math.max(best, n);
    }
    return best;
  };
  const slot = 690 / 8; // the left chart's plot spans about 60..750 px
  assert.ok(columnHeight(Math.round(60 + slot), Math.round(60 + 2 * slot)) > 5 * columnHeight(Math.round(60 + 7 * slot), 750));
  mkdirSync('test-output', { recursive: true });
  writeFileSync('test-output/digest-chart.png', chart.png);
});

image('the alt text says the same in words, and stays within 1024 characters whatever the labels', () => {
  const text = chartDescription(sample);
  assert.match(text, 'Tue 24: 40 replies, 10 ratings');
  assert.match(text, 'Mon 30: 3 replies, 1 rating.');
  assert.match(text, '5 stars: 17, 4 stars: 15, 3 stars: 9, 2 stars: 3, 1 star: 2');
  fc.assert(
    fc.property(
      fc.array(fc.record({ label: fc.string({ maxLength: 200 }), replies: fc.nat(), ratings: fc.nat() }), { minLength: 1, maxLength: 9 }),
      fc.string({ maxLength: 300 }),
      (days, name) => {
        const d = chartDescription({ ...sample, periodName: name, days: days.map((x) => ({ ...x, date: '2026-11-23' })) });
        assert.ok(d.length <= 1024);
      },
    ),
    { numRuns: 200 },
  );
});

image('a week without replies or ratings has no chart', () => {
  assert.is(renderDigestChart({ ...sample, days: sample.days.map((d) => ({ ...d, replies: 0, ratings: 0 })), stars: [0, 0, 0, 0, 0] }), null);
});

image.run();

// ------------------------------------------------------------------ the sections

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
const view = (over: Partial<DigestView> = {}): DigestView => ({
  guildId: GUILD,
  periodKey: '2026-W48',
  period: { start: '2026-11-23T09:00:00.000Z', end: '2026-11-30T09:00:00.000Z', timezone: 'UTC', partial: false },
  newPosts: [entry(1)],
  newPostsTotal: 1,
  topRated: [entry(1)],
  mostDiscussed: [{ ...entry(1), newComments: 2 }],
  totals: { newComments: 2, newRatings: 2, participants: 3 },
  activity: { days: sample.days, stars: sample.stars },
  waiting: [],
  waitingTotal: 0,
  newVoices: { count: 0, named: [] },
  previous: { newComments: 0, newRatings: 0, participants: 0 },
  ...over,
});
const names = (b: ReturnType<typeof renderDigest>) => b.embeds![0]!.fields!.map((f) => f.name);

const sections = suite('digest sections');

sections('waiting, new voices and the trend appear only with their data', () => {
  assert.equal(names(renderDigest(view())), ['⭐ Top rated', '💬 Most discussed', 'This week']);
  const full = renderDigest(
    view({
      waiting: [
        { ...entry(7), unansweredSince: null },
        { ...entry(8), unansweredSince: '2026-11-25T10:00:00.000Z' },
      ],
      waitingTotal: 2,
      newVoices: { count: 3, named: ['700000000000000001'] },
      previous: { newComments: 4, newRatings: 1, participants: 3 },
    }),
  );
  assert.equal(names(full), ['⭐ Top rated', '💬 Most discussed', '⏳ Waiting for an answer', '👋 New voices', '📈 Against last week', 'This week']);
  const f = (n: string) => full.embeds![0]!.fields!.find((x) => x.name === n)!.value;
  assert.match(
    f('⏳ Waiting for an answer'),
    /^• \[Post 7\]\(https:\/\/blog\.example\/7\) \(\[discussion\]\(.*\)\) — no reply yet\n• \[Post 8\].* — a reply waits since Wed 25 Nov, 10:00$/,
  );
  assert.is(f('👋 New voices'), '3 people replied or rated for the first time: <@700000000000000001> and 2 others. Welcome!');
  assert.is(f('📈 Against last week'), 'Replies 2 (−50 %) · Ratings 2 (+100 %) · Active members 3 (±0 %)');
  // Nobody named (anonymous members): only the count.
  const anon = renderDigest(view({ newVoices: { count: 2, named: [] } }));
  assert.is(anon.embeds![0]!.fields!.find((x) => x.name === '👋 New voices')!.value, '2 people replied or rated for the first time. Welcome!');
});

sections('percentages: rounded, signed with a real minus, "new" from nothing', () => {
  assert.equal(
    [percentChange(110, 100), percentChange(90, 100), percentChange(100, 100), percentChange(5, 0), percentChange(0, 0), percentChange(1, 3)],
    ['+10 %', '−10 %', '±0 %', 'new', '±0 %', '−67 %'],
  );
});

sections('with a chart the embed shows attachment://digest.png and the body declares it with its alt text; without activity no image at all', () => {
  const m = renderDigestMessage(view());
  assert.ok(m.chart);
  assert.is(m.body.embeds![0]!.image!.url, 'attachment://digest.png');
  assert.equal(m.body.attachments, [{ id: '0', filename: 'digest.png', description: m.chart!.description }]);
  const quiet = renderDigestMessage(view({ activity: { days: sample.days.map((d) => ({ ...d, replies: 0, ratings: 0 })), stars: [0, 0, 0, 0, 0] } }));
  assert.is(quiet.chart, null);
  assert.is(quiet.body.embeds![0]!.image, undefined);
  assert.is(quiet.body.attachments, undefined);
});

sections('huge titles, 25 waiting posts and thousands of new voices stay within Discord limits (property)', () => {
  const big = (i: number, title: string) => entry(i, { title, url: `https://blog.example/${'x'.repeat(i % 3 === 0 ? 2000 : 10)}` });
  fc.assert(
    fc.property(
      fc.array(fc.string({ minLength: 0, maxLength: 3000 }), { minLength: 1, maxLength: 25 }),
      fc.nat({ max: 100_000 }),
      fc.array(fc.bigInt({ min: 10n ** 17n, max: 10n ** 19n }), { maxLength: 60 }),
      fc.boolean(),
      (titles, voices, named, partial) => {
        const entries = titles.map((t, i) => big(i, t));
        const v = view({
          period: { ...view().period, partial },
          newPosts: entries,
          newPostsTotal: entries.length + 40,
          topRated: entries.slice(0, 5),
          mostDiscussed: entries.slice(0, 5).map((e) => ({ ...e, newComments: 9 })),
          waiting: entries.map((e, i) => ({ ...e, unansweredSince: i % 2 ? '2026-11-25T10:00:00.000Z' : null })),
          waitingTotal: entries.length + 100,
          newVoices: { count: Math.max(voices, named.length), named: named.map(String) },
          previous: { newComments: 1, newRatings: 1, participants: 1 },
        });
        const body = renderDigest(v, { filename: 'digest.png', description: 'x'.repeat(1024) });
        assert.equal(validateMessagePayload(body), []);
        assert.ok(body.embeds![0]!.fields!.some((f) => f.name === '⏳ Waiting for an answer' && /…and \d+ more$/.test(f.value)));
      },
    ),
    { numRuns: 60 },
  );
});

sections('titles built of mentions, markdown and long runs never ping and stay within the limits when cut (property)', () => {
  const piece = fc.oneof(
    fc.constantFrom('@everyone', '@here', '@EVERYONE', '@everyone0', '@heresy', '<@123456789012345678>', '<@&456>', '<#789>', '**', '||', '`', '\u202e', ' '),
    fc.string({ maxLength: 12 }),
  );
  const title = fc.tuple(fc.array(piece, { maxLength: 12 }), fc.integer({ min: 1, max: 300 })).map(([xs, n]) => (xs.join('') || '@everyone').repeat(n));
  const ping = /(^|[^\w/.])@(everyone|here)|<@[!&]?\d+>|<#\d+>/i;
  fc.assert(
    fc.property(fc.array(title, { minLength: 1, maxLength: 8 }), (titles) => {
      const entries = titles.map((t, i) => entry(i, { title: t }));
      const v = view({
        newPosts: entries,
        newPostsTotal: entries.length,
        topRated: entries.slice(0, 5),
        mostDiscussed: entries.slice(0, 5).map((e) => ({ ...e, newComments: 3 })),
      });
      const body = renderDigest(v, { filename: 'digest.png', description: 'chart' });
      assert.equal(validateMessagePayload(body), []);
      const shown = [
        body.content ?? '',
        ...(body.embeds ?? []).flatMap((e) => [e.title ?? '', e.description ?? '', ...(e.fields ?? []).flatMap((f) => [f.name, f.value])]),
      ];
      for (const text of shown) assert.not.match(text, ping, text.slice(0, 200));
    }),
    { numRuns: 100 },
  );
});

sections.run();

// ------------------------------------------------------------------ the queries, on both databases

interface Feed {
  id: string;
  guildId: string;
}
async function addPost(db: Db, feed: Feed, key: string, publishedAt: string, opts: { thread?: boolean; title?: string } = {}): Promise<string> {
  const { post } = await upsertPostFromFeed(
    db,
    feed,
    {
      key,
      url: `https://blog.example/${key}`,
      title: opts.title ?? `Title ${key}`,
      author: null,
      publishedAt,
      summaryHtml: null,
      searchText: key,
      imageUrl: null,
      contentHash: key,
    },
    'pending',
  );
  const messageId = snowflake();
  await setPublishState(db, post.id, {
    state: opts.thread === false ? 'announced' : 'published',
    channelId: snowflake(),
    messageId,
    threadId: opts.thread === false ? null : messageId,
  });
  return post.id;
}
async function rate(db: Db, postId: string, user: string, stars: number, at: string): Promise<void> {
  await setRating(db, postId, user, stars as Stars, at);
}
function makeTestContext(db: Db, discord: DiscordPort): AppContext {
  return {
    config: loadConfig({ DIGEST_CHANNEL_ID: undefined }, { dotenv: false }),
    log: createLogger('silent'),
    db: db as AppContext['db'],
    version: 'test',
    discord,
    queues: null as unknown as AppContext['queues'],
    jobs: null as unknown as AppContext['jobs'], // the digest asks for no queue work
    redisHealth: async () => {},
  };
}

for (const dialect of DIALECTS) {
  const q = suite(`digest look: queries (${dialect})`);
  let t: TestDb;
  q.before(async () => {
    t = await createTestDb(dialect);
  });
  q.after(async () => {
    await t?.close();
  });

  q('the chart counts replies and ratings per local day across the end of DST (Europe/Amsterdam), and the week’s stars', async () => {
    const guildId = snowflake();
    const { feed } = await upsertFeed(t.db, { guildId, url: `https://blog.example/${guildId}/feed`, channelId: snowflake() });
    await upsertGuildSettings(t.db, guildId, { digestDay: 1, digestHour: 9, digestTimezone: 'Europe/Amsterdam' });
    const p = periodOfWeek({ day: 1, hour: 9, timezone: 'Europe/Amsterdam' }, '2026-W43'); // 19 Oct 09:00 CEST – 26 Oct 09:00 CET
    const post = await addPost(t.db, feed, 'a', '2026-10-01T10:00:00.000Z');
    // Sun 25 Oct 23:30 CET = 22:30 UTC (Sunday locally); Mon 26 Oct 00:30 CET = 23:30 UTC Sunday (Monday locally).
    await comment(t.db, post, '700000000000000001', '2026-10-25T22:30:00.000Z');
    await comment(t.db, post, '700000000000000002', '2026-10-25T23:30:00.000Z');
    await comment(t.db, post, '700000000000000003', '2026-10-26T07:59:59.999Z'); // last moment of the period (Monday)
    await comment(t.db, post, '700000000000000004', '2026-10-26T08:00:00.000Z'); // the next period
    await comment(t.db, post, '700000000000000005', '2026-10-19T07:00:00.000Z'); // first moment (Monday 19)
    await comment(t.db, post, '700000000000000006', '2026-10-19T21:59:00.000Z'); // 23:59 CEST Monday 19
    const gone = await comment(t.db, post, '700000000000000007', '2026-10-20T10:00:00.000Z');
    await markCommentsDeleted(t.db, [gone], '2026-10-20T11:00:00.000Z');
    await rate(t.db, post, '800000000000000001', 5, '2026-10-24T21:59:00.000Z'); // Saturday 23:59 CEST
    await rate(t.db, post, '800000000000000002', 4, '2026-10-24T22:00:00.000Z'); // Sunday 00:00 CEST
    await rate(t.db, post, '800000000000000003', 4, '2026-10-18T10:00:00.000Z'); // before the period
    const v = await collectDigest(t.db, guildId, p, p.key);
    assert.equal(
      v.activity.days.map((d) => `${d.label}:${d.replies}/${d.ratings}`),
      ['Mon 19:2/0', 'Tue 20:0/0', 'Wed 21:0/0', 'Thu 22:0/0', 'Fri 23:0/0', 'Sat 24:0/1', 'Sun 25:1/1', 'Mon 26:2/0'],
    );
    assert.equal(v.activity.stars, [0, 0, 0, 1, 1]);
    // The chart agrees with the totals of the message.
    assert.is(
      v.activity.days.reduce((n, d) => n + d.replies, 0),
      v.totals.newComments,
    );
    assert.is(
      v.activity.days.reduce((n, d) => n + d.ratings, 0),
      v.totals.newRatings,
    );
  });

  q('a server in UTC+13 (Pacific/Tongatapu): activity at 10:59 and 11:00 UTC falls on different local days', async () => {
    const guildId = snowflake();
    const { feed } = await upsertFeed(t.db, { guildId, url: `https://blog.example/${guildId}/feed`, channelId: snowflake() });
    const p = periodOfWeek({ day: 1, hour: 0, timezone: 'Pacific/Tongatapu' }, '2026-W48'); // 22 Nov 11:00 UTC – 29 Nov 11:00 UTC
    const post = await addPost(t.db, feed, 'a', '2026-11-01T10:00:00.000Z');
    await comment(t.db, post, '700000000000000001', '2026-11-23T10:59:00.000Z'); // Mon 23, 23:59 local
    await comment(t.db, post, '700000000000000002', '2026-11-23T11:00:00.000Z'); // Tue 24, 00:00 local
    await rate(t.db, post, '800000000000000001', 3, '2026-11-22T11:00:00.000Z'); // Mon 23, 00:00 local
    await comment(t.db, post, '700000000000000003', '2026-11-22T10:59:59.999Z'); // the week before
    const v = await collectDigest(t.db, guildId, p, p.key);
    assert.equal(
      v.activity.days.map((d) => `${d.date}:${d.replies}/${d.ratings}`),
      ['2026-11-23:1/1', '2026-11-24:1/0', '2026-11-25:0/0', '2026-11-26:0/0', '2026-11-27:0/0', '2026-11-28:0/0', '2026-11-29:0/0'],
    );
    assert.equal(v.activity.stars, [0, 0, 1, 0, 0]);
  });

  q(
    'waiting for an answer: no reply, or a newest top-level reply unanswered for 48 h; answered, too fresh, too old or threadless posts are left out',
    async () => {
      const guildId = snowflake();
      const { feed } = await upsertFeed(t.db, { guildId, url: `https://blog.example/${guildId}/feed`, channelId: snowflake() });
      const p = periodOfWeek({ day: 1, hour: 9, timezone: 'UTC' }, '2026-W48'); // end 30 Nov 09:00
      const end = Date.parse(p.end);
      const ago = (h: number) => new Date(end - h * H).toISOString();
      const silent = await addPost(t.db, feed, 'silent', ago(24 * 10));
      const waiting = await addPost(t.db, feed, 'waiting', ago(24 * 20));
      const answered = await addPost(t.db, feed, 'answered', ago(24 * 20));
      const fresh = await addPost(t.db, feed, 'fresh', ago(24 * 5));
      const selfOnly = await addPost(t.db, feed, 'self', ago(24 * 5));
      const nested = await addPost(t.db, feed, 'nested', ago(24 * 6));
      await addPost(t.db, feed, 'ancient', ago(24 * 31)); // older than 30 days: not listed
      await addPost(t.db, feed, 'threadless', ago(24 * 3), { thread: false }); // no thread to answer in
      const laterReply = await addPost(t.db, feed, 'later-reply', ago(24 * 4));
      await comment(t.db, waiting, 'u1', ago(24 * 9)); // answered …
      await comment(t.db, waiting, 'u2', ago(24 * 8));
      await comment(t.db, waiting, 'u3', ago(72)); // … but the newest top-level reply waits since 72 h
      const asked = await comment(t.db, answered, 'u1', ago(72));
      await comment(t.db, answered, 'u2', ago(70), asked); // someone else answered it
      await comment(t.db, fresh, 'u1', ago(47)); // not yet 48 h
      await comment(t.db, selfOnly, 'u1', ago(60));
      await comment(t.db, selfOnly, 'u1', ago(59)); // the same person again: still waiting
      const top = await comment(t.db, nested, 'u1', ago(60));
      await comment(t.db, nested, 'u2', ago(50), top); // a reply to it: answered
      await comment(t.db, laterReply, 'u1', ago(60));
      await comment(t.db, laterReply, 'u2', new Date(end + H).toISOString()); // answered only after the period
      const v = await collectDigest(t.db, guildId, p, p.key);
      const title = (id: string) => ({ [silent]: 'silent', [waiting]: 'waiting', [selfOnly]: 'self', [laterReply]: 'later-reply' })[id] ?? id;
      assert.equal(
        v.waiting.map((w) => `${title(w.id)}:${w.unansweredSince ?? 'none'}`),
        ['silent:none', `waiting:${ago(72)}`, `later-reply:${ago(60)}`, `self:${ago(59)}`], // the longest wait first
      );
      assert.is(v.waitingTotal, 4);
      assert.not.ok(v.waiting.some((w) => [answered, fresh, nested].includes(w.id)));
    },
  );

  q('new voices: first reply or rating on the server this week; earlier activity, other servers and other weeks do not count', async () => {
    const guildId = snowflake();
    const { feed } = await upsertFeed(t.db, { guildId, url: `https://blog.example/${guildId}/feed`, channelId: snowflake() });
    const { feed: other } = await upsertFeed(t.db, { guildId: snowflake(), url: `https://other.example/${guildId}/feed`, channelId: snowflake() });
    const p = periodOfWeek({ day: 1, hour: 9, timezone: 'UTC' }, '2026-W48');
    const inWeek = (h: number) => new Date(Date.parse(p.start) + h * H).toISOString();
    const before = (h: number) => new Date(Date.parse(p.start) - h * H).toISOString();
    const post = await addPost(t.db, feed, 'a', before(24 * 40));
    const foreign = await addPost(t.db, other, 'f', before(24 * 40));
    await comment(t.db, post, '900000000000000001', inWeek(1)); // new: first comment
    await rate(t.db, post, '900000000000000002', 5, inWeek(2)); // new: first rating
    await comment(t.db, post, '900000000000000003', before(5)); // an old voice
    await comment(t.db, post, '900000000000000003', inWeek(3));
    await rate(t.db, post, '900000000000000004', 4, before(24 * 3)); // an old rater who comments now
    await comment(t.db, post, '900000000000000004', inWeek(4));
    await comment(t.db, foreign, '900000000000000005', before(24)); // elsewhere before: still new here
    await comment(t.db, post, '900000000000000005', inWeek(5));
    await comment(t.db, post, '900000000000000006', new Date(Date.parse(p.end) + H).toISOString()); // next week
    const v = await collectDigest(t.db, guildId, p, p.key);
    assert.equal(v.newVoices.named, ['900000000000000001', '900000000000000002', '900000000000000005']);
    assert.is(v.newVoices.count, 3);
  });

  q('privacy: new voices name only members who chose named (or never chose); anonymous ones are counted, hidden ones not even counted', async () => {
    const guildId = snowflake();
    const { feed } = await upsertFeed(t.db, { guildId, url: `https://blog.example/${guildId}/feed`, channelId: snowflake() });
    const p = periodOfWeek({ day: 1, hour: 9, timezone: 'UTC' }, '2026-W48');
    const post = await addPost(t.db, feed, 'a', '2026-11-20T09:00:00.000Z');
    const [named, chose, anon, hidden, hiddenRater] = [
      '910000000000000001',
      '910000000000000002',
      '910000000000000003',
      '910000000000000004',
      '910000000000000005',
    ];
    await setAppearance(t.db, guildId, chose!, 'named', '2026-11-01T00:00:00.000Z');
    await setAppearance(t.db, guildId, anon!, 'anonymous', '2026-11-01T00:00:00.000Z');
    await setAppearance(t.db, guildId, hidden!, 'hidden', '2026-11-01T00:00:00.000Z');
    await setAppearance(t.db, guildId, hiddenRater!, 'hidden', '2026-11-01T00:00:00.000Z');
    await setAppearance(t.db, snowflake(), named!, 'hidden', '2026-11-01T00:00:00.000Z'); // another server's choice does not apply here
    for (const [i, u] of [named, chose, anon, hidden].entries()) await comment(t.db, post, u!, `2026-11-24T1${i}:00:00.000Z`);
    await rate(t.db, post, hiddenRater!, 5, '2026-11-24T15:00:00.000Z');
    // The week before: a hidden member and an anonymous one took part (the trend's active members).
    await comment(t.db, post, hidden!, '2026-11-17T10:00:00.000Z');
    const anonBefore = '910000000000000006';
    await setAppearance(t.db, guildId, anonBefore, 'anonymous', '2026-11-01T00:00:00.000Z');
    await rate(t.db, post, anonBefore, 3, '2026-11-18T10:00:00.000Z');
    const v = await collectDigest(t.db, guildId, p, p.key);
    assert.equal(v.newVoices, { count: 3, named: [named!, chose!] });
    // People taking part, this week and the week before: hidden members are not counted, anonymous ones are.
    assert.is(v.totals.participants, 3);
    assert.is(v.previous.participants, 1);
    assert.is(v.totals.newComments, 4); // what they wrote still counts as replies, without them
    const text = renderDigest(v).embeds![0]!.fields!.find((f) => f.name === '👋 New voices')!.value;
    assert.is(text, `3 people replied or rated for the first time: <@${named}>, <@${chose}> and 1 other. Welcome!`);
    assert.not.match(JSON.stringify(renderDigest(v)), hidden!);
    assert.not.match(JSON.stringify(renderDigest(v)), anon!);
  });

  q('the trend compares with the week before; sections come and go with the data', async () => {
    const guildId = snowflake();
    const { feed } = await upsertFeed(t.db, { guildId, url: `https://blog.example/${guildId}/feed`, channelId: snowflake() });
    const p = periodOfWeek({ day: 1, hour: 9, timezone: 'UTC' }, '2026-W48');
    const post = await addPost(t.db, feed, 'a', '2026-11-24T09:00:00.000Z');
    await comment(t.db, post, '900000000000000001', '2026-11-24T10:00:00.000Z');
    await comment(t.db, post, '900000000000000002', '2026-11-24T11:00:00.000Z');
    let body = renderDigest(await collectDigest(t.db, guildId, p, p.key));
    assert.not.ok(names(body).includes('📈 Against last week')); // nothing the week before: no trend
    const old = await addPost(t.db, feed, 'old', '2026-11-10T09:00:00.000Z');
    for (const [i, u] of ['900000000000000003', '900000000000000004', '900000000000000005', '900000000000000001'].entries())
      await comment(t.db, old, u, `2026-11-1${7 + (i % 2)}T10:00:0${i}.000Z`);
    await rate(t.db, old, '900000000000000003', 4, '2026-11-18T10:00:00.000Z');
    const v = await collectDigest(t.db, guildId, p, p.key);
    assert.equal(v.previous, { newComments: 4, newRatings: 1, participants: 4 });
    body = renderDigest(v);
    const trend = body.embeds![0]!.fields!.find((f) => f.name === '📈 Against last week')!.value;
    assert.is(trend, 'Replies 2 (−50 %) · Ratings 0 (−100 %) · Active members 2 (−50 %)');
    assert.is(v.newVoices.count, 1); // …02 (…01 spoke the week before)
  });

  q('postDigest attaches the chart (multipart files) and a quiet week posts no file', async () => {
    const guildId = snowflake();
    const channelId = snowflake();
    const { feed } = await upsertFeed(t.db, { guildId, url: `https://blog.example/${guildId}/feed`, channelId });
    const p = periodOfWeek({ day: 1, hour: 9, timezone: 'UTC' }, '2026-W48');
    const post = await addPost(t.db, feed, 'a', '2026-11-24T09:00:00.000Z');
    await comment(t.db, post, '900000000000000001', '2026-11-24T10:00:00.000Z');
    const discord = new FakeDiscord();
    const ctx = makeTestContext(t.db, discord);
    await postDigest(ctx, guildId, { period: p });
    const sent = [...discord.messages.values()][0]!;
    assert.is(sent.files?.length, 1);
    assert.is(sent.files![0]!.name, 'digest.png');
    assert.is(decode(sent.files![0]!.data).img.width, 1200);
    assert.is(sent.body.embeds![0]!.image!.url, 'attachment://digest.png');
    // A week with new posts only (no replies, no ratings): a message without a chart.
    const quiet = periodOfWeek({ day: 1, hour: 9, timezone: 'UTC' }, '2026-W50');
    await addPost(t.db, feed, 'b', '2026-12-08T09:00:00.000Z');
    await postDigest(ctx, guildId, { period: quiet });
    const second = [...discord.messages.values()][1]!;
    assert.equal(second.files, []);
    assert.is(second.body.embeds![0]!.image, undefined);
  });

  q.run();
}

// ------------------------------------------------------------------ the emulator and the CLI

const emu = suite('emulator: messages with files');
let discord: DiscordEmulator;
emu.before(async () => {
  discord = await new DiscordEmulator({ guilds: [{ name: 'g', channels: [{ name: 'c', type: 'text' }] }] }).listen();
});
emu.after(async () => {
  await discord?.stop();
});

emu(
  'through the bot’s REST port (multipart payload_json + files[0]): a declared attachment needs its upload, description ≤ 1024, a PNG must be one; attachment:// resolves',
  async () => {
    const port = new RestDiscordPort(createRest({ discordApiUrl: discord.restUrl, discordToken: discord.token }));
    const channelId = discord.channel('c').id;
    const png = renderDigestChart(sample)!.png;
    const file = (data: Buffer): MessageFile[] => [{ name: 'digest.png', data, contentType: 'image/png' }];
    const embeds = [{ title: 'x', image: { url: 'attachment://digest.png' } }];
    const refused = async (body: object, files: MessageFile[]) => {
      try {
        await port.createMessage(channelId, body, files);
      } catch (err) {
        assert.instance(err, DiscordRequestError);
        return err as DiscordRequestError;
      }
      throw new Error('accepted');
    };
    const missing = await refused({ embeds, attachments: [{ id: '0', filename: 'digest.png' }] }, []);
    assert.equal([missing.status, missing.code], [400, 50035]);
    const long = await refused({ embeds, attachments: [{ id: '0', filename: 'digest.png', description: 'x'.repeat(1025) }] }, file(png));
    assert.match(long.message, 'attachments[0].description');
    const fake = await refused({ attachments: [{ id: '0', filename: 'digest.png' }] }, file(Buffer.from('not a png')));
    assert.is(fake.code, 50035);
    assert.is(discord.messages('c').length, 0); // nothing was posted by the refused requests
    const m = await port.createMessage(channelId, { embeds, attachments: [{ id: '0', filename: 'digest.png', description: 'the chart' }] }, file(png));
    const a = m.attachments[0]!;
    assert.equal([a.filename, a.description, a.width, a.height, a.content_type], ['digest.png', 'the chart', 1200, 600, 'image/png']);
    assert.is(m.embeds[0]!.image!.url, a.url);
    const stored = discord.messages('c').at(-1)!;
    assert.is(stored.attachments[0]!.description, 'the chart');
    assert.is(stored.embeds[0]!.image!.url, a.url);
    const served = Buffer.from(await (await fetch(a.url)).arrayBuffer());
    assert.ok(served.equals(png));
  },
);

emu.run();

const cli = suite('blogcord digest render');
let cliDb: TestDb;
const out = 'test-output/digest-render-test.png';
cli.before(async () => {
  cliDb = await createTestDb('postgres');
});
cli.after(async () => {
  await cliDb?.close();
  rmSync(out, { force: true });
});

cli('writes the PNG of a given week without Discord; a week without activity writes nothing and exits 2; bad options are usage errors', async () => {
  const guildId = snowflake();
  const { feed } = await upsertFeed(cliDb.db, { guildId, url: `https://blog.example/${guildId}/feed`, channelId: snowflake() });
  const post = await addPost(cliDb.db, feed, 'a', '2026-11-24T09:00:00.000Z');
  await comment(cliDb.db, post, '900000000000000001', '2026-11-24T10:00:00.000Z');
  await rate(cliDb.db, post, '900000000000000002', 5, '2026-11-25T10:00:00.000Z');
  const env = { DATABASE_URL: cliDb.url, LOG_LEVEL: 'silent' };
  const saved = { ...process.env };
  Object.assign(process.env, env);
  const write = process.stdout.write.bind(process.stdout);
  const errWrite = process.stderr.write.bind(process.stderr);
  let printed = '';
  process.stdout.write = ((s: string) => ((printed += s), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string) => ((printed += s), true)) as typeof process.stderr.write;
  try {
    mkdirSync('test-output', { recursive: true });
    assert.is(await main(['digest', 'render', '--guild', guildId, '--week', '2026-W48', '--out', out]), 0);
    const { img } = decode(readFileSync(out));
    assert.equal([img.width, img.height], [1200, 600]);
    assert.match(printed, 'Tue 24: 1 reply, 0 ratings');
    rmSync(out);
    assert.is(await main(['digest', 'render', '--guild', guildId, '--week', '2026-W40', '--out', out]), 2);
    assert.match(printed, 'no replies or ratings in 2026-W40');
    for (const args of [
      ['digest', 'render', '--guild', guildId],
      ['digest', 'render', '--guild', 'x', '--out', out],
      ['digest', 'render', '--guild', guildId, '--week', '48', '--out', out],
      ['digest', 'render', '--guild', guildId, '--week', '2026-W54', '--out', out],
    ]) {
      let error: unknown;
      try {
        await main(args);
      } catch (e) {
        error = e;
      }
      assert.is((error as Error | undefined)?.name, 'UsageError', args.join(' '));
    }
  } finally {
    process.stdout.write = write;
    process.stderr.write = errWrite;
    process.env = saved;
  }
  assert.throws(() => readFileSync(out));
});

cli(
  'the example week of the docs: a seeded week in Europe/Amsterdam rendered by the CLI (test-output/digest.png; UPDATE_SCREENSHOTS=1 also docs/digest.png)',
  async () => {
    const guildId = snowflake();
    const { feed } = await upsertFeed(cliDb.db, { guildId, url: `https://blog.example/${guildId}/feed`, channelId: snowflake() });
    await upsertGuildSettings(cliDb.db, guildId, { digestDay: 1, digestHour: 9, digestTimezone: 'Europe/Amsterdam' });
    const p = periodOfWeek({ day: 1, hour: 9, timezone: 'Europe/Amsterdam' }, '2026-W48');
    const posts = [];
    for (let i = 0; i < 6; i++) posts.push(await addPost(cliDb.db, feed, `example-${i}`, new Date(Date.parse(p.start) + i * 26 * H).toISOString()));
    // A deterministic week: busier midweek, quiet at the weekend; ratings leaning to 4 and 5 stars.
    const perDay = [6, 14, 22, 17, 11, 4, 5, 2];
    const days = periodDays(p);
    let n = 0;
    for (const [d, count] of perDay.entries()) {
      const from = Date.parse(days[d]!.start);
      for (let k = 0; k < count; k++) {
        const at = new Date(from + ((k * 53) % 600) * 60_000).toISOString();
        if (at >= p.end) continue;
        await comment(cliDb.db, posts[n % posts.length]!, String(920000000000000000n + BigInt(n % 23)), at);
        if (k % 3 === 0) await rate(cliDb.db, posts[n % posts.length]!, String(930000000000000000n + BigInt(n)), [5, 4, 5, 3, 4, 5, 2, 4, 5, 1][n % 10]!, at);
        n++;
      }
    }
    const saved = { ...process.env };
    Object.assign(process.env, { DATABASE_URL: cliDb.url, LOG_LEVEL: 'silent' });
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = (() => true) as typeof process.stdout.write;
    try {
      mkdirSync('test-output', { recursive: true });
      assert.is(await main(['digest', 'render', '--guild', guildId, '--week', '2026-W48', '--out', 'test-output/digest.png']), 0);
    } finally {
      process.stdout.write = write;
      process.env = saved;
    }
    const { img } = decode(readFileSync('test-output/digest.png'));
    assert.equal([img.width, img.height], [1200, 600]);
    if (process.env.UPDATE_SCREENSHOTS === '1') copyFileSync('test-output/digest.png', 'docs/digest.png');
  },
);

cli.run();
