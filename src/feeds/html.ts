import { parse, NodeType, type HTMLElement, type Node } from 'node-html-parser';

/** Elements whose text is never content. */
const DROP = new Set(['script', 'style', 'noscript', 'iframe', 'object', 'embed', 'template', 'svg', 'head', 'form', 'button', 'select', 'textarea']);

/** Elements whose content node-html-parser keeps as raw text (not parsed as HTML). */
const RAW_TEXT = 'script|style|noscript';
const RAW_START = new RegExp(`<(${RAW_TEXT})(?=[\\s/>])`, 'gi');
// `[^<>]*` stops at the next tag: linear however many unterminated end tags there are.
const RAW_END = new RegExp(`</(${RAW_TEXT})(?=[\\s/>])[^<>]*>`, 'gi');

/**
 * Comments removed in one linear pass (an unterminated `<!--` runs to the end, as in a browser). The parser's own
 * comment pattern rescans to the end for every unterminated `<!--`, which is quadratic.
 */
function stripComments(html: string): string {
  let at = html.indexOf('<!--');
  if (at < 0) return html;
  let out = '';
  let from = 0;
  while (at >= 0) {
    out += html.slice(from, at);
    const end = html.indexOf('-->', at + 4);
    if (end < 0) return out;
    from = end + 3;
    at = html.indexOf('<!--', from);
  }
  return out + html.slice(from);
}

/**
 * The HTML as node-html-parser reads it safely: comments removed, and the end tags of raw-text elements
 * (script, style, noscript) written `</script>` exactly. The parser looks for that exact string, so
 * `</script\n>`, `</style >` or `</SCRIPT>` after `<script>` made everything after them disappear.
 */
export function normaliseHtml(html: string): string {
  return stripComments(html)
    .replace(RAW_START, (_m, name: string) => `<${name.toLowerCase()}`)
    .replace(RAW_END, (_m, name: string) => `</${name.toLowerCase()}>`);
}

// <pre> is parsed as HTML (its <code> and highlighting spans are elements): kept as raw text, its content reached
// node-html-markdown unparsed, which re-parsed it with the (super-linear) repair of unclosed elements.
const PARSE_OPTIONS = { comment: false, blockTextElements: { script: true, style: true, noscript: true } };

/**
 * Parses HTML in linear time for reading text, images and links: elements left open stay open (nested), as the
 * parser's repair of unclosed elements costs far more than linear time (4,000 unclosed `<div>` took 15 s).
 * The tree may be as deep as the input nests: walk it with `elementsOf`/`textOf`, never recursively.
 */
export function parseHtml(html: string): HTMLElement {
  return linearParse(normaliseHtml(html));
}

/** Deeper than this, a parsed tree is neither repaired nor serialised (node-html-parser's toString recurses per level). */
export const SERIALISE_MAX_DEPTH = 200;

/**
 * Parses HTML to be changed and serialised again: elements left open are repaired as the parser does, when the
 * tree is at most SERIALISE_MAX_DEPTH deep (the repair is cheap then). A deeper tree comes back unrepaired, with
 * `deep` set: do not serialise it.
 */
export function parseHtmlTree(html: string, maxDepth = SERIALISE_MAX_DEPTH): { root: HTMLElement; deep: boolean } {
  const normalised = normaliseHtml(html);
  const raw = parse(normalised, { ...PARSE_OPTIONS, parseNoneClosedTags: true });
  if (htmlShape(raw).depth > maxDepth) return { root: raw, deep: true };
  return { root: repairedParse(normalised), deep: false };
}

/** node-html-parser's full parse (unclosed elements repaired) of HTML already normalised: only for shallow input. */
export function repairedParse(normalised: string): HTMLElement {
  return parse(normalised, PARSE_OPTIONS);
}

/** The linear parse of HTML already normalised (see parseHtml). */
export function linearParse(normalised: string): HTMLElement {
  return parse(normalised, { ...PARSE_OPTIONS, parseNoneClosedTags: true });
}

const isElement = (node: Node): node is HTMLElement => node.nodeType === NodeType.ELEMENT_NODE;

/** Every element under `root` in document order, without recursion (a tree 10,000 levels deep is fine). */
export function elementsOf(root: HTMLElement, skip?: (el: HTMLElement) => boolean): HTMLElement[] {
  const out: HTMLElement[] = [];
  const stack: Node[] = [...root.childNodes].reverse();
  while (stack.length) {
    const node = stack.pop()!;
    if (!isElement(node) || skip?.(node)) continue;
    out.push(node);
    for (let i = node.childNodes.length - 1; i >= 0; i--) stack.push(node.childNodes[i]!);
  }
  return out;
}

/** How deep the element tree goes and how many elements it has, measured without recursion. */
export function htmlShape(root: HTMLElement): { depth: number; elements: number } {
  let depth = 0;
  let elements = 0;
  const stack: Array<[Node, number]> = root.childNodes.map((n) => [n, 1]);
  while (stack.length) {
    const [node, d] = stack.pop()!;
    if (!isElement(node)) continue;
    elements++;
    if (d > depth) depth = d;
    for (const child of node.childNodes) stack.push([child, d + 1]);
  }
  return { depth, elements };
}

const BLOCK = new Set([
  'address',
  'article',
  'aside',
  'blockquote',
  'br',
  'dd',
  'details',
  'dialog',
  'div',
  'dl',
  'dt',
  'fieldset',
  'figcaption',
  'figure',
  'footer',
  'h1',
  'h2',
  'h3',
  'h4',
  'h5',
  'h6',
  'header',
  'hgroup',
  'hr',
  'li',
  'main',
  'nav',
  'ol',
  'p',
  'pre',
  'section',
  'table',
  'td',
  'th',
  'tr',
  'ul',
]);

/**
 * The visible text of a parsed fragment without recursion: text nodes decoded, a line break at each block
 * element, `drop` elements skipped. Lines are not yet collapsed.
 */
export function textOf(root: HTMLElement, drop: ReadonlySet<string> = DROP): string {
  const parts: string[] = [];
  const stack: Array<Node | '\n'> = [...root.childNodes].reverse();
  while (stack.length) {
    const node = stack.pop()!;
    if (node === '\n') {
      parts.push('\n');
      continue;
    }
    if (node.nodeType === NodeType.TEXT_NODE) {
      parts.push(node.text);
      continue;
    }
    if (!isElement(node)) continue;
    const tag = node.rawTagName?.toLowerCase() ?? '';
    if (drop.has(tag)) continue;
    const block = BLOCK.has(tag);
    if (block) {
      parts.push('\n');
      stack.push('\n');
    }
    for (let i = node.childNodes.length - 1; i >= 0; i--) stack.push(node.childNodes[i]!);
  }
  return parts.join('');
}

/** Collapse runs of whitespace (including NBSP) to one space and trim. */
export function collapseWhitespace(text: string): string {
  return text.replace(/[\s\u00a0\u200b]+/g, ' ').trim();
}

/** Visible text of an HTML fragment, entities decoded, whitespace collapsed to single spaces. Never throws. */
export function htmlToText(html: string | null | undefined): string {
  if (!html) return '';
  if (!/[<&]/.test(html)) return collapseWhitespace(html);
  return collapseWhitespace(textOf(parseHtml(html)));
}

/** A title as plain text: HTML stripped, entities decoded, whitespace collapsed. */
export function cleanTitle(raw: string | null | undefined): string {
  if (!raw) return '';
  if (/<[a-z!/]|&(#\d+|#x[0-9a-f]+|[a-z][a-z0-9]*);/i.test(raw)) return htmlToText(raw);
  return collapseWhitespace(raw);
}

/** Resolve `ref` against `base`; null when it cannot be made an absolute URL. */
export function resolveUrl(ref: string | null | undefined, base: string | null | undefined): string | null {
  const value = ref?.trim();
  if (!value) return null;
  try {
    return new URL(value, base ?? undefined).href;
  } catch {
    return null;
  }
}

/** An absolute http(s) URL, or null. */
export function httpUrl(ref: string | null | undefined, base?: string | null): string | null {
  const url = resolveUrl(ref, base);
  return url && /^https?:\/\//i.test(url) ? url : null;
}

const URL_ATTR = /(\s(href|src|poster)\s*=\s*)(?:"([^"<>]{0,4096})"|'([^'<>]{0,4096})'|([^\s"'<>]{1,4096}))/gi;

function absoluteValue(value: string, base: string): string | null {
  if (/^(#|[a-z][a-z0-9+.-]*:)/i.test(value.trim())) return null;
  const resolved = resolveUrl(value, base);
  return resolved && resolved !== value ? resolved : null;
}

/** Rewrite href/src/poster attributes of an HTML fragment to absolute URLs. Returns the input when nothing is relative. */
export function absolutizeHtml(html: string, base: string | null): string {
  if (!base || !/\s(href|src|poster)\s*=/i.test(html)) return html;
  const { root, deep } = parseHtmlTree(html);
  if (deep) {
    // Too deep to serialise: rewrite the attributes in the text itself (bounded pattern, linear).
    return html.replace(URL_ATTR, (m, lead: string, _n, dq?: string, sq?: string, bare?: string) => {
      const value = dq ?? sq ?? bare ?? '';
      const resolved = absoluteValue(value, base);
      if (!resolved) return m;
      return `${lead}"${resolved.replace(/"/g, '%22')}"`;
    });
  }
  let changed = false;
  for (const el of elementsOf(root)) {
    for (const attr of ['href', 'src', 'poster']) {
      const value = el.getAttribute(attr);
      if (value === undefined) continue;
      const resolved = absoluteValue(value, base);
      if (resolved) {
        el.setAttribute(attr, resolved);
        changed = true;
      }
    }
  }
  return changed ? root.toString() : html;
}

const TRACKER =
  /(pixel\.wp\.com|\/_\/stat\?|feeds\.feedburner\.com\/~r\/|feedburner\.com\/~ff\/|stats\.|\/pixel[./?]|\/track(ing)?[./?]|\bp\.php\?|doubleclick\.net|gravatar\.com\/avatar)/i;

/** True for 1×1 images and well-known tracking/avatar URLs, which must not become a post's image. */
export function isTrackingImage(url: string, width?: string | number | null, height?: string | number | null): boolean {
  const w = Number(width);
  const h = Number(height);
  if ((w > 0 && w <= 2) || (h > 0 && h <= 2)) return true;
  return TRACKER.test(url);
}

/** The first real image of an HTML fragment (absolute http(s) URL), skipping tracking pixels and data: URIs. */
export function firstImage(html: string | null | undefined, base: string | null): string | null {
  if (!html || !/<img/i.test(html)) return null;
  return firstImageIn(parseHtml(html), base);
}

/** The first real image of a parsed fragment (see firstImage). */
export function firstImageIn(root: HTMLElement, base: string | null): string | null {
  for (const img of elementsOf(root)) {
    if (img.rawTagName.toLowerCase() !== 'img') continue;
    const src = img.getAttribute('src') ?? img.getAttribute('data-src');
    const url = httpUrl(src, base);
    if (!url) continue;
    if (isTrackingImage(url, img.getAttribute('width'), img.getAttribute('height'))) continue;
    const style = img.getAttribute('style') ?? '';
    if (/(width|height)\s*:\s*[01]px/i.test(style)) continue;
    return url;
  }
  return null;
}

const FEED_TYPES = /^(application\/(rss|atom|rdf|feed)\+(xml|json)|application\/(rss|atom)|application\/json|text\/xml|application\/xml)$/i;

/** Feed URLs advertised by an HTML page (`<link rel="alternate" type="application/rss+xml" href="…">`), absolute. */
export function discoverFeedLinks(html: string, base: string | null): string[] {
  const root = parseHtml(html.slice(0, 512 * 1024));
  const found: string[] = [];
  for (const link of elementsOf(root)) {
    if (link.rawTagName.toLowerCase() !== 'link') continue;
    const rel = (link.getAttribute('rel') ?? '').toLowerCase().split(/\s+/);
    const type = (link.getAttribute('type') ?? '').trim();
    if (!rel.includes('alternate') || !FEED_TYPES.test(type)) continue;
    const url = httpUrl(link.getAttribute('href'), base);
    if (url && !found.includes(url) && !/\/comments\/feed\/?$/.test(url)) found.push(url);
  }
  return found;
}
