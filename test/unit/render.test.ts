import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeFeedBytes } from '../../src/feeds/charset.ts';
import { parseFeed } from '../../src/feeds/parse.ts';
import { EMBED_DESCRIPTION_MAX, EMBED_TITLE_MAX, THREAD_NAME_MAX, validateMessagePayload, validateThreadName } from '../../src/render/limits.ts';
import { htmlToDiscordMarkdown, plainText } from '../../src/render/markdown.ts';
import { DESCRIPTION_BUDGET, RATE_THIS_POST, renderAnnouncement, renderFallback, renderPostMessage, threadName } from '../../src/render/post.ts';
import { formatDistributionBars, formatRating } from '../../src/render/rating.ts';
import { formatFeedCheck, previewFeed } from '../../src/services/feed-check.ts';

const fixturesDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'feeds');
const expected = JSON.parse(readFileSync(join(fixturesDir, 'expected.json'), 'utf8')) as Record<string, unknown>;
const stats = { rating: { average: 4.5, count: 2 }, replies: 3 };

const md = suite('htmlToDiscordMarkdown');

md('markdown characters are escaped, mentions neutralised', () => {
  const { markdown } = htmlToDiscordMarkdown('<p>**not bold** _x_ ~~y~~ `z` ||spoiler|| @everyone @here <@123> &lt;@&amp;456&gt; &lt;#789&gt;</p>', {
    maxLength: 1000,
  });
  assert.ok(markdown.includes('\\*\\*not bold\\*\\*'), markdown);
  assert.ok(
    markdown.includes('\\_x\\_') && markdown.includes('\\~\\~y\\~\\~') && markdown.includes('\\`z\\`') && markdown.includes('\\|\\|spoiler\\|\\|'),
    markdown,
  );
  assert.not.match(markdown, /@everyone|@here|<@\d|<@&|<#\d/);
  const lineStart = htmlToDiscordMarkdown('<p># big</p><p>&gt; quote</p><p>-# small</p>', { maxLength: 1000 }).markdown;
  assert.not.match(lineStart, /^(#|>|-#) /m);
});

md('links kept as [text](absolute url); unsafe links keep only their text', () => {
  const { markdown } = htmlToDiscordMarkdown('<p>See <a href="/about">about me</a> and <a href="javascript:alert(1)">this</a>.</p>', {
    maxLength: 1000,
    baseUrl: 'https://blog.example/post/1',
  });
  assert.ok(markdown.includes('[about me](https://blog.example/about)'), markdown);
  assert.not.match(markdown, /javascript/);
  assert.ok(markdown.includes('this'));
});

md('images dropped but the first real one returned; scripts, styles, iframes dropped; headings bold; lists kept', () => {
  const html =
    '<h2>Intro</h2><img src="https://t.example/pixel.gif" width="1" height="1"><p>Text <img src="https://img.example/a.png"> more</p>' +
    '<img src="https://img.example/b.png"><script>alert("x")</script><style>p{color:red}</style><iframe src="https://evil.example"></iframe>' +
    '<ul><li>one</li><li>two</li></ul>';
  const r = htmlToDiscordMarkdown(html, { maxLength: 1000 });
  assert.is(r.imageUrl, 'https://img.example/a.png');
  assert.not.match(r.markdown, /png|gif|alert|color|evil|<|!\[/);
  assert.match(r.markdown, /^\*\*Intro\*\*$/m);
  assert.match(r.markdown, /^- one\n- two$/m);
  assert.not.match(r.markdown, /\n{3}/);
});

md('cut at a word boundary with … and a Read more line, within maxLength', () => {
  const html = `<p>${'alpha beta gamma '.repeat(200)}</p>`;
  const r = htmlToDiscordMarkdown(html, { maxLength: 300, readMoreUrl: 'https://blog.example/p' });
  assert.ok(r.truncated);
  assert.ok(r.markdown.length <= 300, String(r.markdown.length));
  assert.match(r.markdown, /(alpha|beta|gamma)…\n\n\[Read more\]\(https:\/\/blog\.example\/p\)$/);
  const short = htmlToDiscordMarkdown('<p>short</p>', { maxLength: 300, readMoreUrl: 'https://blog.example/p' });
  assert.equal([short.markdown, short.truncated], ['short', false]);
});

md('a cut never splits a link and closes open bold', () => {
  const html = `<p><strong>${'bold '.repeat(40)}</strong></p><p>${'word '.repeat(30)}<a href="https://blog.example/a-very-long-link-target">link text that is long</a> tail</p>`;
  for (let max = 60; max < 400; max += 7) {
    const r = htmlToDiscordMarkdown(html, { maxLength: max });
    assert.ok(r.markdown.length <= max, `${max}: ${r.markdown.length}`);
    const unescaped = r.markdown.replace(/\\./g, '');
    assert.is((unescaped.match(/\*\*/g) ?? []).length % 2, 0, r.markdown);
    assert.not.match(r.markdown, /\]\([^)]*$/);
    assert.not.match(r.markdown, /\[[^\]]*…/);
  }
});

md('plainText', () => {
  assert.is(plainText('<p>Hello&nbsp;<b>world</b></p><script>x()</script>'), 'Hello world');
});

const rating = suite('rating');

rating('formatRating', () => {
  assert.is(formatRating({ average: 4.5, count: 2 }), '★ 4.5/5 (2 ratings)');
  assert.is(formatRating({ average: 5, count: 1 }), '★ 5/5 (1 rating)');
  assert.is(formatRating({ average: 5.0, count: 2 }), '★ 5/5 (2 ratings)');
  assert.is(formatRating({ average: 4.666, count: 3 }), '★ 4.7/5 (3 ratings)');
  assert.is(formatRating({ average: 0, count: 0 }), 'Be the first to rate');
});

rating('formatDistributionBars', () => {
  const bars = formatDistributionBars({ 1: 0, 2: 0, 3: 0, 4: 1, 5: 2 }).split('\n');
  assert.is(bars.length, 5);
  assert.is(bars[0], '5★ ██████████ 2');
  assert.is(bars[1], '4★ █████░░░░░ 1');
  assert.is(bars[4], '1★ ░░░░░░░░░░ 0');
});

const post = suite('announcement payloads');

const base = {
  title: 'Hello',
  url: 'https://blog.example/hello',
  author: 'Ann',
  publishedAt: '2024-01-02T03:04:05.000Z',
  summaryHtml: '<p>Summary <b>text</b></p>',
  contentHtml: '<p>Content</p><img src="https://img.example/c.png">',
  imageUrl: null,
  feedTitle: 'The Blog',
};

post('one embed with title link, author, timestamp, description, image, rating, replies, rate line; no mentions', () => {
  const payload = renderAnnouncement(base, stats);
  assert.equal(payload.allowed_mentions, { parse: [] });
  assert.is(payload.embeds?.length, 1);
  const e = payload.embeds![0]!;
  assert.is(e.title, 'Hello');
  assert.is(e.url, 'https://blog.example/hello');
  assert.is(e.author?.name, 'Ann');
  assert.is(e.timestamp, '2024-01-02T03:04:05.000Z');
  assert.is(e.description, 'Summary **text**');
  assert.is(e.image?.url, 'https://img.example/c.png');
  const text = JSON.stringify(e);
  assert.ok(text.includes('★ 4.5/5 (2 ratings)'));
  assert.ok(text.includes('💬 3 replies'));
  assert.ok(text.includes(RATE_THIS_POST));
  assert.equal(validateMessagePayload(payload), []);
  const none = JSON.stringify(renderAnnouncement(base, { rating: { average: 0, count: 0 }, replies: 0 }));
  assert.ok(none.includes('Be the first to rate') && none.includes('No replies yet'));
});

post('title of 300 characters → 256; thread names 1–100 and never empty', () => {
  const long = 'word '.repeat(60).trim();
  const e = renderAnnouncement({ ...base, title: long }, stats).embeds![0]!;
  assert.ok(e.title!.length <= EMBED_TITLE_MAX && e.title!.endsWith('…'));
  const t = threadName('x'.repeat(30) + ' ' + 'y'.repeat(119));
  assert.ok(t.length <= THREAD_NAME_MAX && t.length >= 1);
  assert.ok(threadName('a '.repeat(75)).length <= THREAD_NAME_MAX);
  assert.ok(threadName('').length >= 1);
  assert.ok(threadName('   ').length >= 1);
  assert.equal(validateThreadName(threadName('')), []);
  assert.equal(validateThreadName(''), ['the thread name is empty']);
});

post('the fallback is used when the limits cannot be met', () => {
  const fallback = renderFallback(base);
  assert.is(fallback.content, '**Hello**\nhttps://blog.example/hello');
  assert.equal(validateMessagePayload(fallback), []);
  // an author of 300 characters is cut, never a problem; a broken embed (forced) falls back:
  const bad = renderAnnouncement(base, stats);
  bad.embeds![0]!.description = 'x'.repeat(EMBED_DESCRIPTION_MAX + 1);
  assert.ok(validateMessagePayload(bad).length > 0);
  const viaRender = renderPostMessage({ ...base, title: '', url: 'ftp://nope' }, stats);
  assert.equal(validateMessagePayload(viaRender), []);
});

post('validateMessagePayload catches each limit', () => {
  assert.equal(validateMessagePayload({}), ['the message is empty']);
  assert.is(validateMessagePayload({ content: 'x'.repeat(2001) }).length, 1);
  assert.is(validateMessagePayload({ embeds: Array.from({ length: 11 }, () => ({ title: 't' })) }).length, 1);
  const big = { embeds: [{ description: 'x'.repeat(4000) }, { description: 'x'.repeat(4000) }] };
  assert.match(validateMessagePayload(big).join(), /total/);
  assert.match(validateMessagePayload({ embeds: [{ title: 't', fields: Array.from({ length: 26 }, () => ({ name: 'n', value: 'v' })) }] }).join(), /26 fields/);
  assert.match(validateMessagePayload({ embeds: [{ title: 't', fields: [{ name: 'n', value: 'v'.repeat(1025) }] }] }).join(), /value/);
  assert.match(validateMessagePayload({ embeds: [{ title: 't', footer: { text: 'f'.repeat(2049) } }] }).join(), /footer/);
  assert.match(validateMessagePayload({ embeds: [{ title: 't', author: { name: 'a'.repeat(257) } }] }).join(), /author/);
});

post('every fixture item renders to a valid payload (incl. the 103,000-character post)', () => {
  for (const file of Object.keys(expected)) {
    const feed = parseFeed(decodeFeedBytes(readFileSync(join(fixturesDir, file))), `https://fixtures.example/${file}`);
    for (const item of feed.items) {
      const payload = renderAnnouncement({ ...item, feedTitle: feed.title }, stats);
      assert.equal(validateMessagePayload(payload), [], `${file} ${item.key}`);
      assert.ok((payload.embeds![0]!.description ?? '').length <= DESCRIPTION_BUDGET, `${file} description`);
      assert.equal(validateThreadName(threadName(item.title)), [], `${file} thread`);
    }
  }
  const large = parseFeed(decodeFeedBytes(readFileSync(join(fixturesDir, 'wordpress-rss2-large-content.xml'))), 'https://www.dcrainmaker.com/feed');
  const biggest = large.items.reduce((a, b) => ((a.contentHtml?.length ?? 0) > (b.contentHtml?.length ?? 0) ? a : b));
  assert.ok((biggest.contentHtml?.length ?? 0) > 100_000);
  const e = renderAnnouncement({ ...biggest, summaryHtml: null }, stats).embeds![0]!;
  assert.ok(e.description!.endsWith(`[Read more](${biggest.url})`), e.description);
});

post('feed check report: feed facts, then the newest 3 items with link, date, thread name and description', () => {
  const feed = parseFeed(decodeFeedBytes(readFileSync(join(fixturesDir, 'wordpress-rss2.xml'))), 'https://www.natashatherobot.com/feed/');
  const previews = previewFeed(feed);
  assert.is(previews.length, 10);
  assert.ok(previews.every((p) => p.problems.length === 0 && p.threadName.length > 0));
  const report = formatFeedCheck({ feed, previews });
  assert.match(report, /^Feed: {4}Natasha The Robot$/m);
  assert.match(report, /^Format: {2}rss$/m);
  assert.match(report, /^Items: {3}10$/m);
  assert.is(report.match(/^── \d\. /gm)?.length, 3);
  assert.ok(report.includes('The Easiest Way to Get a URL for your Apple Wallet Passkit Pass'));
  assert.ok(report.includes('Thread:  '));
});

md.run();
rating.run();
post.run();
