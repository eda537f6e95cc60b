// The web's Discord-markdown renderer (src/render/discord-markdown.ts): every construct of the issue by example,
// hostile input (javascript:/data: links, HTML injection, pathological nesting, huge input), and fast-check
// properties over arbitrary text built from Discord's markup: the output never holds a script, an event handler,
// a style, or a link that is not http(s); rendering never throws and stays within a time budget.
import fc from 'fast-check';
import { parseDocument } from 'htmlparser2';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MAX_MARKDOWN_CHARS, renderDiscordMarkdown } from '../../src/render/discord-markdown.ts';

const test = suite('discord markdown → safe HTML');

const USER = '123456789012345678';
const ROLE = '223456789012345678';
const CHANNEL = '323456789012345678';
const EMOJI = '423456789012345678';
const names = { users: new Map([[USER, 'Bram <b>']]), roles: new Map([[ROLE, 'Mods']]) };
const md = (s: string) => renderDiscordMarkdown(s, names);

test('inline styles: bold, italic, underline, strike, inline code', () => {
  assert.is(md('**b** *i* __u__ ~~s~~ `c<d>`'), '<strong>b</strong> <em>i</em> <u>u</u> <s>s</s> <code>c&lt;d&gt;</code>');
});

test('spoilers are focusable spans that hold their text (readable without JS)', () => {
  assert.is(md('a ||secret|| b'), 'a <span class="blogcord-spoiler" tabindex="0">secret</span> b');
});

test('code blocks keep their language as a class; the code is escaped', () => {
  assert.is(md('```js\nif (a < b) alert(1)\n```'), '<pre><code class="language-js">if (a &lt; b) alert(1)</code></pre>');
  assert.is(md('```\nplain\n```'), '<pre><code>plain</code></pre>');
});

test('block quotes, headers, subtext and lists', () => {
  assert.match(md('> quoted'), /^<blockquote>quoted/);
  assert.is(md('# Big'), '<p class="blogcord-md-h1">Big</p>');
  assert.is(md('### Small'), '<p class="blogcord-md-h3">Small</p>');
  assert.match(md('-# fine print'), /<small>fine print<\/small>/);
  assert.is(md('- one\n- **two**'), '<ul><li>one</li><li><strong>two</strong></li></ul>');
  assert.is(md('3. three\n4. four'), '<ol start="3"><li>three</li><li>four</li></ol>');
  assert.is(md('not - a list'), 'not - a list');
});

test('links: masked http(s) links, the real host shown when the text is another URL, plain URLs linkified', () => {
  assert.is(md('[docs](https://example.org/a)'), '<a href="https://example.org/a" rel="nofollow ugc noopener">docs</a>');
  assert.is(
    md('[https://bank.example](https://evil.example/x)'),
    '<a href="https://evil.example/x" rel="nofollow ugc noopener">https://bank.example</a> <span class="blogcord-md-host">(evil.example)</span>',
  );
  assert.is(md('[https://a.example/1](https://a.example/2)'), '<a href="https://a.example/2" rel="nofollow ugc noopener">https://a.example/1</a>');
  assert.is(md('see https://x.org/p, ok'), 'see <a href="https://x.org/p" rel="nofollow ugc noopener">https://x.org/p</a>, ok');
  assert.is(md('<https://y.org>'), '<a href="https://y.org/" rel="nofollow ugc noopener">https://y.org</a>');
});

test('custom emoji are small images from Discord’s CDN with :name: as alt text', () => {
  assert.match(md(`<:blob:${EMOJI}>`), new RegExp(`<img class="blogcord-emoji" src="https://cdn.discordapp.com/emojis/${EMOJI}.png\\?size=48" alt=":blob:"`));
  assert.match(md(`<a:dance:${EMOJI}>`), /emojis\/\d+\.gif\?size=48" alt=":dance:"/);
});

test('mentions become names (escaped), never ids; timestamps become <time datetime>', () => {
  const out = md(`<@${USER}> <@!${USER}> <@${'9'.repeat(18)}> <@&${ROLE}> <#${CHANNEL}> @everyone`);
  assert.is(
    out,
    '<span class="blogcord-mention">@Bram &lt;b&gt;</span> <span class="blogcord-mention">@Bram &lt;b&gt;</span> <span class="blogcord-mention">@someone</span> ' +
      '<span class="blogcord-mention">@Mods</span> <span class="blogcord-mention">#channel</span> @everyone',
  );
  for (const id of [USER, ROLE, CHANNEL]) assert.not.ok(out.includes(id));
  assert.is(md('<t:1700000000:D>'), '<time class="blogcord-md-time" datetime="2023-11-14T22:13:20.000Z" data-style="D">November 14, 2023</time>');
  assert.match(md('<t:1700000000:R>'), /datetime="2023-11-14T22:13:20.000Z" data-style="R">November 14, 2023 at 10:13 PM UTC</);
});

const HOSTILE: Array<[string, string]> = [
  ['javascript: masked link', '[click](javascript:alert(1))'],
  ['JaVaScRiPt with entities', '[click](JaVaScRiPt&colon;alert(1))'],
  ['data: URL', '[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)'],
  ['vbscript', '[x](vbscript:msgbox)'],
  ['raw HTML', '<img src=x onerror=alert(1)><script>alert(2)</script><a href="javascript:alert(3)">a</a>'],
  ['attribute breakout in a URL', 'https://x.org/"onmouseover="alert(1)'],
  ['attribute breakout in a masked link', '[a](https://x.org/"onclick="alert(1))'],
  ['emoji with a hostile name', '<:x" onerror="alert(1):423456789012345678>'],
  ['code block language breakout', '```js" onclick="alert(1)\ncode\n```'],
  ['protocol-relative', '[x](//evil.example)'],
  ['html in a spoiler', '||<svg onload=alert(1)>||'],
  ['iframe', '<iframe src="https://evil.example"></iframe>'],
];

/** Every element and attribute of the output, parsed as a browser would. */
function elements(html: string): Array<{ name: string; attribs: Record<string, string> }> {
  const out: Array<{ name: string; attribs: Record<string, string> }> = [];
  const walk = (nodes: ReturnType<typeof parseDocument>['children']) => {
    for (const n of nodes) {
      if ('name' in n && 'attribs' in n) {
        out.push({ name: n.name, attribs: n.attribs });
        walk(n.children);
      }
    }
  };
  walk(parseDocument(html).children);
  return out;
}

const SAFE_TAGS = new Set(['strong', 'em', 'u', 's', 'span', 'code', 'pre', 'blockquote', 'p', 'small', 'ul', 'ol', 'li', 'br', 'a', 'img', 'time']);

function assertSafe(html: string, input: string): void {
  for (const el of elements(html)) {
    assert.ok(SAFE_TAGS.has(el.name), `tag <${el.name}> from ${JSON.stringify(input)}`);
    for (const [name, value] of Object.entries(el.attribs)) {
      assert.not.ok(/^on/i.test(name), `event handler ${name} from ${JSON.stringify(input)}`);
      assert.not.ok(name === 'style' || name === 'srcdoc', `${name} from ${JSON.stringify(input)}`);
      if (name === 'href') assert.ok(/^https?:\/\//.test(value), `href ${value} from ${JSON.stringify(input)}`);
      if (name === 'src') assert.ok(value.startsWith('https://cdn.discordapp.com/emojis/'), `src ${value} from ${JSON.stringify(input)}`);
    }
    if (el.name === 'a') assert.is(el.attribs.rel, 'nofollow ugc noopener');
  }
}

for (const [what, input] of HOSTILE) {
  test(`hostile: ${what} comes out harmless`, () => {
    const html = md(input);
    assertSafe(html, input);
    assert.not.match(html, /<script|<iframe|<svg/i);
  });
}

test('hostile: the non-http link keeps its text, without a link', () => {
  assert.is(md('[click](javascript:alert(1))'), 'click');
});

test('pathological nesting and huge input: bounded time, cut at the limit, never throws', () => {
  const cases = [
    '||'.repeat(20_000),
    '**'.repeat(20_000),
    '> '.repeat(20_000),
    '[a]('.repeat(10_000),
    '*a '.repeat(20_000),
    '~~_*'.repeat(20_000),
    `${'- '.repeat(5000)}x`,
    '```'.repeat(10_000),
    '<@'.repeat(20_000),
    'https://x.org/'.repeat(5000),
    'a'.repeat(1_000_000),
  ];
  for (const input of cases) {
    const t = performance.now();
    const html = md(input);
    const ms = performance.now() - t;
    assert.ok(ms < 1500, `${JSON.stringify(input.slice(0, 12))}… took ${Math.round(ms)} ms`);
    assertSafe(html, input.slice(0, 40));
  }
  assert.ok(md('a'.repeat(MAX_MARKDOWN_CHARS + 10)).length <= MAX_MARKDOWN_CHARS + 10, 'cut');
  assert.ok(md('a'.repeat(MAX_MARKDOWN_CHARS + 10)).endsWith('…'));
});

const PIECES = [
  '**',
  '*',
  '__',
  '_',
  '~~',
  '||',
  '`',
  '```',
  '```js\n',
  '> ',
  '>>> ',
  '# ',
  '-# ',
  '- ',
  '1. ',
  '\n',
  '[',
  '](',
  ')',
  '<',
  '>',
  '"',
  "'",
  '&',
  'javascript:',
  'data:',
  'https://x.org/',
  'http://',
  '//',
  `<@${USER}>`,
  `<@&${ROLE}>`,
  `<#${CHANNEL}>`,
  `<:e:${EMOJI}>`,
  '<t:1700000000:R>',
  '<t:99999999999999:R>',
  '<script>',
  '<img src=x onerror=alert(1)>',
  ' onerror=',
  'onclick="x"',
  'style="x"',
  '\u202e',
  '\u0000',
  '😀',
  'word',
  ' ',
];

test('property: for any mix of markup, the output is safe HTML and rendering never throws', () => {
  fc.assert(
    fc.property(fc.array(fc.oneof(fc.constantFrom(...PIECES), fc.string({ maxLength: 8 })), { maxLength: 60 }), (parts) => {
      const input = parts.join('');
      const t = performance.now();
      const html = md(input);
      assert.ok(performance.now() - t < 500);
      assertSafe(html, input);
      assert.not.match(html, /<script|\u202e|\u0000/i);
    }),
    { numRuns: 400 },
  );
});

test('property: arbitrary unicode never throws and never yields a tag outside the allow-list', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme', maxLength: 300 }), (input) => {
      assertSafe(md(input), input);
    }),
    { numRuns: 300 },
  );
});

test.run();
