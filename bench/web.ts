// The web figures (issue 17): one `blogcord web` process (no gateway, no workers) answering the blog side under load,
// measured with autocannon from this process (so the load generator shares the machine with the server: the
// figures are a floor). Targets, on SQLite and on PostgreSQL:
//   GET /api/posts?url= of the seed post (22 replies)             ≥ 5,000 requests/s, p99 ≤ 25 ms
//   the first page of a 5,000-reply thread                         ≥ 1,000 requests/s
//   the seed post's embed fragment (GET /embed/posts/:id)          ≥ 2,000 requests/s ("route not present" when it 404s)
// The process runs with its defaults: answers kept in memory and validated on every request by the post's version
// (HTTP_ANSWER_CACHE_MS 0, nothing served stale; BENCH_WEB_ANSWER_CACHE_MS sets another value).
// BENCH_WEB_SECONDS (default 10) per figure, BENCH_WEB_CONNECTIONS (default 20). The big thread's route is
// BENCH_WEB_BIG_PATH with {id} for the post id (default /api/posts/{id}: the whole thread; point it at the paginated
// /api/posts/{id}/comments?limit=50 once it exists), the embed's BENCH_WEB_EMBED_PATH (default /embed/posts/{id}).
// BENCH_PROFILE=DIR writes a CPU profile of the web process, BENCH_NODE_ARGS passes options to its node.
import { cpus, loadavg } from 'node:os';
import autocannon, { type Result } from 'autocannon';
import type { Db } from '../src/db/index.ts';
import { upsertComments } from '../src/repositories/comments.ts';
import { setFeedWeb } from '../src/repositories/feeds.ts';
import { getPost } from '../src/repositories/posts.ts';
import { startBot, logLines, newQueuePrefix } from '../test/support/bot.ts';
import { createTestDb } from '../test/support/db.ts';
import { publishedPost, seedDiscussion, SEED_URL } from '../test/support/fixtures.ts';
import { snowflake } from '../test/support/snowflake.ts';
import { report } from './figures.ts';

const SECONDS = Number(process.env.BENCH_WEB_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_WEB_CONNECTIONS ?? 20);
const BIG_PATH = process.env.BENCH_WEB_BIG_PATH ?? '/api/posts/{id}';
const EMBED_PATH = process.env.BENCH_WEB_EMBED_PATH ?? '/embed/posts/{id}';
/** BENCH_WEB_FIGURES=seed,big,embed (default all) picks the figures (a profile or a before/after pair of one route). */
const FIGURES = new Set((process.env.BENCH_WEB_FIGURES ?? 'seed,big,embed').split(',').map((f) => f.trim()));
const load = () => `load average ${loadavg()[0]!.toFixed(1)} on ${cpus().length} cores`;

/** A published, web-enabled post with `count` replies (a tenth of them replies to earlier ones). */
async function bigThread(db: Db, count: number): Promise<string> {
  const { postId, threadId } = await publishedPost(db);
  await setFeedWeb(db, (await getPost(db, postId))!.feedId, true);
  const start = Date.parse('2026-11-01T00:00:00Z');
  const ids: string[] = [];
  for (let i = 0; i < count; i += 500) {
    const rows = Array.from({ length: Math.min(500, count - i) }, (_, k) => {
      const n = i + k;
      const id = snowflake(start + n * 1000);
      ids.push(id);
      return {
        id,
        postId,
        threadId,
        authorId: snowflake(),
        authorName: `Reader ${n % 300}`,
        content: `Reply number ${n}: a thought about the post, with **some** markdown and a link https://example.com/${n}`,
        replyToId: n % 10 === 9 ? ids[n - 1 - (n % 7)]! : null,
        attachments: [],
        createdAt: new Date(start + n * 1000).toISOString(),
        editedAt: null,
      };
    });
    await upsertComments(db, rows);
  }
  return postId;
}

async function hammer(url: string): Promise<Result> {
  // A short warm-up (JIT, the database's caches), then the measured run.
  await autocannon({ url, connections: CONNECTIONS, duration: 2 });
  return autocannon({ url, connections: CONNECTIONS, duration: SECONDS });
}

function note(r: Result, extra = ''): string {
  const bad = r.non2xx + r.errors + r.timeouts;
  return `${CONNECTIONS} connections, ${SECONDS} s; p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms${bad ? `; ${bad} failed or non-2xx` : ''}${extra}; ${load()}`;
}

export async function benchWeb(dialect: 'sqlite' | 'postgres'): Promise<void> {
  const dir = dialect === 'sqlite' ? (await import('node:fs')).mkdtempSync(`${(await import('node:os')).tmpdir()}/blogcord-bench-web-`) : null;
  const t = await createTestDb(dialect, dir ? { file: `${dir}/web.db` } : {});
  const seed = await seedDiscussion(t.db);
  await setFeedWeb(t.db, seed.post.feedId, true);
  const bigId = await bigThread(t.db, 5000);
  const web = await startBot({
    discord: { restUrl: 'http://127.0.0.1:9/api', token: 'bench' },
    databaseUrl: t.url,
    role: 'web',
    nodeArgs: [
      ...(process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : []),
      ...(process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean),
    ],
    queuePrefix: newQueuePrefix(),
    env: { HTTP_PORT: '0', HTTP_RATE_LIMIT: '0', HTTP_ANSWER_CACHE_MS: process.env.BENCH_WEB_ANSWER_CACHE_MS ?? '0', LOG_LEVEL: 'info' },
    readyPattern: /http api listening/,
  }).catch(async (err) => {
    await t.close();
    throw err;
  });
  try {
    const port = logLines(web).find((l) => l.msg === 'http api listening')?.port;
    const base = `http://127.0.0.1:${String(port)}`;

    if (FIGURES.has('seed')) {
      const seedUrl = `${base}/api/posts?url=${encodeURIComponent(SEED_URL)}`;
      const first = await fetch(seedUrl);
      if (first.status !== 200) throw new Error(`the seed post answered ${first.status}`);
      const r = await hammer(seedUrl);
      report({
        name: `web seed post (${dialect})`,
        value: Math.round(r.requests.average),
        unit: 'requests/s',
        target: { op: '>=', value: 5000 },
        note: note(r),
      });
      report({ name: `web seed post p99 (${dialect})`, value: r.latency.p99, unit: 'ms', target: { op: '<=', value: 25 }, note: load() });
    }

    if (FIGURES.has('big')) {
      const bigUrl = `${base}${BIG_PATH.replace('{id}', bigId)}`;
      const big = await fetch(bigUrl);
      const bytes = (await big.arrayBuffer()).byteLength;
      if (big.status !== 200) throw new Error(`${BIG_PATH} answered ${big.status}`);
      const b = await hammer(bigUrl);
      report({
        name: `web 5,000-reply thread, first page (${dialect})`,
        value: Math.round(b.requests.average),
        unit: 'requests/s',
        target: { op: '>=', value: 1000 },
        note: note(b, `; ${BIG_PATH}, ${Math.round(bytes / 1024)} KB an answer`),
      });
    }

    const embedUrl = `${base}${EMBED_PATH.replace('{id}', seed.post.id)}`;
    if (FIGURES.has('embed') && (await fetch(embedUrl)).status === 404) {
      console.log(`web embed fragment (${dialect}): route not present (${EMBED_PATH} answers 404): skipped`);
    } else if (FIGURES.has('embed')) {
      const e = await hammer(embedUrl);
      report({
        name: `web embed fragment (${dialect})`,
        value: Math.round(e.requests.average),
        unit: 'requests/s',
        target: { op: '>=', value: 2000 },
        note: note(e),
      });
    }
  } finally {
    await web.stop();
    await t.close();
    if (dir) (await import('node:fs')).rmSync(dir, { recursive: true, force: true });
  }
}
