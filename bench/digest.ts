// Digest: time to build one digest on a busy week, on both databases, with the plans of its queries.
import { loadavg } from 'node:os';
import { sql } from 'kysely';
import { createDb } from '../src/db/index.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { renderDigestMessage } from '../src/render/digest.ts';
import { collectDigest } from '../src/services/digest.ts';
import { currentPeriodSoFar, periodOfWeek } from '../src/services/digest-period.ts';
import { createPgSchema } from '../test/support/db.ts';
import { median, report } from './figures.ts';
import { seedBusyWeek } from './seed-digest.ts';

export async function benchDigest(dialect: 'sqlite' | 'postgres', sizes = { posts: 10_000, comments: 1_000_000, ratersPerPost: 100 }): Promise<void> {
  const schema = dialect === 'postgres' ? await createPgSchema() : null;
  const queries: Array<{ sql: string; parameters: readonly unknown[]; ms: number }> = [];
  let capture = false;
  const db = createDb(
    { databaseUrl: schema?.url ?? 'sqlite::memory:' },
    { onQuery: (q, parameters, ms) => void (capture && queries.push({ sql: q, parameters, ms })) },
  );
  try {
    await migrateToLatest(db);
    const t0 = performance.now();
    const seed = await seedBusyWeek(db, sizes);
    console.log(
      `  (${dialect}: seeded ${sizes.posts} posts, ${sizes.comments} comments, ${sizes.posts * sizes.ratersPerPost} ratings in ${((performance.now() - t0) / 1000).toFixed(1)} s)`,
    );
    // The seeded week in three servers' zones (a week from Monday 00:00 in UTC, in New York: 05:00 UTC, and from Monday
    // 09:00 in Kolkata: 03:30 UTC; the rollups are kept per UTC day, so the last two start and end inside one) and the
    // week so far on its Thursday at 14:00 UTC (`/digest now`).
    const windows = [
      { name: '', ...periodOfWeek({ day: 1, hour: 0, timezone: 'UTC' }, '2026-W47') },
      { name: '.new_york', ...periodOfWeek({ day: 1, hour: 0, timezone: 'America/New_York' }, '2026-W47') },
      { name: '.kolkata', ...periodOfWeek({ day: 1, hour: 9, timezone: 'Asia/Kolkata' }, '2026-W47') },
      {
        name: '.so_far',
        ...currentPeriodSoFar({ day: 1, hour: 0, timezone: 'UTC' }, new Date(Date.parse(seed.windowStart) + (3 * 24 + 14) * 3600_000)),
      },
    ];
    if (windows[0]!.start !== seed.windowStart || windows[0]!.end !== seed.windowEnd) throw new Error('the seeded week is not 2026-W47');
    let chartMs = 0;
    for (const [n, period] of windows.entries()) {
      await collectDigest(db, seed.guildId, period, '2026-W47'); // warm caches
      const times: number[] = [];
      let view;
      for (let i = 0; i < 5; i++) {
        capture = n === 0 && i === 0;
        const s = performance.now();
        view = await collectDigest(db, seed.guildId, period, '2026-W47');
        times.push(performance.now() - s);
        capture = false;
      }
      const what = `${period.start.slice(0, 16)} to ${period.end.slice(0, 16)} UTC (${period.timezone})`;
      report({
        name: `digest.queries.${dialect}${period.name}`,
        value: median(times),
        unit: 'ms',
        note: `median of 5; ${what}: ${view!.newPostsTotal} new posts, ${view!.totals.newComments} comments, ${view!.totals.newRatings} ratings`,
      });
      if (n === 0) {
        // The chart (Chart.js on @napi-rs/canvas, PNG encoding included), measured apart from the queries, once.
        renderDigestMessage(view!); // first render: fonts registered, code warmed
        const charts: number[] = [];
        let bytes = 0;
        for (let i = 0; i < 5; i++) {
          const s = performance.now();
          bytes = renderDigestMessage(view!).chart?.png.length ?? 0;
          charts.push(performance.now() - s);
        }
        chartMs = median(charts);
        report({ name: `digest.chart.${dialect}`, value: chartMs, unit: 'ms', note: `median of 5; a ${bytes.toLocaleString('en-US')}-byte PNG` });
      }
      const total = median(times) + chartMs;
      report({
        name: `digest.build.${dialect}${period.name}`,
        value: total,
        unit: 'ms',
        target: { op: '<=', value: 300 },
        note: `queries and chart (the medians added); ${what}`,
      });
      console.log(
        `  digest on ${dialect}, ${what}: queries ${median(times).toFixed(0)} ms + chart ${chartMs.toFixed(0)} ms = ${total.toFixed(0)} ms, target ≤ 300 ms ${total <= 300 ? '✓' : '✗'} (load average ${loadavg()
          .map((l) => l.toFixed(2))
          .join(' ')})`,
      );
    }
    if (process.env.BENCH_PLANS !== '0') {
      // Only the queries (transactions and SET LOCAL jit = off around the PostgreSQL ones have no plan), each with
      // its time in the first timed run (several run at once, so the times overlap). EXPLAIN runs outside the
      // digest's transactions, so PostgreSQL plans may mention JIT, which the digest's queries run without.
      for (const q of queries.filter((q) => /^\s*(select|with)\b/i.test(q.sql))) {
        const explain =
          dialect === 'sqlite'
            ? sql`explain query plan ${sql.raw(inline(q.sql, q.parameters, dialect))}`
            : sql`explain ${sql.raw(inline(q.sql, q.parameters, dialect))}`;
        const rows = (await explain.execute(db.kysely)).rows as Array<Record<string, unknown>>;
        const line = (text: string) => (text.length > 300 ? `${text.slice(0, 300)}…` : text); // (a list of 10,000 ids is not read)
        const plan = rows.map((r) => line(String(r.detail ?? r['QUERY PLAN'] ?? JSON.stringify(r)))).join('\n      ');
        console.log(`    plan (${dialect}, ${q.ms.toFixed(1)} ms) for: ${q.sql.replace(/\s+/g, ' ').slice(0, 140)}…\n      ${plan}`);
      }
    }
  } finally {
    await db.destroy();
    await schema?.drop();
  }
}

/** Puts the parameters into the SQL text, only so EXPLAIN can show the plan of the exact query. */
function inline(text: string, parameters: readonly unknown[], dialect: 'sqlite' | 'postgres'): string {
  const lit = (v: unknown): string =>
    v === null ? 'null' : typeof v === 'number' ? String(v) : Array.isArray(v) ? `array[${v.map(lit).join(', ')}]` : `'${String(v).replace(/'/g, "''")}'`;
  if (dialect === 'sqlite') {
    let i = 0;
    return text.replace(/\?/g, () => lit(parameters[i++]));
  }
  return text.replace(/\$(\d+)/g, (_, n: string) => lit(parameters[Number(n) - 1]));
}
