import { NodeHtmlMarkdown } from 'node-html-markdown';
import { NodeType, type HTMLElement, type Node } from 'node-html-parser';
import { stripBidi } from './bidi.ts';
import { elementsOf, firstImageIn, htmlShape, htmlToText, httpUrl, linearParse, normaliseHtml, repairedParse, textOf } from '../feeds/html.ts';

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
const DROPPED = new Set([
  'script',
  'style',
  'noscript',
  'iframe',
  'object',
  'embed',
  'video',
  'audio',
  'picture',
  'img',
  'svg',
  'canvas',
  'map',
  'form',
  'button',
  'input',
  'select',
  'textarea',
  'template',
  'head',
  'link',
  'meta',
]);

/**
 * The render budget: what one item's HTML may cost. Only the first `sourceChars` of the HTML are read (a
 * 1,500-character description needs only the start of a post); a tree deeper than `maxDepth` is rendered as
 * plain text (no links or formatting) instead of markdown; of a wider tree only the first `maxElements` elements
 * and about `textPerOutput` times the wanted length of text are converted (the rest is cut, with Read more);
 * at most `maxOutput` characters of markdown are considered for the cut. Within it, the worst case renders in well
 * under 50 ms (`npm run bench`, figure "render").
 */
export const RENDER_BUDGET = { sourceChars: 20_000, maxDepth: 64, maxElements: 400, textPerOutput: 1.5, maxOutput: 12_000 } as const;

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

/**
 * Make `@everyone`, `@here` and `<@…>`/`<#…>`/`<@&…>`/`</cmd:id>`/`<t:…>` not look like Discord pings or tags. `@everyone` is
 * neutralised whatever follows it (`@everyone0`, `@heresy`): Discord pings on the word's start, and cutting a text to a limit
 * can end it right after the word. Not after a word character, `/` or `.`, so addresses and URLs keep working.
 */
export function neutraliseMentions(text: string): string {
  return text.replace(/(^|[^\w/.])@(?=everyone|here)/gi, `$1@${ZWSP}`).replace(/<(?=[@#]|\/[\w-]|a?:\w+:\d|t:\d)/g, `<${ZWSP}`);
}

// In a module of its own, so that what needs only it (the web's post views) does not load the HTML parser with it.
export { stripBidi } from './bidi.ts';

/** Escape text for Discord markdown (plain strings such as titles and author names). */
export function escapeMarkdown(text: string): string {
  return neutraliseMentions(text.replace(/[\\`*_~[\]|]/g, '\\$&').replace(/^(\s*)([>#+-]|\d+\.\s)/gm, '$1\\$2'));
}

/** A URL safe inside markdown link parentheses. */
export function markdownUrl(url: string): string {
  return url.replace(/[()\s<>]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

const tagOf = (el: HTMLElement): string => el.rawTagName?.toLowerCase() ?? '';

/** Endings of file and product names that are not read as a domain when written bare ("Node.js", "README.md"). */
const NOT_A_TLD = new Set([
  'js',
  'mjs',
  'ts',
  'jsx',
  'tsx',
  'py',
  'rb',
  'rs',
  'md',
  'sh',
  'css',
  'scss',
  'htm',
  'html',
  'php',
  'c',
  'h',
  'cpp',
  'hpp',
  'java',
  'kt',
  'lua',
  'pl',
  'json',
  'yml',
  'yaml',
  'toml',
  'txt',
  'ini',
  'cfg',
  'lock',
  'log',
  'csv',
  'png',
  'jpg',
  'jpeg',
  'gif',
  'svg',
  'webp',
]);

/** A host as a person reads it: lower case, without "www.". */
const readableHost = (host: string): string =>
  host
    .toLowerCase()
    .replace(/^www\./, '')
    .replace(/\.$/, '');

/**
 * The host a link's text claims to go to, when the text is itself a URL or looks like a domain
 * ("https://discord.com/gift", "discord.com", "www.paypal.com/login"); null for ordinary text.
 */
export function claimedHost(text: string): string | null {
  const t = text.trim();
  if (t.length > 2048 || /\s/.test(t)) return null;
  const m =
    /^(?:[a-z][a-z0-9+.-]*:\/\/)?(?:[^\s/@]*@)?((?:[\p{L}\p{N}-]+\.)+[\p{L}]{2,}|\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-f:.]+\])\.?(?::\d+)?(?:[/?#]\S*)?$/iu.exec(t);
  if (!m) return null;
  // "Node.js" or "index.html" in a link's text name a thing, not a host (only a bare name can be either).
  const bare = !/^[a-z][a-z0-9+.-]*:\/\//i.test(t) && !/^www\./i.test(t) && !/[/@:]/.test(t);
  if (bare && NOT_A_TLD.has(m[1]!.split('.').pop()!.toLowerCase())) return null;
  try {
    return readableHost(new URL(`http://${m[1]}`).hostname);
  } catch {
    return null;
  }
}

/** Whether a link's text names another host than the link goes to (a deceptive masked link). */
export function isDeceptiveLink(text: string, href: string): boolean {
  const claimed = claimedHost(text);
  if (!claimed) return false;
  try {
    return claimed !== readableHost(new URL(href).hostname);
  } catch {
    return true;
  }
}

/** Moves an element's children into its place (linear: no serialising and re-parsing of the subtree). */
function unwrap(el: HTMLElement): void {
  el.replaceWith(...el.childNodes);
}

/**
 * Where in the (normalised) source the part worth converting ends: after at most `maxElements` elements (those
 * never shown not counted) and about `maxText` characters of text, in document order; null when all of it is.
 * Linear, without recursion.
 */
function startEnd(root: HTMLElement, maxElements: number, maxText: number): number | null {
  let elements = 0;
  let text = 0;
  const stack: Node[] = [...root.childNodes].reverse();
  while (stack.length) {
    const node = stack.pop()!;
    if (node.nodeType === NodeType.ELEMENT_NODE) {
      const el = node as HTMLElement;
      if (DROPPED.has(tagOf(el))) continue;
      if (++elements > maxElements) return el.range[0];
      for (let i = el.childNodes.length - 1; i >= 0; i--) stack.push(el.childNodes[i]!);
    } else if ((text += node.rawText.length) > maxText) {
      return node.range[1];
    }
  }
  return null;
}

function prepareHtml(root: HTMLElement, baseUrl: string | null): string {
  for (const el of elementsOf(root)) {
    const tag = tagOf(el);
    if (/^h[1-6]$/.test(tag)) {
      // Headings → bold lines (Discord headings are huge and eat an embed).
      const text = textOf(el).replace(/\s+/g, ' ').trim();
      el.replaceWith(text ? `<p><strong>${escapeHtml(text)}</strong></p>` : '');
    } else if (tag === 'table') {
      // Tables do not exist in Discord: one line per row, cells joined with " · ".
      const rows = elementsOf(el)
        .filter((tr) => tagOf(tr) === 'tr')
        .map((tr) =>
          elementsOf(tr)
            .filter((c) => tagOf(c) === 'th' || tagOf(c) === 'td')
            .map((c) => textOf(c).replace(/\s+/g, ' ').trim())
            .filter(Boolean)
            .join(' · '),
        );
      el.replaceWith(
        rows
          .filter(Boolean)
          .map((r) => `<p>${escapeHtml(r)}</p>`)
          .join(''),
      );
    }
  }
  // Links: absolute http(s) only (others keep their text), URL made safe for (…); a link whose text names
  // another host than it goes to shows where it really goes.
  for (const a of elementsOf(root)) {
    if (tagOf(a) !== 'a') continue;
    const href = httpUrl(a.getAttribute('href'), baseUrl);
    const text = href ? textOf(a) : '';
    if (!href || !text.trim()) {
      unwrap(a);
      continue;
    }
    if (isDeceptiveLink(text, href)) a.set_content(escapeHtml(href));
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
  const re = /\[(?:\\.|[^\]\\\n]){0,2048}\]\([^)\s]{0,4096}\)|<https?:\/\/[^>\s]{1,4096}>|`[^`\n]{1,2048}`/g;
  for (let m = re.exec(md); m; m = re.exec(md)) spans.push([m.index, m.index + m[0].length]);
  return spans;
}

/** Markdown delimiters left open in a prefix, as the closing string to append (innermost first). */
function closers(md: string): string {
  const stack: string[] = [];
  const s = md
    .replace(/\\./g, '')
    .replace(/\]\([^)]*\)/g, ']')
    .replace(/<https?:\/\/[^>\s]+>/g, '');
  for (let i = 0; i < s.length;) {
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
    const token = s.startsWith('**', i)
      ? '**'
      : s.startsWith('~~', i)
        ? '~~'
        : s.startsWith('||', i)
          ? '||'
          : s.startsWith('__', i)
            ? '__'
            : s[i] === '_' || s[i] === '*'
              ? s[i]!
              : null;
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
  // Work on a bounded slice (RENDER_BUDGET): 103 kB posts need only their start for a 1500-character description.
  let source = html.length > RENDER_BUDGET.sourceChars ? html.slice(0, RENDER_BUDGET.sourceChars) : html;
  // A slice may end inside a tag: drop the partial tag rather than show it as text.
  if (source.length < html.length && source.lastIndexOf('<') > source.lastIndexOf('>')) source = source.slice(0, source.lastIndexOf('<'));
  let imageUrl: string | null = null;
  let markdown: string;
  let pruned = false;
  try {
    // One linear parse to measure; the parser's repair of unclosed elements and the conversion run only on a
    // shallow tree, and only on the start that the description can show.
    const normalised = normaliseHtml(source);
    const raw = linearParse(normalised);
    imageUrl = firstImageIn(raw, baseUrl);
    if (htmlShape(raw).depth > RENDER_BUDGET.maxDepth) {
      markdown = plainMarkdown(textOf(raw, DROPPED));
    } else {
      const end = startEnd(raw, RENDER_BUDGET.maxElements, Math.ceil(options.maxLength * RENDER_BUDGET.textPerOutput) + 200);
      pruned = end !== null;
      const root = repairedParse(end === null ? normalised : normalised.slice(0, end));
      for (const el of elementsOf(root)) if (DROPPED.has(tagOf(el))) el.remove();
      markdown = tidy(neutraliseMentions(nhm.translate(prepareHtml(root, baseUrl))));
    }
  } catch {
    // Whatever went wrong is this item's problem only: its text without markup.
    markdown = plainMarkdown(source.replace(/<[^<>]*>/g, ' '));
  }
  markdown = stripBidi(markdown);
  const maxOutput = Math.max(RENDER_BUDGET.maxOutput, options.maxLength * 2);
  const long = markdown.length > maxOutput;
  if (long) markdown = markdown.slice(0, maxOutput);
  const cut = truncateMarkdown(markdown, options.maxLength, options.readMoreUrl, long || pruned || source.length < html.length);
  return { markdown: cut.markdown, imageUrl, truncated: cut.truncated };
}

/** The plain fallback: text lines escaped for Discord (no links, no formatting), mentions neutralised. */
function plainMarkdown(text: string): string {
  const lines = text
    .slice(0, RENDER_BUDGET.sourceChars)
    .split('\n')
    .map((line) => line.replace(/[\s\u00a0]+/g, ' ').trim())
    .filter(Boolean);
  return tidy(escapeMarkdown(lines.join('\n\n')));
}

/** Visible text of HTML, whitespace collapsed (no markdown). */
export function plainText(html: string | null | undefined): string {
  return htmlToText(html);
}
