// The render figure (issue 14): the worst-case time to render one hostile feed item into its announcement, over a
// corpus of items within the 5 MB fetch limit. Each item is rendered as a post's summary and as its full content
// (the image is looked up there), several times; its time is its best run (on a shared machine the other runs
// measure the neighbours too; the median is in the note), the figure the slowest item. Target: ≤ 50 ms per item (the event loop is never blocked longer than that by one item).
import { cpus, loadavg } from 'node:os';
import { renderPostMessage } from '../src/render/post.ts';
import { median, report } from './figures.ts';

const MB = 1024 * 1024;
const fill = (unit: string, size = 5 * MB) => unit.repeat(Math.max(1, Math.floor(size / unit.length)));

export const HOSTILE_CORPUS: Record<string, string> = {
  'deep divs (10,000)': `${'<div>'.repeat(10_000)}deep${'</div>'.repeat(10_000)}`,
  'unclosed divs (1 MB)': fill('<div>', MB),
  'nested anchors without href (1,200)': `${'<a>'.repeat(1_200)}x${'</a>'.repeat(1_200)}`,
  'nested anchors with href (5,000)': `${'<a href="https://x.example/">'.repeat(5_000)}x${'</a>'.repeat(5_000)}`,
  'huge flat HTML (5 MB)': fill('<p>hello <b>world</b> <i>and</i> <span>more</span></p>'),
  'many links (5 MB)': fill('<a href="https://example.com/some/long/path?q=1">discord.com</a> '),
  'long text (5 MB, no tags)': fill('word '),
  'one long word (5 MB)': fill('x'),
  'unterminated comments (5 MB)': fill('<!--'),
  'unterminated tags (5 MB)': fill('<a href="'),
  'many scripts (5 MB)': fill('<script>var a = "<p>";</script\n>'),
  'pre with markup (5 MB)': `<pre>${fill('<tr><td><a href="mailto:a@b.c">x</a></td>', 5 * MB - 20)}</pre>`,
  'nested tables (2,000)': `${'<table><tr><td>'.repeat(2_000)}cell${'</td></tr></table>'.repeat(2_000)}`,
  'nested lists (3,000)': `${'<ul><li>'.repeat(3_000)}item${'</li></ul>'.repeat(3_000)}`,
  'headings (5 MB)': fill('<h2>Title <em>x</em></h2>'),
  'entities (5 MB)': fill('&amp;&lt;&#x202e;&#0;'),
  'mentions (5 MB)': fill('@everyone <@123456789012345678> &lt;@&amp;1&gt; '),
  'markdown characters (5 MB)': fill('*_~`|[]()#>\\ '),
  'bidi and control characters (5 MB)': fill('\u202e\u2066\u0000\u001b[31m\u0007 '),
  'images (5 MB)': fill('<img src="/pixel.gif" width="1" height="1">'),
};

function renderItem(html: string): number {
  const post = { title: 'A hostile post @everyone', url: 'https://blog.example/p/1', author: 'Mallory', publishedAt: null, feedTitle: 'Blog' };
  const t = performance.now();
  renderPostMessage({ ...post, summaryHtml: html, contentHtml: null, imageUrl: null }, { rating: { average: 0, count: 0 }, replies: 0 });
  renderPostMessage({ ...post, summaryHtml: null, contentHtml: html, imageUrl: null }, { rating: { average: 0, count: 0 }, replies: 0 });
  return (performance.now() - t) / 2;
}

export function benchRender(runs = Number(process.env.BENCH_RENDER_RUNS ?? 7)): void {
  let worst = { name: '', ms: 0 };
  let worstMedian = 0;
  for (const [name, html] of Object.entries(HOSTILE_CORPUS)) {
    renderItem(html); // warm-up
    const times = Array.from({ length: runs }, () => renderItem(html));
    const best = Math.min(...times);
    worstMedian = Math.max(worstMedian, median(times));
    if (process.env.BENCH_VERBOSE)
      console.log(`  render ${name}: best ${best.toFixed(1)} ms, median ${median(times).toFixed(1)} ms, max ${Math.max(...times).toFixed(1)} ms`);
    if (best > worst.ms) worst = { name, ms: best };
  }
  report({
    name: 'render',
    value: worst.ms,
    unit: `ms per item (worst item, best of ${runs} runs)`,
    target: { op: '<=', value: 50 },
    note: `${Object.keys(HOSTILE_CORPUS).length} hostile items ≤ 5 MB; slowest: ${worst.name}; worst median ${worstMedian.toFixed(1)} ms; load average ${loadavg()[0]!.toFixed(1)} on ${cpus().length} cores`,
  });
}
