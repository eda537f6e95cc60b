import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeFeedBytes } from '../../src/feeds/charset.ts';
import { FeedError } from '../../src/feeds/errors.ts';
import { parseFeed } from '../../src/feeds/parse.ts';

const repoRoot = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
const fixturesDir = join(repoRoot, 'test', 'fixtures', 'feeds');

interface Expected {
  format: string;
  items: number;
  firstTitle: string | null;
  firstTitleText?: string;
  firstLink: string;
  firstLinkRaw?: string;
  firstExternalUrl?: string;
}
const expected = JSON.parse(readFileSync(join(fixturesDir, 'expected.json'), 'utf8')) as Record<string, Expected>;

/** Where each fixture was (or would have been) fetched from: relative links resolve against it. */
const FETCHED_FROM: Record<string, string> = {
  'jekyll-feed-atom-relative.xml': 'https://www.qemu.org/feed.xml',
  'relative-urls-rss2.xml': 'http://www.arcgames.com/en/games/neverwinter/news/rss',
  'relative-urls-atom.xml': 'http://intertwingly.net/blog/index.atom',
  'huge-atom.xml': 'https://yakubin.com/notes/atom.xml',
};
const feedUrlFor = (file: string) => FETCHED_FROM[file] ?? `https://fixtures.example/${file}`;

/** blogcord prefers feedburner:origLink over the feedproxy redirect that expected.json lists as the raw first link. */
const ORIG_LINK: Record<string, string> = {
  'blogger-atom-feedburner.xml': 'http://googleadsdeveloper.blogspot.com/2016/06/adwords-and-dfp-java-client-library.html',
  'podcast-podlove-rss2.xml': 'http://cre.fm/cre207-planetarien',
};

const formatOf = (label: string) =>
  label.includes('(RDF)') ? 'rdf' : label.startsWith('RSS') ? 'rss' : label.startsWith('Atom') ? 'atom' : label.startsWith('JSON') ? 'json' : label;

export function loadFixture(file: string) {
  const bytes = readFileSync(join(fixturesDir, file));
  return parseFeed(decodeFeedBytes(bytes), feedUrlFor(file));
}

const fixtures = suite('feed fixtures (expected.json)');

const files = readdirSync(fixturesDir).filter((f) => /\.(xml|json)$/.test(f) && f !== 'expected.json');
fixtures('every fixture file has an expected.json entry', () => {
  for (const f of files) assert.ok(expected[f], `no expected entry for ${f}`);
  assert.is(files.length, Object.keys(expected).length);
});

for (const [file, exp] of Object.entries(expected)) {
  fixtures(file, () => {
    const t0 = performance.now();
    const feed = loadFixture(file);
    const ms = performance.now() - t0;
    assert.ok(ms < 3000, `${file} took ${ms} ms`);
    assert.is(feed.format, formatOf(exp.format), 'format');
    assert.is(feed.items.length, exp.items, 'item count');
    const first = feed.items[0]!;
    if (exp.firstTitle === null || exp.firstTitle === '') {
      // No (or an empty) title element: the title falls back to the text, never empty.
      assert.ok(first.title.length > 0, 'fallback title is not empty');
      assert.not.match(first.title, /^Untitled$/);
    } else {
      assert.is(first.title, exp.firstTitleText ?? exp.firstTitle, 'first title');
    }
    // URLs are WHATWG-normalised (host lower-cased), e.g. www.Dicas-L.com.br → www.dicas-l.com.br
    assert.is(first.url, ORIG_LINK[file] ?? new URL(exp.firstLink).href, 'first link');
    for (const item of feed.items) {
      assert.ok(item.title.trim().length > 0 && item.title === item.title.trim(), `title of ${item.key}`);
      assert.not.match(item.title, /\s{2}/);
      assert.ok(item.key.length > 0);
      if (item.url) assert.match(item.url, /^https?:\/\//);
      if (item.imageUrl) assert.match(item.imageUrl, /^https?:\/\//);
      if (item.publishedAt) assert.match(item.publishedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      assert.match(item.contentHash, /^[0-9a-f]{64}$/);
    }
    const keys = new Set(feed.items.map((i) => i.key));
    assert.ok(keys.size >= feed.items.length - 2, 'keys are (nearly) unique'); // scripting.com repeats two guids
  });
}

const facts = suite('parser facts');

facts('CDATA mixed with text keeps the space ("Link: Pillow…")', () => {
  assert.is(loadFixture('wordpress-atom.xml').items[0]!.title, 'Link: Pillow Fight Leaves 24 Concussed');
});

facts('HTML in titles is stripped and entities decoded', () => {
  const title = loadFixture('rss10-rdf-html-in-title.xml').items[0]!.title;
  assert.is(title, 'Bright, Spacious Beautiful Victorian (oakland north / temescal) $4300 3bd 1930ft2');
});

facts('dates become ISO-8601 UTC (two-digit years too)', () => {
  const rel = loadFixture('relative-urls-rss2.xml').items[0]!;
  assert.is(rel.publishedAt, '2017-12-07T18:00:29.000Z');
  assert.is(loadFixture('rss090-rdf.xml').items[0]!.publishedAt, null);
});

facts('authors from dc:creator, Atom author, JSON Feed authors[] and feed level', () => {
  assert.is(loadFixture('wordpress-com-rss2.xml').items[0]!.author, 'Caroline Moore');
  assert.is(loadFixture('typepad-atom.xml').items[0]!.author, 'AWS Editor');
  assert.is(loadFixture('jsonfeed-v1.1.json').items[0]!.author, 'Frank Boës');
  assert.is(loadFixture('huge-atom.xml').items[0]!.author, 'Jakub Alba (yakubin)');
});

facts('images: media:content skipping avatars, tracking pixels ignored, first <img> made absolute', () => {
  assert.is(loadFixture('wordpress-com-rss2.xml').items[0]!.imageUrl, 'https://en-blog.files.wordpress.com/2014/09/intergalacticlg.jpg');
  assert.is(loadFixture('ghost-rss2.xml').items[0]!.imageUrl, 'https://blog.cloudflare.com/content/images/2021/10/image6-15.png');
  for (const item of loadFixture('medium-rss2.xml').items) {
    if (item.imageUrl) assert.not.match(item.imageUrl, /\/_\/stat/);
  }
});

facts('relative URLs inside content are made absolute (xml:base)', () => {
  const qemu = loadFixture('jekyll-feed-atom-relative.xml').items[0]!;
  const html = qemu.contentHtml ?? qemu.summaryHtml ?? '';
  assert.not.match(html, /href="\/(?!\/)/);
});

facts('JSON Feed link-blog: url is the permalink', () => {
  const df = loadFixture('jsonfeed-v1-linkblog.json').items[0]!;
  assert.is(df.url, 'https://daringfireball.net/linked/2017/06/26/the-talk-show-195');
});

const identity = suite('identity keys and content hash');

const rss = (items: string) => `<?xml version="1.0"?><rss version="2.0"><channel><title>T</title><link>https://blog.example/</link>${items}</channel></rss>`;

identity('guid, else link, else hash', () => {
  const feed = parseFeed(
    rss(
      '<item><guid isPermaLink="false">abc-1</guid><link>https://blog.example/a</link><title>A</title></item>' +
        '<item><link>https://blog.example/b</link><title>B</title></item>' +
        '<item><title>C</title><pubDate>Mon, 01 Jan 2024 10:00:00 GMT</pubDate><description>text c</description></item>',
    ),
    'https://blog.example/feed',
  );
  const [a, b, c] = feed.items;
  assert.equal([a!.key, a!.keySource, a!.url], ['abc-1', 'guid', 'https://blog.example/a']);
  assert.equal([b!.key, b!.keySource], ['https://blog.example/b', 'link']);
  assert.is(c!.keySource, 'hash');
  assert.match(c!.key, /^hash:[0-9a-f]{64}$/);
  assert.is(c!.url, null);
  assert.is(c!.publishedAt, '2024-01-01T10:00:00.000Z');
});

identity('keys and hashes are stable across parses; the hash changes only when the text changes', () => {
  const make = (body: string, extra = '') =>
    parseFeed(
      rss(`<item><title>Hello</title><link>https://blog.example/h</link>${extra}<description>${body}</description></item>`),
      'https://blog.example/feed',
    ).items[0]!;
  const one = make('&lt;p&gt;Some   text&lt;/p&gt;');
  const two = make('&lt;p&gt;Some   text&lt;/p&gt;');
  assert.is(one.key, two.key);
  assert.is(one.contentHash, two.contentHash);
  // whitespace-only differences and metadata (comments count) do not count as edits
  assert.is(make('&lt;p&gt;Some text&lt;/p&gt;\n').contentHash, one.contentHash);
  assert.is(make('&lt;p&gt;Some   text&lt;/p&gt;', '<comments>https://blog.example/h#c</comments>').contentHash, one.contentHash);
  assert.is.not(make('&lt;p&gt;Some other text&lt;/p&gt;').contentHash, one.contentHash);
  assert.is(make('changed').key, one.key);
});

identity('real fixtures give the same keys twice; no-guid feeds key by link', () => {
  for (const file of ['utf8-bom-no-guid.xml', 'rss090-rdf.xml', 'wordpress-rss2.xml', 'jsonfeed-v1.json']) {
    const a = loadFixture(file).items.map((i) => [i.key, i.contentHash]);
    const b = loadFixture(file).items.map((i) => [i.key, i.contentHash]);
    assert.equal(a, b);
  }
  assert.ok(loadFixture('utf8-bom-no-guid.xml').items.every((i) => i.keySource === 'link'));
  assert.ok(loadFixture('wordpress-rss2.xml').items.every((i) => i.keySource === 'guid'));
});

identity('title falls back to the text, then the URL, then "Untitled"', () => {
  const feed = parseFeed(
    rss(
      '<item><title></title><link>https://blog.example/1</link><description>Just a short micro post about things that happen on a Tuesday afternoon in the park with friends</description></item>' +
        '<item><link>https://blog.example/2</link></item>' +
        '<item><category>misc</category></item>',
    ),
    'https://blog.example/feed',
  );
  assert.match(feed.items[0]!.title, /^Just a short micro post.*…$/);
  assert.ok(feed.items[0]!.title.length <= 80);
  assert.is(feed.items[1]!.title, 'https://blog.example/2');
  assert.is(feed.items[2]!.title, 'Untitled');
});

const bad = suite('bad input');

function expectFeedError(fn: () => unknown, code: string): FeedError {
  try {
    fn();
  } catch (err) {
    assert.instance(err, FeedError);
    assert.is((err as FeedError).code, code, (err as Error).message);
    return err as FeedError;
  }
  assert.unreachable(`expected FeedError ${code}`);
  throw new Error('unreachable');
}

bad('billion laughs entity bomb is refused, fast', () => {
  let entities = '<!ENTITY lol "lol">';
  for (let i = 1; i <= 9; i++) entities += `<!ENTITY lol${i} "${`&lol${i === 1 ? '' : i - 1};`.repeat(10)}">`;
  const bomb = `<?xml version="1.0"?><!DOCTYPE rss [${entities}]><rss version="2.0"><channel><title>&lol9;</title><item><title>&lol9;</title><link>https://x.example/</link></item></channel></rss>`;
  const t0 = performance.now();
  const err = expectFeedError(() => parseFeed(bomb, 'https://x.example/feed'), 'malformed');
  assert.ok(performance.now() - t0 < 200);
  assert.match(err.message, /entities/);
});

bad('XXE file:// entity is refused and never read', () => {
  const xxe = `<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><rss version="2.0"><channel><title>t</title><item><title>a &xxe; b</title><link>https://x.example/</link></item></channel></rss>`;
  const err = expectFeedError(() => parseFeed(xxe, 'https://x.example/feed'), 'malformed');
  assert.match(err.message, /external entities/);
  assert.not.match(err.message, /root:/);
});

bad('an HTML page is not-a-feed and the advertised feed is suggested', () => {
  const html = `<!DOCTYPE html><html><head><title>Blog</title>
    <link rel="alternate" type="application/rss+xml" title="Feed" href="/feed/">
    <link rel="alternate" type="application/rss+xml" title="Comments" href="/comments/feed/"></head><body><p>Hi</p></body></html>`;
  const err = expectFeedError(() => parseFeed(html, 'https://example.com/'), 'not-a-feed');
  assert.is(err.message, 'This is an HTML page, not a feed. Did you mean https://example.com/feed/ ?');
  assert.equal(err.suggestions, ['https://example.com/feed/']);
});

bad('JSON that is not a JSON Feed is not-a-feed; other XML is not-a-feed', () => {
  expectFeedError(() => parseFeed('{"hello": "world"}', 'https://x.example/'), 'not-a-feed');
  expectFeedError(() => parseFeed('<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"></svg>', 'https://x.example/'), 'not-a-feed');
  expectFeedError(() => parseFeed('', 'https://x.example/'), 'not-a-feed');
  expectFeedError(() => parseFeed('plain text', 'https://x.example/'), 'not-a-feed');
});

bad('truncated XML is malformed with a short reason', () => {
  const full = readFileSync(join(fixturesDir, 'wordpress-rss2.xml'), 'utf8');
  const err = expectFeedError(() => parseFeed(full.slice(0, Math.floor(full.length / 2)), 'https://x.example/feed'), 'malformed');
  assert.match(err.message, /cut off/);
  assert.ok(err.message.length < 300);
  expectFeedError(() => parseFeed('{"version": "https://jsonfeed.org/version/1", "items": [', 'https://x.example/'), 'malformed');
});

fixtures.run();
facts.run();
identity.run();
bad.run();
