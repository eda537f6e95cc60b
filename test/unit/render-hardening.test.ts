// Hostile HTML in feed items (issue 14): deep nesting, quadratic shapes, end tags with whitespace, deceptive links.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { absolutizeHtml, firstImage, htmlToText } from '../../src/feeds/html.ts';
import { validateMessagePayload } from '../../src/render/limits.ts';
import { claimedHost, htmlToDiscordMarkdown, isDeceptiveLink, RENDER_BUDGET } from '../../src/render/markdown.ts';
import { renderFallback, renderPostMessage, threadName } from '../../src/render/post.ts';

const stats = { rating: { average: 0, count: 0 }, replies: 0 };
const post = (html: string) => ({
  title: 'T',
  url: 'https://blog.example/p',
  author: null,
  publishedAt: null,
  summaryHtml: html,
  contentHtml: null,
  imageUrl: null,
});
const timed = <T>(fn: () => T): [T, number] => {
  const t = performance.now();
  const r = fn();
  return [r, performance.now() - t];
};

const deep = suite('deep and quadratic HTML');

deep('4,000 and 10,000 nested <div> neither crash parsing nor rendering; the text survives', () => {
  for (const n of [4_000, 10_000]) {
    const html = `<p>start</p>${'<div>'.repeat(n)}deep text${'</div>'.repeat(n)}`;
    assert.is(htmlToText(html), 'start deep text');
    // Rendering reads a bounded start of the item; what it shows is plain text.
    const short = `${'<div>'.repeat(n)}deep text`;
    assert.ok(htmlToDiscordMarkdown(short, { maxLength: 1500 }).markdown.includes('deep text') || short.length > RENDER_BUDGET.sourceChars);
    const payload = renderPostMessage(post(html), stats);
    assert.equal(validateMessagePayload(payload), []);
    assert.ok(payload.embeds?.[0]?.fields?.length, 'the announcement, not the bare fallback');
    assert.type(absolutizeHtml(`${'<div>'.repeat(n)}<a href="/x">x</a>`, 'https://blog.example/'), 'string');
    assert.is(firstImage(`${'<div>'.repeat(n)}<img src="/i.png" width="600">`, 'https://blog.example/'), 'https://blog.example/i.png');
  }
});

deep('deep nesting inside the render budget keeps its text as plain text', () => {
  const html = `${'<div>'.repeat(3_000)}<b>@everyone</b> read this${'</div>'.repeat(3_000)}`;
  const { markdown } = htmlToDiscordMarkdown(html, { maxLength: 1500 });
  assert.ok(markdown.includes('read this'), markdown);
  assert.not.match(markdown, /@everyone/);
});

deep('1,200 nested <a> without href render in linear time (was 3.8 s and 600 MB)', () => {
  const html = `${'<a>'.repeat(1_200)}x${'</a>'.repeat(1_200)}`;
  const [{ markdown }, ms] = timed(() => htmlToDiscordMarkdown(html, { maxLength: 1500 }));
  assert.is(markdown, 'x');
  assert.ok(ms < 1_000, `${ms} ms`);
});

deep('12,000 unclosed <div> and 20,000 unterminated comments are not quadratic', () => {
  for (const html of [`${'<div>'.repeat(12_000)}x`, '<!--'.repeat(20_000), `<p>ok</p>${'<div><span>'.repeat(3_000)}`]) {
    const [, ms] = timed(() => htmlToDiscordMarkdown(html, { maxLength: 1500 }));
    const [, textMs] = timed(() => htmlToText(html));
    assert.ok(ms < 1_000 && textMs < 1_000, `${html.slice(0, 20)}: ${ms} / ${textMs} ms`);
  }
});

deep('a huge flat item (5 MB) is cut to a bounded start, with Read more', () => {
  const html = '<p>hello <b>world</b> <a href="https://e.example/x">link</a></p>'.repeat(80_000);
  const [r, ms] = timed(() => htmlToDiscordMarkdown(html, { maxLength: 1500, readMoreUrl: 'https://blog.example/p' }));
  assert.ok(r.truncated && r.markdown.length <= 1500 && r.markdown.endsWith('[Read more](https://blog.example/p)'), r.markdown.slice(-80));
  assert.ok(r.markdown.startsWith('hello **world** [link](https://e.example/x)'));
  assert.ok(ms < 1_000, `${ms} ms`);
});

deep.run();

const endTags = suite('end tags with whitespace');

endTags('</script\\n> and the rest of the class no longer swallow everything after them', () => {
  for (const close of ['</script\n>', '</script >', '</script\t\n>', '</SCRIPT>', '</Script foo="x">', '</style\r\n>', '</noscript >', '</pre\n>']) {
    const tag = close
      .slice(2)
      .match(/^[a-z]+/i)![0]
      .toLowerCase();
    const html = `<p>before</p><${tag}>hidden</${close.slice(2)}<p>after the ${tag}</p>`;
    assert.ok(htmlToText(html).endsWith(`after the ${tag}`), `${JSON.stringify(close)}: ${htmlToText(html)}`);
    assert.ok(htmlToDiscordMarkdown(html, { maxLength: 1000 }).markdown.endsWith(`after the ${tag}`), JSON.stringify(close));
  }
  assert.is(htmlToText('<p>a</div\n><p>b</p >'), 'a b');
});

endTags.run();

const links = suite('deceptive masked links');

links('a link whose text is a URL or domain of another host shows the real target', () => {
  const { markdown } = htmlToDiscordMarkdown('<p>Claim <a href="https://evil.example/login">https://discord.com/gift</a> now</p>', { maxLength: 1000 });
  assert.not.ok(markdown.includes('discord.com'), markdown);
  assert.ok(markdown.includes('https://evil.example/login'), markdown);
  for (const text of ['discord.com', 'www.paypal.com/signin', 'HTTPS://DISCORD.COM', 'discord.com.', 'user@discord.com']) {
    const md = htmlToDiscordMarkdown(`<a href="https://evil.example/x">${text}</a>`, { maxLength: 1000 }).markdown;
    assert.not.ok(md.toLowerCase().includes('discord.com') || md.toLowerCase().includes('paypal'), `${text}: ${md}`);
  }
});

links('honest links keep their text', () => {
  for (const [text, href] of [
    ['my post', 'https://evil.example/'],
    ['blog.example', 'https://blog.example/'],
    ['https://www.blog.example/a', 'https://blog.example/b'],
    ['Node.js', 'https://nodejs.org/'],
  ] as const) {
    const md = htmlToDiscordMarkdown(`<a href="${href}">${text}</a>`, { maxLength: 1000 }).markdown;
    assert.ok(md.startsWith('['), `${text}: ${md}`);
  }
  assert.is(claimedHost('my post'), null);
  assert.is(claimedHost('https://Discord.com/gift'), 'discord.com');
  assert.ok(isDeceptiveLink('discord.gg/abc', 'https://evil.example/'));
  assert.not.ok(isDeceptiveLink('www.evil.example', 'https://evil.example/'));
});

links.run();

const fields = suite('titles and names in payloads');

fields('a long title with mentions is cut after neutralising: the announcement, not the fallback', () => {
  for (const title of [
    `@everyone ${'x'.repeat(300)}`,
    `${'@here '.repeat(60)}`,
    `${'a'.repeat(250)} @everyone <@123> ${'b'.repeat(10)}`,
    `${'a'.repeat(255)}@everyone`,
    `${'!@everyone0'.repeat(30)}`,
  ]) {
    for (const author of [`${'@everyone '.repeat(40)}`, `${'!@everyone0!!'.repeat(30)}`, `${'x'.repeat(246)}!@hereafter`]) {
      const payload = renderPostMessage({ ...post('<p>Hi</p>'), title, author }, stats);
      assert.equal(validateMessagePayload(payload), []);
      const embed = payload.embeds?.[0];
      assert.ok(embed, `fell back to a bare message for ${title.slice(0, 30)}`);
      assert.ok(embed.title!.length <= 256 && embed.author!.name.length <= 256);
      assert.not.match(embed.title!, /@(everyone|here)|<@\d/);
      assert.not.match(embed.author!.name, /@(everyone|here)/);
    }
  }
});

fields('bidirectional overrides never reach a title, author, footer or thread name', () => {
  const bidi = '\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069';
  const payload = renderPostMessage({ ...post('<p>Hi</p>'), title: `invoice${bidi}fdp.exe`, author: `Al${bidi}ice`, feedTitle: `Blog${bidi}` }, stats);
  const embed = payload.embeds![0]!;
  for (const text of [
    embed.title!,
    embed.author!.name,
    embed.footer!.text,
    threadName(`a${bidi}b`),
    renderFallback({ title: `x${bidi}y`, url: null }).content!,
  ]) {
    assert.not.match(text, /[\u202a-\u202e\u2066-\u2069]/, JSON.stringify(text));
  }
  assert.is(embed.title, 'invoicefdp.exe');
});

fields('a title of only byte-order marks and bidi isolates is empty: the thread and embed fall back, nothing blank is sent', () => {
  const invisible = '\ufeff\u2066\ufeff\u2066';
  assert.is(threadName(invisible), 'Untitled post');
  const payload = renderPostMessage({ ...post('<div>'), title: invisible, feedTitle: invisible }, stats);
  assert.is(payload.embeds![0]!.title, 'https://blog.example/p');
  assert.not.match(payload.embeds![0]!.footer!.text, /^\s*·/);
});

fields.run();
