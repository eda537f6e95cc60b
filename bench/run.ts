// `npm run bench [ingest|digest|catchup|feeds|render|footprint|web|push ...]`: prints one line per figure and writes them as JSON.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { figures } from './figures.ts';

const wanted = new Set(process.argv.slice(2).length ? process.argv.slice(2) : ['ingest', 'digest', 'catchup', 'feeds', 'render', 'footprint', 'web', 'push']);
const dialects = (process.env.BENCH_DIALECTS ?? 'sqlite,postgres').split(',') as Array<'sqlite' | 'postgres'>;
const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
console.log(
  `blogcord benchmarks on ${machine}; load average ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}`,
);

if (wanted.has('ingest')) {
  const { benchIngest } = await import('./ingest.ts');
  for (const d of dialects) await benchIngest(d, Number(process.env.BENCH_EVENTS ?? 100_000));
}
if (wanted.has('digest')) {
  const { benchDigest } = await import('./digest.ts');
  for (const d of dialects) await benchDigest(d);
}
if (wanted.has('catchup')) {
  const { benchCatchUp } = await import('./catch-up.ts');
  for (const d of dialects) await benchCatchUp(d, Number(process.env.BENCH_MESSAGES ?? 100_000));
}
if (wanted.has('feeds')) {
  const { benchFeeds } = await import('./feeds.ts');
  await benchFeeds(Number(process.env.BENCH_FEEDS ?? 1000));
}
if (wanted.has('web')) {
  const { benchWeb } = await import('./web.ts');
  for (const d of dialects) await benchWeb(d);
}
if (wanted.has('push')) {
  const { benchPush, benchQueueHop } = await import('./push.ts');
  await benchQueueHop();
  for (const d of dialects) await benchPush(d, Number(process.env.BENCH_PUSH_DELIVERIES ?? 50));
}
if (wanted.has('render')) {
  const { benchRender } = await import('./render.ts');
  benchRender();
}
// Not in the default set (it seeds a busy week on each database): `npm run bench periodic`.
if (wanted.has('periodic')) {
  const { benchPeriodic } = await import('./periodic.ts');
  for (const d of dialects) await benchPeriodic(d);
}
if (wanted.has('footprint')) {
  const { benchFootprint } = await import('./footprint.ts');
  await benchFootprint(dialects);
}

mkdirSync('bench/results', { recursive: true });
const file = `bench/results/${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
const json = JSON.stringify({ machine, at: new Date().toISOString(), figures }, null, 2);
writeFileSync(file, json);
writeFileSync('bench/results/latest.json', json);
console.log(`figures written to ${file}`);
process.exit(0);
