// Discord markdown as safe HTML, for the web (the JSON API's `html`, the embed fragment and the widget: one
// renderer). Parsing is discord-markdown-parser's rules (simple-markdown) plus simple-markdown's list rule; this
// file only turns its syntax tree into HTML, escaping every piece of text, and then passes the result through an
// allow-list sanitizer (sanitize-html) as a second line of defence: whatever the tree holds, only the tags,
// attributes, classes and URL schemes listed below can come out.
//
// What it makes of Discord's markup:
//   **bold** *italic* __underline__ ~~strike~~  → <strong> <em> <u> <s>
//   ||spoiler||                                  → <span class="blogcord-spoiler" tabindex="0"> (hidden by CSS until
//                                                  focused or revealed by the widget; the text is in the markup)
//   `code`, ```lang … ```                        → <code>, <pre><code class="language-lang">
//   > quote, >>> quote                           → <blockquote>
//   # / ## / ### heading, -# subtext             → <p class="blogcord-md-h1…3">, <small> (no real headings: a reader's
//                                                  headings would break the page's outline)
//   - item / 1. item                             → <ul>/<ol>
//   [text](https://…)                            → <a> (http/https only; other schemes stay plain text); when the text
//                                                  is itself a URL of another host, the real host follows in brackets
//   plain URLs, <https://…>                      → <a>
//   <:name:id>, <a:name:id>                      → <img alt=":name:"> from Discord's CDN
//   <@id>, <@&id>, <#id>                         → @name / @role name / #channel name from `names`, never an id
//   <t:unix:style>                               → <time datetime="…">readable date</time>
// Every link has rel="nofollow ugc noopener". Input is cut at MAX_MARKDOWN_CHARS; a parser failure (pathological
// input) falls back to the escaped text.
import type * as DiscordMarkdownParser from 'discord-markdown-parser';
import type { ParserRule, SingleASTNode } from 'discord-markdown-parser/dist/simple-markdown/index.js';
import type sanitizeHtmlFn from 'sanitize-html';
import { lazyRequire } from '../lazy-require.ts';

// Both libraries are required at the first message rendered (src/lazy-require.ts): a `web` process holds them (and
// postcss, htmlparser2, the parser's rules) only once it has served a discussion.
const markdownParser = lazyRequire<typeof DiscordMarkdownParser>('discord-markdown-parser');
const sanitizeHtml = lazyRequire<typeof sanitizeHtmlFn>('sanitize-html');

/** Discord allows 4,000 characters (Nitro); anything longer is cut here, so rendering time stays bounded. */
export const MAX_MARKDOWN_CHARS = 4000;
/** Deeper nesting than this is rendered as text (each level is one recursion of the renderer). */
const MAX_DEPTH = 24;

export interface MentionNames {
  /** Display names of users by id (as the mirror stored them); unknown ones become "@someone". */
  users?: ReadonlyMap<string, string>;
  roles?: ReadonlyMap<string, string>;
  channels?: ReadonlyMap<string, string>;
}

type Node = SingleASTNode;

// Discord's lists: consecutive lines starting with "- ", "* " or "1. " (one kind per list; nesting by indentation is
// flattened). simple-markdown's own list rule follows CommonMark's looser rules (a list swallows the lines after it).
const LIST_RE = { ul: /^(?: {0,8}[-*] +[^\n]*(?:\n|$))+/, ol: /^(?: {0,8}\d{1,9}\. +[^\n]*(?:\n|$))+/ };
const listRule = (order: number): ParserRule => ({
  order,
  match: (source, state) => {
    if (state.prevCapture != null && !state.prevCapture[0].endsWith('\n')) return null;
    return LIST_RE.ul.exec(source) ?? LIST_RE.ol.exec(source);
  },
  parse: (capture, parse, state) => {
    const lines = (capture[0] ?? '').replace(/\n$/, '').split('\n');
    const first = /^ *(\d+)\./.exec(lines[0]!);
    const items = lines.map((line) => {
      const inline = state.inline;
      state.inline = true;
      try {
        return parse(line.replace(/^ *(?:[-*]|\d+\.) +/, ''), state);
      } finally {
        state.inline = inline;
      }
    });
    return { ordered: first !== null, start: first ? Number(first[1]) : undefined, items };
  },
});

// A masked link's regex backtracks on input like "[a](" repeated: it only ever looks at a window of the source, which
// bounds the work per position (a masked link longer than the window stays text).
const LINK_WINDOW = 400;
const linkRule = (link: ParserRule): ParserRule => ({
  ...link,
  match: (source, state, prev) => (source.startsWith('[') ? link.match(source.slice(0, LINK_WINDOW), state, prev) : null),
});

let parser: ReturnType<typeof DiscordMarkdownParser.SimpleMarkdown.parserFor> | undefined;
/** The parser, made at the first message rendered. */
function markdownParse(): NonNullable<typeof parser> {
  if (parser) return parser;
  const { rulesExtended, SimpleMarkdown } = markdownParser();
  return (parser = SimpleMarkdown.parserFor({ ...rulesExtended, link: linkRule(rulesExtended.link!), list: listRule(SimpleMarkdown.defaultRules.list.order) }));
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);

const REL = 'nofollow ugc noopener';

/** An absolute http(s) URL, normalised by the URL parser, or null. */
export function httpUrl(raw: unknown): URL | null {
  if (typeof raw !== 'string') return null;
  try {
    const url = new URL(raw.trim());
    return url.protocol === 'http:' || url.protocol === 'https:' ? url : null;
  } catch {
    return null;
  }
}

const TIME_STYLES: Record<string, Intl.DateTimeFormatOptions> = {
  t: { timeStyle: 'short' },
  T: { timeStyle: 'medium' },
  d: { dateStyle: 'short' },
  D: { dateStyle: 'long' },
  f: { dateStyle: 'long', timeStyle: 'short' },
  F: { dateStyle: 'full', timeStyle: 'short' },
  R: { dateStyle: 'long', timeStyle: 'short' },
};

function timestampHtml(seconds: string, style: string | undefined): string {
  const date = new Date(Number(seconds) * 1000);
  if (!/^-?\d{1,13}$/.test(seconds) || Number.isNaN(date.getTime())) return 'a date';
  const s = style && TIME_STYLES[style] ? style : 'f';
  const text = new Intl.DateTimeFormat('en', { ...TIME_STYLES[s], timeZone: 'UTC' }).format(date) + (s === 'd' || s === 'D' ? '' : ' UTC');
  return `<time class="blogcord-md-time" datetime="${date.toISOString()}" data-style="${s}">${escapeHtml(text)}</time>`;
}

function linkHtml(href: URL, inner: string): string {
  return `<a href="${escapeHtml(href.href)}" rel="${REL}">${inner}</a>`;
}

/** The plain text of a subtree (a masked link's text, to compare with its target). */
function textOf(node: Node | Node[] | string | undefined): string {
  if (node === undefined) return '';
  if (typeof node === 'string') return node;
  if (Array.isArray(node)) return node.map(textOf).join('');
  return typeof node.content === 'string' ? node.content : textOf(node.content as Node[] | undefined);
}

const BLOCKS = new Set(['codeBlock', 'blockQuote', 'list', 'heading', 'subtext']);

interface RenderState {
  names: MentionNames;
  /** Inside a link: URLs in its text stay text (no link in a link). */
  inLink: boolean;
}

function render(nodes: Node[] | Node | string | undefined, st: RenderState, depth: number): string {
  if (nodes === undefined) return '';
  if (typeof nodes === 'string') return escapeHtml(nodes);
  if (!Array.isArray(nodes)) return renderNode(nodes, st, depth);
  let out = '';
  let prev: string | undefined;
  for (const n of nodes) {
    // A block (code, quote, list, heading) ends its line itself: the line break after it would be a blank line.
    if (!((n.type === 'br' || n.type === 'newline') && prev !== undefined && BLOCKS.has(prev))) out += renderNode(n, st, depth);
    prev = n.type;
  }
  return out;
}

function renderNode(node: Node, st: RenderState, depth: number): string {
  const names = st.names;
  if (depth > MAX_DEPTH) return escapeHtml(textOf(node));
  const inner = () => render(node.content as Node[] | string | undefined, st, depth + 1);
  switch (node.type) {
    case 'text':
    case 'escape':
    case 'emoticon':
      return escapeHtml(String(node.content ?? ''));
    case 'twemoji':
      return escapeHtml(String(node.name ?? ''));
    case 'strong':
      return `<strong>${inner()}</strong>`;
    case 'em':
      return `<em>${inner()}</em>`;
    case 'underline':
      return `<u>${inner()}</u>`;
    case 'strikethrough':
      return `<s>${inner()}</s>`;
    case 'spoiler':
      return `<span class="blogcord-spoiler" tabindex="0">${inner()}</span>`;
    case 'inlineCode':
      return `<code>${escapeHtml(String(node.content ?? ''))}</code>`;
    case 'codeBlock': {
      const lang = typeof node.lang === 'string' && /^[a-z0-9_+#.-]{1,32}$/i.test(node.lang) ? node.lang.toLowerCase().replace(/[^a-z0-9_-]/g, '-') : null;
      return `<pre><code${lang ? ` class="language-${lang}"` : ''}>${escapeHtml(String(node.content ?? ''))}</code></pre>`;
    }
    case 'blockQuote':
      return `<blockquote>${inner()}</blockquote>`;
    case 'heading':
      return `<p class="blogcord-md-h${Math.min(3, Math.max(1, Number(node.level) || 1))}">${inner()}</p>`;
    case 'subtext':
      return `<small>${inner()}</small><br>`; // <small> is inline: it brings its line break
    case 'list': {
      const tag = node.ordered ? 'ol' : 'ul';
      const start = node.ordered && Number.isSafeInteger(node.start) && node.start !== 1 ? ` start="${Number(node.start)}"` : '';
      const items = (node.items as Node[][]).map((item) => `<li>${render(item, st, depth + 1)}</li>`).join('');
      return `<${tag}${start}>${items}</${tag}>`;
    }
    case 'br':
    case 'newline':
      return '<br>';
    case 'url':
    case 'autolink': {
      const href = st.inLink ? null : httpUrl(node.target);
      return href ? linkHtml(href, escapeHtml(textOf(node.content as Node[]))) : escapeHtml(textOf(node.content as Node[]));
    }
    case 'link': {
      const href = st.inLink ? null : httpUrl(node.target);
      if (!href) return inner(); // javascript:, data:, relative…, or a link in a link: the text without a link
      // The text of a masked link may be a URL of another site: show where the link really goes.
      const shown = httpUrl(textOf(node.content as Node[]));
      const host = shown && shown.host !== href.host ? ` <span class="blogcord-md-host">(${escapeHtml(href.host)})</span>` : '';
      const text = render(node.content as Node[], { ...st, inLink: true }, depth + 1);
      return linkHtml(href, text) + host;
    }
    case 'user': {
      const name = names.users?.get(String(node.id));
      return `<span class="blogcord-mention">@${escapeHtml(name ?? 'someone')}</span>`;
    }
    case 'role': {
      const name = names.roles?.get(String(node.id));
      return `<span class="blogcord-mention">@${escapeHtml(name ?? 'role')}</span>`;
    }
    case 'channel': {
      const name = names.channels?.get(String(node.id));
      return `<span class="blogcord-mention">#${escapeHtml(name ?? 'channel')}</span>`;
    }
    case 'everyone':
      return '@everyone';
    case 'here':
      return '@here';
    case 'slashCommand':
      return `<span class="blogcord-mention">/${escapeHtml(String(node.fullName ?? node.name ?? 'command'))}</span>`;
    case 'guildNavigation':
      return `<span class="blogcord-mention">#${escapeHtml(String(node.navigation ?? 'server'))}</span>`;
    case 'emoji': {
      const id = String(node.id ?? '');
      const name = String(node.name ?? '');
      if (!/^\d{1,21}$/.test(id) || !/^\w{1,32}$/.test(name)) return escapeHtml(`:${name}:`);
      const src = `https://cdn.discordapp.com/emojis/${id}.${node.animated ? 'gif' : 'png'}?size=48`;
      return `<img class="blogcord-emoji" src="${src}" alt=":${name}:" title=":${name}:" width="20" height="20" loading="lazy">`;
    }
    case 'timestamp':
      return timestampHtml(String(node.timestamp ?? ''), node.format as string | undefined);
    default:
      // A node type this renderer does not know: its text, escaped.
      return escapeHtml(textOf(node));
  }
}

const SANITIZE: sanitizeHtmlFn.IOptions = {
  allowedTags: ['strong', 'em', 'u', 's', 'span', 'code', 'pre', 'blockquote', 'p', 'small', 'ul', 'ol', 'li', 'br', 'a', 'img', 'time'],
  allowedAttributes: {
    a: ['href', 'rel'],
    img: ['src', 'alt', 'title', 'class', 'width', 'height', 'loading'],
    span: ['class', 'tabindex'],
    code: ['class'],
    p: ['class'],
    ol: ['start'],
    time: ['datetime', 'class', 'data-style'],
  },
  allowedClasses: {
    span: ['blogcord-spoiler', 'blogcord-mention', 'blogcord-md-host'],
    code: [/^language-[a-z0-9_-]+$/] as unknown as string[],
    p: ['blogcord-md-h1', 'blogcord-md-h2', 'blogcord-md-h3'],
    img: ['blogcord-emoji'],
    time: ['blogcord-md-time'],
  },
  allowedSchemes: ['http', 'https'],
  allowedSchemesByTag: { img: ['https'] },
  allowProtocolRelative: false,
  // Emoji come from Discord's CDN only.
  exclusiveFilter: (frame) => frame.tag === 'img' && !/^https:\/\/cdn\.discordapp\.com\/emojis\//.test(frame.attribs.src ?? ''),
  transformTags: { a: (tagName, attribs) => ({ tagName, attribs: { ...attribs, rel: REL } }) },
  disallowedTagsMode: 'escape',
};

/** Sanitizes HTML with the renderer's allow-list (exported for tests and for HTML built around rendered pieces). */
export function sanitizeCommentHtml(html: string): string {
  return sanitizeHtml()(html, SANITIZE);
}

/** Escaped text with line breaks, the fallback when the parser gives up. */
const plainHtml = (text: string): string => escapeHtml(text).replace(/\r?\n/g, '<br>');

/** A Discord message's content as safe HTML (see the top of this file). Never throws. */
export function renderDiscordMarkdown(content: string, names: MentionNames = {}): string {
  const text = String(content ?? '')
    // Control characters other than tab and newline, and bidirectional overrides, are never shown.
    .replace(/[\u0000-\u0008\u000B-\u001F\u007F\u202A-\u202E\u2066-\u2069]/g, '');
  const cut = text.length > MAX_MARKDOWN_CHARS ? `${text.slice(0, MAX_MARKDOWN_CHARS)}…` : text;
  const parse = markdownParse();
  let html: string;
  try {
    html = render(parse(cut, { inline: true }), { names, inLink: false }, 0);
  } catch {
    html = plainHtml(cut);
  }
  return sanitizeCommentHtml(html);
}
