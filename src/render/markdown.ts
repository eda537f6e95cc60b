import { NodeHtmlMarkdown } from 'node-html-markdown';
import { firstImage, htmlToText, httpUrl, parseHtml } from '../feeds/html.ts';

export interface DiscordMarkdownOptions {
  /** Hard cap on the returned markdown, "…" and the Read more line included. */
  maxLength: number;
  /** When the text had to be cut, a final "[Read more](url)" line links here. */
  readMoreUrl?: string | null;
  /** Base for relative links and images (feeds already make them absolute). */
  baseUrl?: string | null;
}

export interface DiscordMarkdown {
  markdown: string;
  /** The first real image of the HTML (absolute), for the embed image; images never appear in the markdown. */
  imageUrl: string | null;
  truncated: boolean;
}

const ZWSP = '\u200b';

/** Elements whose content never reaches Discord. */
const DROPPED = 'script, style, noscript, iframe, object, embed, video, audio, picture, img, svg, canvas, map, form, button, input, select, textarea, template, head, link, meta';

const nhm = new NodeHtmlMarkdown({
  bulletMarker: '-',
  emDelimiter: '_',
  strongDelimiter: '**',
  strikeDelimiter: '~~',
  codeBlockStyle: 'fenced',
  maxConsecutiveNewlines: 2,
  useInlineLinks: true,
  // Discord markdown: \ ` * _ ~ [ ] and | (spoilers) anywhere; > # - + and "1. " at a line start.
  globalEscape: [/[\\`*_~[\]|]/g, '\\$&'],
  lineStartEscape: [/^(\s*?)((?:\+\s)|(?:[=>-])|(?:#{1,6}\s))|(?:(\d+)(\.\s))/gm, '$1$3\\$2$4'],
});

/** Make `@everyone`, `@here` and `<@…>`/`<#…>`/`<@&…>`/`</cmd:id>`/`<t:…>` not look like Discord pings or tags. */
export function neutraliseMentions(text: string): string {
  return text
    .replace(/(^|[^\w/.])@(everyone|here)\b/gi, `$1@${ZWSP}$2`)
    .replace(/<(?=[@#]|\/[\w-]|a?:\w+:\d|t:\d)/g, `<${ZWSP}`);
}

/** Escape text for Discord markdown (plain strings such as titles and author names). */
export function escapeMarkdown(text: string): string {
  return neutraliseMentions(
    text.replace(/[\\`*_~[\]|]/g, '\\$&').replace(/^(\s*)([>#+-]|\d+\.\s)/gm, '$1\\$2'),
  );
}

/** A URL safe inside markdown link parentheses. */
export function markdownUrl(url: string): string {
  return url.replace(/[()\s<>]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

function prepareHtml(html: string, baseUrl: string | null): string {
  const root = parseHtml(html);
  for (const el of root.querySelectorAll(DROPPED)) el.remove();
  // Headings → bold lines (Discord headings are huge and eat an embed).
  for (const el of root.querySelectorAll('h1, h2, h3, h4, h5, h6')) {
    const text = el.text.replace(/\s+/g, ' ').trim();
    el.replaceWith(text ? `<p><strong>${escapeHtml(text)}</strong></p>` : '');
  }
  // Tables do not exist in Discord: one line per row, cells joined with " · ".
  for (const table of root.querySelectorAll('table')) {
    const rows = table.querySelectorAll('tr').map((tr) =>
      tr.querySelectorAll('th, td').map((c) => c.text.replace(/\s+/g, ' ').trim()).filter(Boolean).join(' · '),
    );
    table.replaceWith(rows.filter(Boolean).map((r) => `<p>${escapeHtml(r)}</p>`).join(''));
  }
  // Links: absolute http(s) only (others keep their text), URL made safe for (…).
  for (const a of root.querySelectorAll('a')) {
    const href = httpUrl(a.getAttribute('href'), baseUrl);
    if (!href || !a.text.trim()) {
      a.replaceWith(a.innerHTML);
      continue;
    }
    a.setAttribute('href', markdownUrl(href));
    for (const attr of Object.keys(a.attributes)) if (attr !== 'href') a.removeAttribute(attr);
  }
  return root.toString();
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function tidy(markdown: string): string {
  return markdown
    .replace(/\r\n?/g, '\n')
    .replace(/[ \t\u00a0]+$/gm, '')
    .replace(/^[ \t]+(?=\S)(?![-\d])/gm, '')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

/** Spans a cut must not fall into: masked links, <autolinks>, inline code. */
function protectedSpans(md: string): Array<[number, number]> {
  const spans: Array<[number, number]> = [];
  const re = /\[(?:\\.|[^\]\\\n])*\]\([^)\s]*\)|<https?:\/\/[^>\s]+>|`[^`\n]+`/g;
  for (let m = re.exec(md); m; m = re.exec(md)) spans.push([m.index, m.index + m[0].length]);
  return spans;
}

/** Markdown delimiters left open in a prefix, as the closing string to append (innermost first). */
function closers(md: string): string {
  const stack: string[] = [];
  const s = md.replace(/\\./g, '').replace(/\]\([^)]*\)/g, ']').replace(/<https?:\/\/[^>\s]+>/g, '');
  for (let i = 0; i < s.length; ) {
    const top = stack[stack.length - 1];
    if (s.startsWith('```', i)) {
      if (top === '```') stack.pop();
      else stack.push('```');
      i += 3;
      continue;
    }
    if (top === '```') {
      i++;
      continue;
    }
    if (s[i] === '`') {
      if (top === '`') stack.pop();
      else stack.push('`');
      i++;
      continue;
    }
    if (top === '`') {
      i++;
      continue;
    }
    const token = s.startsWith('**', i) ? '**' : s.startsWith('~~', i) ? '~~' : s.startsWith('||', i) ? '||' : s.startsWith('__', i) ? '__' : s[i] === '_' || s[i] === '*' ? s[i]! : null;
    if (token) {
      const at = stack.lastIndexOf(token);
      if (at >= 0) stack.splice(at);
      else stack.push(token);
      i += token.length;
      continue;
    }
    i++;
  }
  return stack
    .reverse()
    .map((t) => (t === '```' ? '\n```' : t))
    .join('');
}

/** Cut markdown at a word boundary (never inside a link or code span) so that the result, "…", closers and the Read more line fit maxLength. */
export function truncateMarkdown(
  md: string,
  maxLength: number,
  readMoreUrl?: string | null,
  /** Mark as cut even when it fits (the source itself was cut before conversion). */
  force = false,
): { markdown: string; truncated: boolean } {
  if (md.length <= maxLength && !force) return { markdown: md, truncated: false };
  let suffix = readMoreUrl ? `\n\n[Read more](${markdownUrl(readMoreUrl)})` : '';
  if (suffix.length > maxLength / 2) suffix = '';
  const spans = protectedSpans(md);
  let budget = maxLength - suffix.length - 1;
  for (let attempt = 0; attempt < 8 && budget > 0; attempt++) {
    let cut = Math.min(budget, md.length);
    // Move out of protected spans.
    for (const [start, end] of spans) if (cut > start && cut < end) cut = start;
    // Back up to whitespace (unless that throws away more than half).
    if (cut < md.length) {
      let ws = cut;
      while (ws > 0 && !/\s/.test(md[ws]!)) ws--;
      if (ws > cut / 2) cut = ws;
    }
    for (const [start, end] of spans) if (cut > start && cut < end) cut = start;
    let head = md.slice(0, cut).replace(/[\s,;:–—-]+$/, '');
    // A dangling list marker or lone escape at the end reads badly.
    head = head.replace(/\n[-*]$/, '').replace(/\\$/, '');
    const close = closers(head);
    const result = `${head}…${close}${suffix}`;
    if (result.length <= maxLength) return { markdown: result, truncated: true };
    budget -= result.length - maxLength;
  }
  // Degenerate input (e.g. one giant link): plain text cut.
  const plain = md.replace(/[\\`*_~[\]|()<>]/g, ' ').replace(/\s+/g, ' ');
  return { markdown: `${plain.slice(0, Math.max(0, maxLength - suffix.length - 1))}…${suffix}`.slice(0, maxLength), truncated: true };
}

/**
 * Blog HTML → Discord markdown: links kept as [text](absolute url), markdown characters escaped, mentions
 * neutralised, images/scripts/styles/iframes dropped (first image returned separately), headings as bold lines,
 * lists kept, whitespace collapsed; cut at a word boundary with "…" and a final "[Read more](url)" line.
 */
export function htmlToDiscordMarkdown(html: string | null | undefined, options: DiscordMarkdownOptions): DiscordMarkdown {
  const baseUrl = options.baseUrl ?? null;
  if (!html || !html.trim()) return { markdown: '', imageUrl: null, truncated: false };
  const imageUrl = firstImage(html, baseUrl);
  // Work on a bounded slice: 103 kB posts need only their start for a 1500-character description.
  const source = html.length > 60_000 ? html.slice(0, 60_000) : html;
  const markdown = tidy(neutraliseMentions(nhm.translate(prepareHtml(source, baseUrl))));
  const cut = truncateMarkdown(markdown, options.maxLength, options.readMoreUrl, source.length < html.length);
  return { markdown: cut.markdown, imageUrl, truncated: cut.truncated };
}

/** Visible text of HTML, whitespace collapsed (no markdown). */
export function plainText(html: string | null | undefined): string {
  return htmlToText(html);
}
