// planPostDays: which UTC days of digest_post_days and which signed ranges of rows a window's per-post figures are
// read from. Exact for every instant (days + added − taken away = the window), and never more rows than reading the
// window's ends as they are. The reads themselves are held against a recount in test/db/digest-rollups.test.ts and
// test/db/digest-window.test.ts.
import fc from 'fast-check';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { planPostDays, type SignedRange } from '../../src/repositories/digest-window.ts';
import { periodOfWeek } from '../../src/services/digest-period.ts';

const DAY = 24 * 3600_000;
const iso = (ms: number) => new Date(ms).toISOString();
const LONG_AGO = Date.parse('2030-01-01T00:00:00.000Z'); // "now" after every window below

const test = suite('digest: the days and rows a window is read from');

test('a week from Monday 00:00 in New York: its seven UTC days, less Monday before 05:00, plus the next Monday to 05:00', () => {
  const p = periodOfWeek({ day: 1, hour: 0, timezone: 'America/New_York' }, '2026-W47');
  assert.equal(planPostDays(p.start, p.end, LONG_AGO), {
    days: { from: '2026-11-16T00:00:00.000Z', to: '2026-11-23T00:00:00.000Z' },
    ranges: [
      { from: '2026-11-16T00:00:00.000Z', to: '2026-11-16T05:00:00.000Z', sign: -1 },
      { from: '2026-11-23T00:00:00.000Z', to: '2026-11-23T05:00:00.000Z', sign: 1 },
    ],
  });
});

test('a week on UTC midnights is its days alone; a window inside one day is its rows alone', () => {
  assert.equal(planPostDays('2026-11-16T00:00:00.000Z', '2026-11-23T00:00:00.000Z', LONG_AGO), {
    days: { from: '2026-11-16T00:00:00.000Z', to: '2026-11-23T00:00:00.000Z' },
    ranges: [],
  });
  assert.equal(planPostDays('2026-11-16T05:00:00.000Z', '2026-11-16T09:00:00.000Z', LONG_AGO), {
    days: null,
    ranges: [{ from: '2026-11-16T05:00:00.000Z', to: '2026-11-16T09:00:00.000Z', sign: 1 }],
  });
  assert.equal(planPostDays('2026-11-16T05:00:00.000Z', '2026-11-16T05:00:00.000Z', LONG_AGO), { days: null, ranges: [] });
});

test('the week so far takes today whole and subtracts what comes after now, which is nothing yet', () => {
  const now = Date.parse('2026-11-19T14:00:00.000Z');
  assert.equal(planPostDays('2026-11-16T00:00:00.000Z', iso(now), now), {
    days: { from: '2026-11-16T00:00:00.000Z', to: '2026-11-20T00:00:00.000Z' },
    ranges: [{ from: '2026-11-19T14:00:00.000Z', to: '2026-11-20T00:00:00.000Z', sign: -1 }],
  });
});

/** How many times an instant is counted: once in the days, plus or minus once per range. */
function counted(plan: ReturnType<typeof planPostDays>, t: number): number {
  const inside = (from: string, to: string) => t >= Date.parse(from) && t < Date.parse(to);
  return (plan.days && inside(plan.days.from, plan.days.to) ? 1 : 0) + plan.ranges.reduce((n, r) => n + (inside(r.from, r.to) ? r.sign : 0), 0);
}

/** The milliseconds of rows a plan reads, up to now. */
const rowsRead = (ranges: readonly SignedRange[], now: number) =>
  ranges.reduce((n, r) => n + Math.max(0, Math.min(Date.parse(r.to), now) - Date.parse(r.from)), 0);

test('any window: every instant counted once inside it and never outside; no more rows than its ends read as they are', () => {
  const base = Date.parse('2026-03-28T00:00:00.000Z');
  // Instants often on or next to midnights, where the plan changes.
  const instant = fc.oneof(
    fc.integer({ min: 0, max: 20 * DAY }).map((ms) => base + ms),
    fc.tuple(fc.integer({ min: 0, max: 20 }), fc.integer({ min: -2, max: 2 })).map(([d, ms]) => base + d * DAY + ms),
    fc.tuple(fc.integer({ min: 0, max: 20 }), fc.integer({ min: -13, max: 13 })).map(([d, h]) => base + d * DAY + h * 3600_000),
  );
  fc.assert(
    fc.property(instant, instant, instant, fc.array(instant, { maxLength: 30 }), (a, b, now, probes) => {
      const [from, to] = a <= b ? [a, b] : [b, a];
      const plan = planPostDays(iso(from), iso(to), now);
      if (plan.days) {
        assert.ok(plan.days.from < plan.days.to);
        for (const d of [plan.days.from, plan.days.to]) assert.is(Date.parse(d) % DAY, 0, `${d} is a midnight`);
      }
      for (const r of plan.ranges) assert.ok(r.from < r.to, JSON.stringify(r));
      for (const t of [from, to, from - 1, to - 1, from + 1, ...probes, ...(plan.days ? [Date.parse(plan.days.from), Date.parse(plan.days.to)] : [])])
        assert.is(counted(plan, t), t >= from && t < to ? 1 : 0, `${iso(t)} in [${iso(from)}, ${iso(to)}): ${JSON.stringify(plan)}`);
      // Reading the window's ends as they are (the whole days inside it, the rest from the rows), or all of it as rows.
      const firstMidnight = Math.ceil(from / DAY) * DAY;
      const lastMidnight = Math.floor(to / DAY) * DAY;
      const asTheyAre =
        firstMidnight < lastMidnight
          ? [
              { from: iso(from), to: iso(firstMidnight), sign: 1 as const },
              { from: iso(lastMidnight), to: iso(to), sign: 1 as const },
            ]
          : [{ from: iso(from), to: iso(to), sign: 1 as const }];
      assert.ok(rowsRead(plan.ranges, now) <= rowsRead(asTheyAre, now), JSON.stringify(plan));
      // At most a day of rows, whatever the window (once now is past it).
      if (now >= to) assert.ok(rowsRead(plan.ranges, now) <= DAY, JSON.stringify(plan));
    }),
    { numRuns: 2_000 },
  );
});

test.run();
