// Property-based test of the whole path feed item → render → payload (issue 14 item 6): for arbitrary titles,
// HTML bodies (nested, huge, unicode, mentions, masked links, control characters) and authors, the payload always
// passes Discord's limits (validateMessagePayload), never pings, and renders within the budget.
import fc from 'fast-check';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { RESTPostAPIChannelMessageJSONBody } from 'discord-api-types/v10';
import { validateMessagePayload, validateThreadName } from '../../src/render/limits.ts';
import { DESCRIPTION_BUDGET, renderPostMessage, threadName } from '../../src/render/post.ts';

const NASTY = [
  '@everyone',
  '@here',
  '@EVERYONE',
  '<@123456789012345678>',
  '<@!123>',
  '<@&456>',
  '<#789>',
  '</cmd:123>',
  '<t:1700000000:R>',
  '\u0000',
  '\u001b[31m',
  '\u0007',
  '\u0085',
  '\u202e',
  '\u2066',
  '\u200b',
  '\ufeff',
  '\ud83d\ude00',
  'e\u0301',
  '\u{1F3F3}\u{FE0F}\u200D\u{1F308}',
  '*',
  '**',
  '_',
  '~~',
  '`',
  '```',
  '||',
  '\\',
  '[',
  ']',
  '(',
  ')',
  '#',
  '> ',
  '- ',
  '1. ',
  '&amp;',
  '&lt;@123&gt;',
  '&#0;',
  '&#x202e;',
];
const text = fc
  .array(fc.oneof(fc.constantFrom(...NASTY), fc.string({ unit: 'grapheme', maxLength: 20 }), fc.string({ maxLength: 20 })), { maxLength: 40 })
  .map((xs) => xs.join(''));
const longText = fc.tuple(text, fc.integer({ min: 1, max: 400 })).map(([t, n]) => (t || '@everyone ').repeat(n));
const TAGS = [
  'div',
  'p',
  'a',
  'b',
  'i',
  'span',
  'ul',
  'li',
  'table',
  'tr',
  'td',
  'h1',
  'h3',
  'pre',
  'code',
  'blockquote',
  'script',
  'style',
  'img',
  'br',
  'svg',
];
const href = fc.constantFrom(
  'https://evil.example/login',
  '/relative',
  'javascript:alert(1)',
  'https://discord.com/gift',
  'mailto:a@b.c',
  '',
  'https://blog.example/a b(c)',
);
const token = fc.oneof(
  text.map((t) => t.replace(/</g, '&lt;')),
  fc.constantFrom(...TAGS).map((t) => `<${t}>`),
  fc.constantFrom(...TAGS).map((t) => `</${t}>`),
  fc.constantFrom(
    '</script\n>',
    '</style >',
    '</SCRIPT>',
    '<!--',
    '-->',
    '<!DOCTYPE html>',
    '<img src="https://img.example/a.png">',
    '<a href="https://x.example">',
  ),
  fc
    .tuple(href, fc.oneof(text, fc.constantFrom('https://discord.com/gift', 'discord.com', 'paypal.com/login')))
    .map(([h, t]) => `<a href="${h}">${t.replace(/</g, '&lt;')}</a>`),
);
const flat = fc.array(token, { maxLength: 60 }).map((xs) => xs.join(''));
const nested = fc
  .tuple(fc.constantFrom('div', 'a', 'b', 'span', 'li', 'blockquote'), fc.integer({ min: 1, max: 8_000 }), fc.boolean(), text)
  .map(([tag, n, closed, t]) => `${`<${tag}>`.repeat(n)}${t.replace(/</g, '&lt;')}${closed ? `</${tag}>`.repeat(n) : ''}`);
const huge = fc.tuple(flat, fc.integer({ min: 100, max: 4_000 })).map(([h, n]) => (h || '<p>x</p>').repeat(n).slice(0, 400_000));
const html = fc.oneof(
  { weight: 4, arbitrary: flat },
  { weight: 2, arbitrary: nested },
  { weight: 1, arbitrary: huge },
  { weight: 1, arbitrary: fc.constant(null) },
);

/** Every text in a payload that Discord shows. */
function shownTexts(p: RESTPostAPIChannelMessageJSONBody): string[] {
  const out = [p.content ?? ''];
  for (const e of p.embeds ?? [])
    out.push(e.title ?? '', e.description ?? '', e.author?.name ?? '', e.footer?.text ?? '', ...(e.fields ?? []).flatMap((f) => [f.name, f.value]));
  return out;
}

const PING = /(^|[^\w/.])@(everyone|here)|<@[!&]?\d+>|<#\d+>/i; // also @everyone0: Discord pings on the word's start

const prop = suite('feed item → render → payload (fast-check)');

prop('the payload is always valid, never pings, and renders within the budget', async () => {
  let slowest = 0;
  await fc.assert(
    fc.asyncProperty(fc.oneof(text, longText), html, fc.option(fc.oneof(text, longText)), fc.option(html), async (title, summaryHtml, author, contentHtml) => {
      const post = {
        title,
        url: 'https://blog.example/p/1',
        author,
        publishedAt: '2026-12-01T00:00:00Z',
        summaryHtml,
        contentHtml,
        imageUrl: null,
        feedTitle: title,
      };
      const t = performance.now();
      const payload = renderPostMessage(post, { rating: { average: 3.5, count: 2 }, replies: 1 });
      const ms = performance.now() - t;
      slowest = Math.max(slowest, ms);
      assert.equal(validateMessagePayload(payload), [], JSON.stringify(payload).slice(0, 300));
      assert.equal(payload.allowed_mentions, { parse: [] });
      for (const shown of shownTexts(payload)) {
        assert.not.match(shown, PING);
        assert.not.match(shown, /[\u202a-\u202e\u2066-\u2069]/);
      }
      const description = payload.embeds?.[0]?.description ?? '';
      assert.ok(description.length <= DESCRIPTION_BUDGET, `${description.length}`);
      assert.equal(validateThreadName(threadName(title)), []);
    }),
    { numRuns: 150, seed: Number(process.env.FC_SEED ?? Date.now() % 1e9) },
  );
  // Seconds mean a quadratic path; the 50 ms target per item is measured by `npm run bench` (figure "render").
  assert.ok(slowest < 1_000, `slowest render ${slowest} ms`);
});

prop.run();
