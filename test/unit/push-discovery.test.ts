// Issue 19: WebSub discovery (Link headers, atom:link in RSS and Atom, JSON Feed hubs) and X-Hub-Signature checks,
// with examples and properties (arbitrary header text never throws; any signature of another body or secret fails).
import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseFeed } from '../../src/feeds/parse.ts';
import { SIGNATURE_METHODS, verifyHubSignature } from '../../src/feeds/websub.ts';
import { linksFromDocument, linksFromHeaders, mergeLinks, parseLinkHeader } from '../../src/feeds/websub-discovery.ts';

const RSS_WITH_HUB = `<?xml version="1.0"?>
<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel><title>Blog</title><link>https://blog.example/</link>
<atom:link rel="hub" href="https://pubsubhubbub.appspot.com/"/>
<atom:link href="https://blog.example/feed/" rel="self" type="application/rss+xml"/>
<!-- <atom:link rel="hub" href="https://commented.example/"/> -->
<item><title>One</title><link>https://blog.example/1</link><guid>1</guid><atom:link rel="hub" href="https://item-level.example/"/></item>
</channel></rss>`;

const ATOM_WITH_HUB = `<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Blog</title><id>urn:x</id><updated>2026-11-01T00:00:00Z</updated>
<link rel='self' href='/feed.atom'/><link rel="hub" href="https://hub.example/?a=1&amp;b=2"/><link rel="alternate" href="https://blog.example/"/>
<entry><title>One</title><id>urn:1</id><link href="https://blog.example/1"/><updated>2026-11-01T00:00:00Z</updated></entry></feed>`;

const JSON_WITH_HUB = JSON.stringify({
  version: 'https://jsonfeed.org/version/1.1',
  title: 'Blog',
  feed_url: 'https://blog.example/feed.json',
  hubs: [
    { type: 'WebSub', url: 'https://websub.example/hub' },
    { type: 'rssCloud', url: 'https://cloud.example/' },
  ],
  items: [{ id: '1', url: 'https://blog.example/1', content_text: 'hi' }],
});

test('RSS: channel-level atom:link rel=hub and rel=self; item-level and commented-out links are ignored', () => {
  const feed = parseFeed(RSS_WITH_HUB, 'https://blog.example/feed/');
  assert.equal(feed.push, { hubs: ['https://pubsubhubbub.appspot.com/'], self: 'https://blog.example/feed/' });
  assert.is(feed.items.length, 1);
});

test('Atom: rel=hub and a relative rel=self resolved against the feed URL, entities decoded', () => {
  const feed = parseFeed(ATOM_WITH_HUB, 'https://blog.example/x/feed');
  assert.equal(feed.push, { hubs: ['https://hub.example/?a=1&b=2'], self: 'https://blog.example/feed.atom' });
});

test('JSON Feed: WebSub hubs (other kinds skipped) and feed_url as self', () => {
  assert.equal(parseFeed(JSON_WITH_HUB, 'https://blog.example/feed.json').push, {
    hubs: ['https://websub.example/hub'],
    self: 'https://blog.example/feed.json',
  });
});

test('a feed without a hub has none; non-http hubs are dropped', () => {
  assert.equal(linksFromDocument('<rss><channel><atom:link rel="hub" href="javascript:alert(1)"/></channel></rss>', 'https://b.example/'), {
    hubs: [],
    self: null,
  });
  assert.equal(linksFromDocument('not a feed', null), { hubs: [], self: null });
});

test('Link headers: several links and lines, quoted and multiple rel values, commas inside quotes; headers win over the document', () => {
  const links = linksFromHeaders(
    ['<https://hub.example/>; rel="hub", </feed>; rel="self alternate"; title="a, b"', '<https://hub2.example/>; rel=hub'],
    'https://blog.example/x',
  );
  assert.equal(links, { hubs: ['https://hub.example/', 'https://hub2.example/'], self: 'https://blog.example/feed' });
  assert.equal(mergeLinks(links, { hubs: ['https://doc.example/'], self: 'https://doc.example/self' }), links);
  assert.equal(mergeLinks({ hubs: [], self: null }, { hubs: ['https://doc.example/'], self: null }), { hubs: ['https://doc.example/'], self: null });
  assert.equal(parseLinkHeader('garbage, <x>; nope'), []);
});

test('property: any header text parses without throwing, and only http(s) URLs come out', () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string(),
        fc
          .array(fc.string({ unit: fc.constantFrom('<', '>', ';', ',', '"', '=', 'rel', 'hub', 'self', ' ', 'http://a.b/', '\\') }), { maxLength: 6 })
          .map((a) => a.join('')),
      ),
      (value) => {
        const links = linksFromHeaders(value, 'https://base.example/');
        for (const u of [...links.hubs, ...(links.self ? [links.self] : [])]) assert.match(u, /^https?:\/\//);
      },
    ),
    { numRuns: 500 },
  );
});

test('property: a hub link round-trips through a Link header', () => {
  fc.assert(
    fc.property(fc.webUrl({ withQueryParameters: true }), (url) => {
      const safe = url.replace(/[<>"\s,;]/g, '');
      const expected = new URL(safe).href;
      assert.equal(linksFromHeaders(`<${safe}>; rel="hub"`, 'https://base.example/').hubs, [expected]);
    }),
    { numRuns: 300 },
  );
});

test('X-Hub-Signature: sha1/256/384/512 of the raw body with the secret; anything else is not signed', () => {
  const body = Buffer.from('<rss>…</rss>');
  for (const m of SIGNATURE_METHODS) assert.ok(verifyHubSignature(`${m}=${createHmac(m, 's3cret').update(body).digest('hex')}`, 's3cret', body), m);
  assert.not.ok(verifyHubSignature(undefined, 's3cret', body));
  assert.not.ok(verifyHubSignature('md5=abcd', 's3cret', body));
  assert.not.ok(verifyHubSignature(`sha256=${createHmac('sha256', 'other').update(body).digest('hex')}`, 's3cret', body));
  assert.not.ok(verifyHubSignature('sha256=zz', 's3cret', body));
});

test('property: a signature of another body or secret never verifies', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 200 }),
      fc.uint8Array({ maxLength: 200 }),
      fc.string({ minLength: 1 }),
      fc.constantFrom(...SIGNATURE_METHODS),
      (a, b, secret, m) => {
        const sig = `${m}=${createHmac(m, secret).update(Buffer.from(a)).digest('hex')}`;
        assert.ok(verifyHubSignature(sig, secret, Buffer.from(a)));
        if (!Buffer.from(a).equals(Buffer.from(b))) assert.not.ok(verifyHubSignature(sig, secret, Buffer.from(b)));
        assert.not.ok(verifyHubSignature(sig, `${secret}x`, Buffer.from(a)));
      },
    ),
    { numRuns: 300 },
  );
});

test.run();
