// The parser boundary: what comes out of parseFeed is clean (no NUL or C0/C1 controls), capped per field
// (FIELD_CAPS), and anything that goes wrong is a FeedError, whatever the bytes.
import fc from 'fast-check';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeFeedBytes } from '../../src/feeds/charset.ts';
import { FeedError } from '../../src/feeds/errors.ts';
import { FIELD_CAPS, parseFeed } from '../../src/feeds/parse.ts';
import type { ParsedFeed, PostDraft } from '../../src/feeds/types.ts';

const CONTROL = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F]/;
const FEED_URL = 'https://blog.example/feed';

/** Every string a parsed feed holds. */
function strings(feed: ParsedFeed): string[] {
  const out = [feed.title, feed.link];
  for (const item of feed.items) out.push(...Object.values(item).filter((v): v is string => typeof v === 'string'));
  return out.filter((v): v is string => v !== null);
}

function assertWithinCaps(item: PostDraft) {
  assert.ok(item.title.length <= FIELD_CAPS.title, `title ${item.title.length}`);
  assert.ok((item.author ?? '').length <= FIELD_CAPS.author, 'author');
  assert.ok((item.url ?? '').length <= FIELD_CAPS.url, 'url');
  assert.ok((item.imageUrl ?? '').length <= FIELD_CAPS.url, 'image');
  assert.ok(item.key.length <= FIELD_CAPS.key, `key ${item.key.length}`);
  assert.ok((item.summaryHtml ?? '').length <= FIELD_CAPS.summaryHtml, 'summary');
  assert.ok((item.contentHtml ?? '').length <= FIELD_CAPS.contentHtml, 'content');
}

const rss = (items: string, channelTitle = 'T') =>
  `<?xml version="1.0"?><rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>${channelTitle}</title><link>https://blog.example/</link>${items}</channel></rss>`;

const controls = suite('control characters');

controls('NUL, ESC, BEL, DEL and C1 are removed from titles, authors, summaries, content, links and guids', () => {
  const nasty = '\u0000\u001b\u0007\u007f\u0085\u009b';
  const feed = parseFeed(
    rss(
      `<item><title>Ti${nasty}tle</title><link>https://blog.example/p${nasty}ost</link><guid isPermaLink="false">g${nasty}1</guid>` +
        `<dc:creator>Au${nasty}thor</dc:creator><description>&lt;p&gt;sum${nasty}mary &amp;#0; &amp;#x1B;&amp;#155;&lt;/p&gt;</description>` +
        `<content:encoded><![CDATA[<p>con${nasty}tent&#x07;&#8;</p>]]></content:encoded></item>`,
      `Feed${nasty}`,
    ),
    FEED_URL,
  );
  const item = feed.items[0]!;
  assert.is(feed.title, 'Feed');
  assert.equal([item.title, item.author, item.url, item.key], ['Title', 'Author', 'https://blog.example/post', 'g1']);
  assert.is(item.summaryHtml, '<p>summary  </p>');
  assert.is(item.contentHtml, '<p>content</p>');
  for (const s of strings(feed)) assert.not.match(s, CONTROL);
});

controls('tab and newline stay in HTML; CR LF becomes a newline', () => {
  const item = parseFeed(rss('<item><title>x</title><link>https://blog.example/x</link><description>a\tb\r\nc\rd</description></item>'), FEED_URL).items[0]!;
  assert.is(item.summaryHtml, 'a\tb\nc\nd');
});

const caps = suite('field caps');

caps('a 4.9 MB title, a long author, link, guid and summary come out within the caps', () => {
  const huge = 'word '.repeat(1_000_000); // ~4.9 MB
  const longUrl = `https://blog.example/${'a'.repeat(5000)}`;
  const feed = parseFeed(
    rss(
      `<item><title>${huge}</title><link>${longUrl}</link><guid isPermaLink="false">${'g'.repeat(3000)}</guid><dc:creator>${'n'.repeat(1000)}</dc:creator>` +
        `<description>${'&lt;p&gt;para &lt;b&gt;bold&lt;/b&gt;&lt;/p&gt;'.repeat(5000)}</description></item>`,
    ),
    FEED_URL,
  );
  const item = feed.items[0]!;
  assertWithinCaps(item);
  assert.match(item.title, /^word word .*word…$/);
  assert.is(item.url, null, 'a link longer than the cap is dropped, never cut');
  assert.ok(item.summaryHtml!.length > FIELD_CAPS.summaryHtml - 40, 'cut near the cap');
  assert.not.match(item.summaryHtml!, /<[^>]*$/, 'HTML is cut before a tag, never inside one');
});

caps('a title that falls back to a long link is capped too (found by the property test below)', () => {
  const link = `https://blog.example/${'p/'.repeat(400)}`;
  const item = parseFeed(rss(`<item><link>${link}</link></item>`), FEED_URL).items[0]!;
  assert.is(item.url, link);
  assert.ok(item.title.length <= FIELD_CAPS.title, `title ${item.title.length}`);
  assert.ok(item.title.startsWith('https://blog.example/p/p/'));
});

caps('two guids that differ only after the cap stay two different keys, stably', () => {
  const head = 'tag:blog.example,2024:'.padEnd(2000, 'x');
  const parse = () =>
    parseFeed(
      rss(`<item><title>a</title><guid isPermaLink="false">${head}A</guid></item><item><title>b</title><guid isPermaLink="false">${head}B</guid></item>`),
      FEED_URL,
    ).items;
  const [a, b] = parse();
  assert.ok(a!.key.length <= FIELD_CAPS.key);
  assert.is.not(a!.key, b!.key);
  assert.ok(a!.key.startsWith('tag:blog.example,2024:xxx'));
  assert.is(parse()[0]!.key, a!.key);
  // A guid within the cap is kept as it is.
  assert.is(parseFeed(rss('<item><title>c</title><guid isPermaLink="false">short-guid</guid></item>'), FEED_URL).items[0]!.key, 'short-guid');
});

const linear = suite('hostile documents are scanned in linear time');

/** Parses within `ms` (a quadratic scan of these 2 MB documents takes minutes; a linear one a few ms). */
function parsesQuickly(doc: string, ms = 2000) {
  const t0 = performance.now();
  try {
    parseFeed(doc, FEED_URL);
  } catch (err) {
    if (!(err instanceof FeedError)) throw err;
  }
  const took = performance.now() - t0;
  assert.ok(took < ms, `took ${Math.round(took)} ms`);
}

const TWO_MB = 2_000_000;

linear('unclosed comment openers in CDATA or after the last element', () => {
  parsesQuickly(rss(`<item><title>a</title><link>https://blog.example/a</link><description><![CDATA[${'<!--'.repeat(TWO_MB / 4)}]]></description></item>`));
  parsesQuickly(`<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>${'<!--'.repeat(TWO_MB / 4)}</channel></rss>`);
});

linear('item openers without closers, in a feed that asks for the raw scan (origLink, base64, xhtml:body, fullitem)', () => {
  parsesQuickly(
    rss(`<item><title>a</title><link>https://blog.example/a</link><description>origLink base64</description></item><!--${'<item>'.repeat(TWO_MB / 6)}-->`),
  );
  // In an element the parser ignores, so that no HTML is built from them.
  parsesQuickly(rss(`<item><title>a</title><junk><![CDATA[${'<x:body mode="base64">'.repeat(TWO_MB / 22)}]]></junk></item>`));
  parsesQuickly(rss(`<item><title>a</title><junk><![CDATA[${'<fullitem>'.repeat(TWO_MB / 10)}]]></junk></item>`));
});

linear('a prefixed RSS document full of comment openers', () => {
  parsesQuickly(`<r:rss xmlns:r="urn:r" version="2.0"><r:channel><r:title>t</r:title>${'<!--'.repeat(TWO_MB / 4)}</r:channel></r:rss>`);
});

const property = suite('property: arbitrary input');

function onlyFeedErrors(input: string) {
  try {
    const feed = parseFeed(input, FEED_URL);
    for (const s of strings(feed)) assert.not.match(s, CONTROL);
    feed.items.forEach(assertWithinCaps);
  } catch (err) {
    if (!(err instanceof FeedError)) throw err;
    // The boundary's last resort (an unexpected error turned into a FeedError) must not be what handles these.
    assert.not.match(err.message, /could not read it/, err.message);
  }
}

property('arbitrary bytes (decoded like a download) never throw anything but a FeedError', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 2000 }), (bytes) => onlyFeedErrors(decodeFeedBytes(bytes))),
    { numRuns: 300 },
  );
});

const fragment = fc.oneof(
  fc.constantFrom(
    '<?xml version="1.0"?>',
    '<rss version="2.0">',
    '</rss>',
    '<channel>',
    '</channel>',
    '<item>',
    '</item>',
    '<title>',
    '</title>',
    '<link>',
    '</link>',
    '<guid>',
    '</guid>',
    '<description>',
    '</description>',
    '<pubDate>',
    '</pubDate>',
    '<![CDATA[',
    ']]>',
    '<feed xmlns="http://www.w3.org/2005/Atom">',
    '</feed>',
    '<entry>',
    '</entry>',
    '<content type="html">',
    '<content mode="base64">',
    '</content>',
    '<summary xml:base="../x/">',
    '</summary>',
    '<r:rss xmlns:r="u" version="2.0">',
    '<xhtml:body>',
    '</xhtml:body>',
    '<fullitem>',
    '</fullitem>',
    '<dc:title>',
    '</dc:title>',
    '<!DOCTYPE html>',
    '<!--',
    '-->',
    '&amp;',
    '&lt;',
    '&#0;',
    '&#x1b;',
    '\u0000',
    '\u001b',
    '\uD800',
    '<',
    '>',
    '"',
    "'",
    '{"version":"https://jsonfeed.org/version/1","items":[',
    ']}',
    'https://x.example/a',
  ),
  fc.string({ maxLength: 20 }),
);

property('arbitrary XML-ish and JSON-ish strings never throw anything but a FeedError, and what parses is clean and capped', () => {
  fc.assert(
    fc.property(fc.array(fragment, { maxLength: 60 }), (parts) => onlyFeedErrors(parts.join(''))),
    { numRuns: 400 },
  );
  fc.assert(
    fc.property(fc.array(fragment, { maxLength: 40 }), (parts) =>
      onlyFeedErrors(`<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><item>${parts.join('')}</item></channel></rss>`),
    ),
    { numRuns: 400 },
  );
});

/** Arbitrary text with control characters, lone surrogates and markup mixed in, escaped as XML text. */
const wild = fc
  .array(
    fc.oneof(
      fc.string({ unit: 'binary', maxLength: 30 }),
      fc.constantFrom('\u0000', '\u001b[31m', '\u0007', '\u0085', '\r\n', '\uDC00', '<b>', '&#0;', '&#x1b;', ' '),
    ),
    { maxLength: 12 },
  )
  .map((parts) => parts.join(''));
const xmlText = (v: string) =>
  v
    .replace(/&(?!#)/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;');

property('items with arbitrary text in every field parse clean, capped and keyed (RSS, Atom, JSON Feed)', () => {
  fc.assert(
    fc.property(fc.array(fc.record({ title: wild, link: wild, guid: wild, author: wild, body: wild }), { minLength: 1, maxLength: 4 }), (items) => {
      const rssItems = items
        .map(
          (i) =>
            `<item><title>${xmlText(i.title)}</title><link>https://blog.example/${xmlText(i.link)}</link><guid isPermaLink="false">${xmlText(i.guid)}</guid><dc:creator>${xmlText(i.author)}</dc:creator><description>${xmlText(i.body)}</description></item>`,
        )
        .join('');
      const atomEntries = items
        .map(
          (i) =>
            `<entry><id>${xmlText(i.guid)}</id><title type="html">${xmlText(i.title)}</title><link href="${xmlText(i.link).replace(/"/g, '&quot;')}"/><author><name>${xmlText(i.author)}</name></author><updated>2024-01-01T00:00:00Z</updated><content type="html">${xmlText(i.body)}</content></entry>`,
        )
        .join('');
      const json = JSON.stringify({
        version: 'https://jsonfeed.org/version/1.1',
        title: items[0]!.title,
        items: items.map((i) => ({ id: i.guid, url: `https://blog.example/${i.link}`, title: i.title, content_html: i.body, authors: [{ name: i.author }] })),
      });
      for (const doc of [
        rss(rssItems),
        `<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>f</id>${atomEntries}</feed>`,
        json,
      ]) {
        onlyFeedErrors(doc);
        const feed = parseFeed(doc, FEED_URL);
        assert.is(feed.items.length, items.length);
        for (const item of feed.items) assert.ok(item.key.length > 0 && item.title.length > 0);
      }
    }),
    { numRuns: 150 },
  );
});

controls.run();
caps.run();
linear.run();
property.run();
