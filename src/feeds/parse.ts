import { createHash } from 'node:crypto';
import type * as Feedsmith from 'feedsmith';
import type * as FastXmlParser from 'fast-xml-parser';
import { lazyRequire } from '../lazy-require.ts';
import { stripControls, stripHtmlControls } from './clean.ts';
import { FeedError } from './errors.ts';
import { absolutizeHtml, cleanTitle, collapseWhitespace, discoverFeedLinks, firstImage, htmlToText, httpUrl, isTrackingImage, resolveUrl } from './html.ts';
import type { ParsedFeed, PostDraft } from './types.ts';
import { linksFromDocument } from './websub-discovery.ts';

type ParsedDocument = Omit<ParsedFeed, 'push'>;

// feedsmith and fast-xml-parser (~15 MB of a process) load with the first feed read (their CommonJS builds, so
// both share one fast-xml-parser).
const feedsmith = lazyRequire<typeof Feedsmith>('feedsmith');
const xmlParser = lazyRequire<typeof FastXmlParser>('fast-xml-parser');

// feedsmith's output is walked loosely: real feeds put anything anywhere.
type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj | undefined => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : undefined);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : v === undefined || v === null ? [] : [v]);
const str = (v: unknown): string | undefined => {
  if (typeof v === 'string') return v.trim() === '' ? undefined : v;
  if (typeof v === 'number') return String(v);
  return undefined;
};
/** Text of an Atom text construct ({ value, type }) or a plain string. */
const text = (v: unknown): string | undefined => str(v) ?? str(obj(v)?.value);
const at = (v: unknown, ...path: string[]): unknown => path.reduce<unknown>((cur, key) => obj(cur)?.[key], v);

export const sha256 = (value: string): string => createHash('sha256').update(value).digest('hex');

/** ISO-8601 UTC or null; accepts RFC 822 (also two-digit years), RFC 3339 and W3C-DTF dates. */
export function toIsoDate(raw: unknown): string | null {
  const value = str(raw)?.trim();
  if (!value) return null;
  let time = Date.parse(value);
  if (Number.isNaN(time)) {
    // Common sloppiness: "Mon, 24 Sep 2018 12:00:00 GMT-03:00", "2018-09-24 12:00:00 +0000", zone names like "EDT" unknown to V8.
    const cleaned = value
      .replace(/^(\w{3}),?\s+/, '')
      .replace(/ ([+-]\d{2}):?(\d{2})$/, ' $1$2')
      .replace(/^(\d{4}-\d{2}-\d{2}) /, '$1T');
    time = Date.parse(cleaned);
  }
  if (Number.isNaN(time)) return null;
  const date = new Date(time);
  const year = date.getUTCFullYear();
  if (year < 1970 || year > 9999) return null;
  return date.toISOString();
}

/** First words of a text, at most ~80 characters, cut at a word boundary with "…". */
export function firstWords(value: string, max = 80): string {
  const t = collapseWhitespace(value);
  if (t.length <= max) return t;
  const cut = t.slice(0, max - 1);
  const space = cut.lastIndexOf(' ');
  return `${(space > max / 2 ? cut.slice(0, space) : cut).replace(/[\s,;:.\-–—]+$/, '')}…`;
}

/**
 * The cap on each stored field, in UTF-16 code units (JavaScript string length), applied by the parser to every
 * item: a longer title or author is cut at a word with "…", longer HTML is cut before the tag it would split, a
 * longer link or image URL is dropped (a cut URL points elsewhere), and a longer guid keeps its start followed by
 * a hash of the whole guid, so two different guids never become the same key.
 */
export const FIELD_CAPS = {
  title: 500,
  author: 200,
  url: 2048,
  key: 1024,
  summaryHtml: 20_000,
  contentHtml: 200_000,
  feedTitle: 500,
} as const;

interface RawItem {
  guid: string | undefined;
  link: string | undefined;
  /** The title as HTML (a plain-text title is escaped), else the fallbacks in order (dc:title, media:title). */
  rawTitles: Array<string | undefined>;
  author: string | undefined;
  /** Candidates in order of preference: the first that is a valid date is the publication date. */
  published: unknown[];
  updated: unknown[];
  summaryHtml: string | undefined;
  contentHtml: string | undefined;
  images: Array<{ url: string | undefined; width?: unknown; height?: unknown }>;
  base: string | null; // base for links of this item
  summaryBase: string | null; // base for URLs inside the summary
  contentBase: string | null; // base for URLs inside the content
  /** Category names as the feed gives them (RSS category, Atom category label/term, JSON Feed tags, dc:subject). */
  categories: unknown[];
}

/** What the parser reads from an item's raw XML because feedsmith leaves it out (one per item, in feed order). */
interface RawExtras {
  origLink?: string;
  /** Atom 0.3 `mode="base64"` content constructs, by element name. */
  base64?: Set<'content' | 'summary' | 'title'>;
  /** Content only found in `<xhtml:body>` (XHTML markup) or `<fullitem>` (escaped HTML). */
  bodyHtml?: string;
}

function detectRoot(xml: string): string | null {
  // Skip the prolog: XML declaration, PIs, comments, DOCTYPE.
  const match = /^(?:\s|<\?[\s\S]*?\?>|<!--[\s\S]*?-->|<!DOCTYPE(?:[^[>]|\[[\s\S]*?\])*>)*<([A-Za-z_][\w.:-]*)/.exec(xml);
  return match?.[1] ?? null;
}

function looksLikeHtml(value: string): boolean {
  return /^\s*(?:<!--[\s\S]*?-->\s*)*(<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>])/i.test(value);
}

function notAFeed(value: string, feedUrl: string): FeedError {
  if (looksLikeHtml(value) || /<html[\s>]/i.test(value.slice(0, 2048))) {
    const suggestions = discoverFeedLinks(value, feedUrl);
    const hint =
      suggestions.length > 0 ? ` Did you mean ${suggestions[0]} ?` : ' Look for an RSS or Atom link on the blog (often /feed/, /rss.xml or /atom.xml).';
    return new FeedError('not-a-feed', `This is an HTML page, not a feed.${hint}`, { url: feedUrl, suggestions });
  }
  const trimmed = value.trimStart();
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    return new FeedError('not-a-feed', 'This is JSON, but not a JSON Feed (https://jsonfeed.org): it has no "version" and "items".', { url: feedUrl });
  }
  if (trimmed.startsWith('<')) {
    const root = detectRoot(trimmed);
    return new FeedError('not-a-feed', `This is an XML document with a <${root ?? '?'}> root, not an RSS, Atom or RDF feed.`, { url: feedUrl });
  }
  if (trimmed === '') return new FeedError('not-a-feed', 'The feed is empty.', { url: feedUrl });
  return new FeedError('not-a-feed', `This is not a feed (it starts with "${firstWords(stripControls(trimmed.slice(0, 400)), 40)}").`, { url: feedUrl });
}

function malformed(reason: string, feedUrl: string, cause?: unknown): FeedError {
  // The reason may quote the document (a parser's message): no control character reaches a terminal or Discord.
  return new FeedError('malformed', `The feed is not valid: ${stripControls(reason)}`, { url: feedUrl, cause });
}

/**
 * The document without the whitespace, comments and processing instructions after its last element. Scanned from
 * the end (a regex anchored at $ would retry from every "<!--" of the document: quadratic on hostile input).
 */
function withoutTrailingMisc(xml: string): string {
  let end = xml.length;
  for (;;) {
    while (end > 0 && /\s/.test(xml[end - 1]!)) end--;
    const start = xml.endsWith('-->', end) ? xml.lastIndexOf('<!--', end - 3) : xml.endsWith('?>', end) ? xml.lastIndexOf('<?', end - 2) : -1;
    if (start === -1) return xml.slice(0, end);
    end = start;
  }
}

/** Checks done before handing XML to the parser: entity declarations refused, truncation detected. */
function preflightXml(xml: string, feedUrl: string): void {
  const root = detectRoot(xml);
  const prolog = root ? xml.slice(0, xml.indexOf(`<${root}`)) : xml.slice(0, 4096);
  if (/<!ENTITY/i.test(prolog)) {
    const external = /<!ENTITY[^>]*\b(SYSTEM|PUBLIC)\b/i.test(prolog);
    throw malformed(
      external
        ? 'it declares external entities (<!ENTITY … SYSTEM …>), which could read files from the server; blogcord refuses them'
        : 'it declares its own XML entities (<!ENTITY …>), which can expand to gigabytes ("billion laughs"); blogcord refuses them',
      feedUrl,
    );
  }
  if (!root) return;
  const tail = withoutTrailingMisc(xml);
  const closes =
    new RegExp(`</\\s*${root.replace(/[.:-]/g, '\\$&')}\\s*>$`, 'i').test(tail) || (/\/>$/.test(tail) && tail.indexOf('<', 0) === tail.lastIndexOf('<'));
  if (!closes) {
    const result = xmlParser().XMLValidator.validate(xml);
    const detail = result === true ? '' : ` (${result.err.msg.replace(/\.$/, '')}, line ${result.err.line})`;
    throw malformed(`the XML ends before the closing </${root}> tag, so the download was cut off or the server sent a broken document${detail}`, feedUrl);
  }
}

/** dc:title, then media:title (of the item, of its media:content, of its media:group). */
function titleFallbacks(item: Obj): Array<string | undefined> {
  const media = obj(item.media);
  const mediaTitles = [media?.title, ...arr(media?.contents).map((c) => obj(c)?.title), ...arr(media?.groups).map((g) => obj(g)?.title)];
  return [str(arr(at(item, 'dc', 'titles'))[0]) ?? str(at(item, 'dc', 'title')), ...mediaTitles.map((t) => mediaText(t))];
}

/** A media:title ({ value, type: 'plain' | 'html' }): plain text is escaped, so it stays literal. */
function mediaText(v: unknown): string | undefined {
  const value = text(v);
  return value !== undefined && str(obj(v)?.type) !== 'html' ? literalTags(value) : value;
}

function rssItem(item: Obj, feed: Obj, feedBase: string | null, extras: RawExtras): RawItem {
  const origLink = extras.origLink;
  const base = resolveUrl(str(at(item, 'xml', 'base')), feedBase) ?? feedBase;
  const guidObj = obj(item.guid);
  const guid = str(guidObj?.value) ?? str(item.guid);
  const isPermaLink = guidObj?.isPermaLink !== false;
  const link = origLink ?? str(item.link) ?? (guid && isPermaLink && /^https?:\/\//i.test(guid.trim()) ? guid : undefined);
  const images: RawItem['images'] = [];
  const media = obj(item.media);
  const mediaContents = [...arr(media?.contents), ...arr(media?.groups).flatMap((g) => arr(obj(g)?.contents))];
  for (const c of mediaContents) {
    const o = obj(c);
    if (!o) continue;
    if (o.medium === 'image' || /^image\//i.test(str(o.type) ?? '') || (!o.medium && !o.type && /\.(jpe?g|png|gif|webp|avif)(\?|$)/i.test(str(o.url) ?? ''))) {
      images.push({ url: str(o.url), width: o.width, height: o.height });
    }
  }
  for (const t of [...arr(media?.thumbnails), ...mediaContents.flatMap((c) => arr(obj(c)?.thumbnails))]) {
    const o = obj(t);
    if (o) images.push({ url: str(o.url), width: o.width, height: o.height });
  }
  for (const e of arr(item.enclosures ?? item.enclosure)) {
    const o = obj(e);
    if (o && /^image\//i.test(str(o.type) ?? '')) images.push({ url: str(o.url) });
  }
  const itunesImage = str(at(item, 'itunes', 'image'));
  if (itunesImage) images.push({ url: itunesImage });
  return {
    guid,
    link,
    rawTitles: [str(item.title), ...titleFallbacks(item)],
    author:
      str(arr(at(item, 'dc', 'creators'))[0]) ??
      str(at(item, 'dc', 'creator')) ??
      str(arr(item.authors)[0]) ??
      str(obj(arr(item.authors)[0])?.name) ??
      str(at(item, 'itunes', 'author')) ??
      str(arr(at(feed, 'dc', 'creators'))[0]) ??
      str(at(feed, 'itunes', 'author')),
    published: [
      item.pubDate,
      ...arr(at(item, 'dc', 'dates')),
      at(item, 'dc', 'date'),
      at(item, 'dcterms', 'issued'),
      at(item, 'dcterms', 'created'),
      at(item, 'atom', 'published'),
    ],
    updated: [at(item, 'atom', 'updated'), ...arr(at(item, 'dcterms', 'modifieds')), at(item, 'dcterms', 'modified')],
    summaryHtml: str(item.description),
    contentHtml: str(at(item, 'content', 'encoded')) ?? extras.bodyHtml,
    images,
    base,
    summaryBase: base,
    contentBase: base,
    categories: [...arr(item.categories).map((c) => obj(c)?.name ?? c), ...arr(at(item, 'dc', 'subjects')), at(item, 'dc', 'subject')],
  };
}

function atomItem(entry: Obj, feed: Obj, feedBase: string | null, extras: RawExtras): RawItem {
  const origLink = extras.origLink;
  const entryBase = resolveUrl(str(at(entry, 'xml', 'base')), feedBase) ?? feedBase;
  const links = arr(entry.links)
    .map(obj)
    .filter((l): l is Obj => !!l && !!str(l.href));
  const alternates = links.filter((l) => !l.rel || l.rel === 'alternate');
  const alternate = alternates.find((l) => /^text\/html$/i.test(str(l.type) ?? '')) ?? alternates[0];
  const content = obj(entry.content);
  const summary = obj(entry.summary);
  const contentBase = resolveUrl(str(at(content, 'xml', 'base')), entryBase) ?? entryBase;
  const summaryBase = resolveUrl(str(at(summary, 'xml', 'base')), entryBase) ?? entryBase;
  const images: RawItem['images'] = [];
  for (const l of links) {
    if (l.rel === 'enclosure' && /^image\//i.test(str(l.type) ?? '')) images.push({ url: str(l.href) });
  }
  const media = obj(entry.media);
  for (const t of [...arr(media?.thumbnails), ...arr(media?.contents).filter((c) => obj(c)?.medium === 'image')]) {
    const o = obj(t);
    if (o) images.push({ url: str(o.url), width: o.width, height: o.height });
  }
  const contentType = str(content?.type) ?? 'text';
  const decoded = (value: string | undefined, element: 'content' | 'summary' | 'title') =>
    value !== undefined && extras.base64?.has(element) ? fromBase64(value) : value;
  const contentValue = decoded(str(content?.value) ?? str(entry.content), 'content');
  const summaryValue = decoded(str(summary?.value) ?? str(entry.summary), 'summary');
  const titleValue = decoded(text(entry.title), 'title');
  const asHtml = (value: string | undefined, type: string | undefined) =>
    value === undefined ? undefined : type === 'text' || type === 'text/plain' ? escapeText(value) : value;
  const titleType = str(obj(entry.title)?.type) ?? 'text';
  return {
    guid: str(entry.id),
    link: origLink ?? str(alternate?.href),
    // An Atom title is text unless it says html/xhtml: "History of the <blink> tag" keeps its "<blink>".
    rawTitles: [titleValue !== undefined && !/html/i.test(titleType) ? literalTags(titleValue) : titleValue, ...titleFallbacks(entry)],
    author: str(obj(arr(entry.authors)[0])?.name) ?? str(obj(arr(feed.authors)[0])?.name),
    published: [entry.published, entry.issued, entry.created, ...arr(at(entry, 'dc', 'dates'))],
    updated: [entry.updated, entry.modified],
    summaryHtml: asHtml(summaryValue, str(summary?.type)),
    contentHtml:
      contentValue === undefined
        ? extras.bodyHtml
        : /^(text|html|xhtml)$/.test(contentType) || /html/i.test(contentType)
          ? asHtml(contentValue, contentType)
          : undefined,
    images,
    base: entryBase,
    summaryBase,
    contentBase,
    categories: arr(entry.categories).map((c) => obj(c)?.label ?? obj(c)?.term ?? c),
  };
}

/** Atom 0.3 `mode="base64"`: the decoded text, or the value itself when it is not base64. */
function fromBase64(value: string): string {
  const compact = value.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 === 1) return value;
  const decoded = Buffer.from(compact, 'base64').toString('utf8');
  return decoded.trim() === '' ? value : decoded;
}

/**
 * A plain-text title as HTML whose tags are literal ("History of the <blink> tag" keeps "<blink>"). Entities are
 * left to decode: publishers often escape them twice ("&amp;#8217;"), and a title never means them literally.
 */
function literalTags(value: string): string {
  return /[<>]/.test(value) ? value.replace(/</g, '&lt;').replace(/>/g, '&gt;') : value;
}

function escapeText(value: string): string {
  // A text construct's characters are literal: keep them as text when treated as HTML.
  return /[<&]/.test(value) ? value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;') : value;
}

function rdfItem(item: Obj, feed: Obj, base: string | null): RawItem {
  return {
    guid: undefined,
    link: str(item.link) ?? str(at(item, 'rdf', 'about')),
    rawTitles: [str(item.title), ...titleFallbacks(item)],
    author: str(arr(at(item, 'dc', 'creators'))[0]) ?? str(arr(at(feed, 'dc', 'creators'))[0]),
    published: [...arr(at(item, 'dc', 'dates')), at(item, 'dcterms', 'issued'), at(item, 'dcterms', 'created')],
    updated: [at(item, 'dcterms', 'modified')],
    summaryHtml: str(item.description),
    contentHtml: str(at(item, 'content', 'encoded')),
    images: [],
    base,
    summaryBase: base,
    contentBase: base,
    categories: [...arr(at(item, 'dc', 'subjects')), at(item, 'dc', 'subject')],
  };
}

function jsonItem(item: Obj, feed: Obj, base: string | null): RawItem {
  const authorName = (v: unknown) => str(obj(arr(v)[0])?.name) ?? str(obj(v)?.name);
  const contentText = str(item.content_text);
  return {
    guid: str(item.id),
    link: str(item.url) ?? str(item.external_url),
    // JSON Feed titles are plain text.
    rawTitles: [str(item.title) === undefined ? undefined : literalTags(str(item.title)!)],
    author: authorName(item.authors) ?? authorName(item.author) ?? authorName(feed.authors) ?? authorName(feed.author),
    published: [item.date_published],
    updated: [item.date_modified],
    summaryHtml: str(item.summary) === undefined ? undefined : escapeText(str(item.summary)!),
    contentHtml: str(item.content_html) ?? (contentText === undefined ? undefined : escapeText(contentText).replace(/\n/g, '<br>')),
    images: [{ url: str(item.image) }, { url: str(item.banner_image) }],
    base,
    summaryBase: base,
    contentBase: base,
    categories: arr(item.tags),
  };
}

/** The raw XML of each item, when the document splits into exactly as many `<item>`/`<entry>` elements as feedsmith read. */
function itemSegments(xml: string, count: number, tag: 'item' | 'entry'): string[] {
  if (count === 0) return [];
  // indexOf, not a lazy regex: an opening tag without a closing one must not make the scan quadratic.
  const open = new RegExp(`<${tag}[\\s>]`, 'g');
  const close = `</${tag}>`;
  const segments: string[] = [];
  for (let m = open.exec(xml); m; m = open.exec(xml)) {
    const end = xml.indexOf(close, m.index);
    if (end === -1 || segments.length === count) return [];
    segments.push(xml.slice(m.index, end + close.length));
    open.lastIndex = end + close.length;
  }
  return segments.length === count ? segments : [];
}

/** Whether position `at` of `xml` is inside a CDATA section or a comment (text, not an element). */
function inCdataOrComment(xml: string, at: number): boolean {
  const cdata = xml.lastIndexOf('<![CDATA[', at);
  if (cdata !== -1 && xml.lastIndexOf(']]>', at) < cdata) return true;
  const comment = xml.lastIndexOf('<!--', at);
  return comment !== -1 && xml.lastIndexOf('-->', at) < comment;
}

/** The first element matched by `open` (a start tag, bounded) that is not inside CDATA: its start tag and inner XML. */
function firstElement(xml: string, open: RegExp, closeOf: (m: RegExpExecArray) => string): { tag: RegExpExecArray; inner: string } | null {
  const re = new RegExp(open.source, 'gi');
  for (let m = re.exec(xml), tries = 0; m && tries < 20; m = re.exec(xml), tries++) {
    if (inCdataOrComment(xml, m.index)) continue;
    const start = m.index + m[0].length;
    const end = xml.indexOf(closeOf(m), start);
    return end === -1 ? null : { tag: m, inner: xml.slice(start, end) };
  }
  return null;
}

/** Entities XML itself defines, and character references. */
function decodeXmlText(value: string): string {
  const cdata = /^\s*<!\[CDATA\[([\s\S]*?)\]\]>\s*$/.exec(value);
  if (cdata) return cdata[1]!;
  const named: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };
  return value.replace(
    /&(?:#x([0-9a-f]{1,6})|#(\d{1,7})|(lt|gt|amp|quot|apos));/gi,
    (ref, hex: string | undefined, dec: string | undefined, name: string | undefined) => {
      if (name) return named[name.toLowerCase()]!;
      const code = hex !== undefined ? parseInt(hex, 16) : Number(dec);
      return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : ref;
    },
  );
}

/**
 * What feedsmith leaves out of each item, read from the item's raw XML: feedburner:origLink, Atom 0.3
 * `mode="base64"`, and content found only in `<xhtml:body>` (or `<body xmlns="http://www.w3.org/1999/xhtml">`)
 * or `<fullitem>`.
 */
function rawExtras(xml: string, count: number, tag: 'item' | 'entry'): RawExtras[] {
  if (!/origLink|base64|<(?:[\w.-]+:)?body[\s>]|<fullitem[\s>]/i.test(xml)) return [];
  return itemSegments(xml, count, tag).map((seg) => {
    const extras: RawExtras = {};
    const orig = /<(?:\w+:)?origLink>\s*(?:<!\[CDATA\[)?\s*([^<\]\s]+)/i.exec(seg);
    if (orig) extras.origLink = orig[1];
    const modes = /\bmode\s*=\s*["']base64["']/gi;
    for (let m = modes.exec(seg), n = 0; m && n < 10; m = modes.exec(seg), n++) {
      const tag = /^<(content|summary|title)\b/i.exec(seg.slice(seg.lastIndexOf('<', m.index), m.index));
      if (tag && !inCdataOrComment(seg, m.index)) (extras.base64 ??= new Set()).add(tag[1]!.toLowerCase() as 'content' | 'summary' | 'title');
    }
    const xhtml = firstElement(seg, /<(?:([\w.-]{1,40}):)?body\b([^<>]{0,500})>/, (m) => `</${m[1] ? `${m[1]}:` : ''}body`);
    if (xhtml && (xhtml.tag[1] || /xmlns\s*=\s*["']http:\/\/www\.w3\.org\/1999\/xhtml["']/i.test(xhtml.tag[2]!))) {
      // XHTML markup is HTML once its namespace prefix is gone.
      const prefix = xhtml.tag[1];
      extras.bodyHtml = prefix ? xhtml.inner.replace(new RegExp(`<(/?)${prefix.replace(/[.-]/g, '\\$&')}:`, 'g'), '<$1') : xhtml.inner;
    } else {
      const full = firstElement(seg, /<fullitem\b[^<>]{0,500}>/, () => '</fullitem');
      if (full) extras.bodyHtml = decodeXmlText(full.inner);
    }
    if (extras.bodyHtml?.trim() === '') delete extras.bodyHtml;
    return extras;
  });
}

/** Without `<!DOCTYPE …>`, `<?…?>` and `<!-- … -->`, which are never text (linear: each is looked for once). */
function withoutDeclarations(html: string): string {
  if (!/<[!?]/.test(html)) return html;
  const open = /<(!--|!doctype|\?)/gi;
  let out = '';
  let last = 0;
  for (let m = open.exec(html); m; m = open.exec(html)) {
    const close = m[1] === '!--' ? '-->' : m[1] === '?' ? '?>' : '>';
    const end = html.indexOf(close, m.index + m[0].length);
    if (end === -1) break;
    out += html.slice(last, m.index);
    last = end + close.length;
    open.lastIndex = last;
  }
  return last === 0 ? html : out + html.slice(last);
}

/** Cut without splitting a surrogate pair. */
function cutAt(value: string, length: number): string {
  const cut = value.slice(0, length);
  return /[\uD800-\uDBFF]$/.test(cut) ? cut.slice(0, -1) : cut;
}

/** Plain text cut to `max` at a word boundary, with "…". */
export function capText(value: string, max: number): string {
  if (value.length <= max) return value;
  const cut = cutAt(value, max - 1);
  const space = cut.lastIndexOf(' ');
  return `${(space > max / 2 ? cut.slice(0, space) : cut).trimEnd()}…`;
}

/** HTML cut to `max`, before a tag it would split (the HTML parser closes what stays open). */
function capHtml(value: string, max: number): string {
  if (value.length <= max) return value;
  const cut = cutAt(value, max);
  const lt = cut.lastIndexOf('<');
  return lt > cut.lastIndexOf('>') ? cut.slice(0, lt) : cut;
}

/** A key at most FIELD_CAPS.key long; a longer one keeps its start and ends with the hash of the whole key. */
export function capKey(key: string): string {
  if (key.length <= FIELD_CAPS.key) return key;
  const hash = `#sha256:${sha256(key)}`;
  return `${cutAt(key, FIELD_CAPS.key - hash.length)}${hash}`;
}

const capUrl = (url: string | null): string | null => (url && url.length <= FIELD_CAPS.url ? url : null);

/** Text of a title (HTML): declarations, comments, script and style dropped, controls removed. */
function titleText(html: string | undefined): string {
  return html ? collapseWhitespace(stripControls(cleanTitle(withoutDeclarations(html)))) : '';
}

/** An item's HTML as stored: controls and declarations removed, relative URLs made absolute, capped. */
function itemHtml(html: string | undefined, base: string | null, max: number): string | null {
  if (!html) return null;
  // Capped before the HTML parser sees it (and again after, as absolute URLs are longer).
  const clean = capHtml(withoutDeclarations(stripHtmlControls(html)), max);
  return clean.trim() ? capHtml(absolutizeHtml(clean, base), max) : null;
}

/** The first date among the candidates that parses. */
function firstDate(candidates: unknown[]): string | null {
  for (const candidate of candidates) {
    const iso = toIsoDate(candidate);
    if (iso) return iso;
  }
  return null;
}

function toDraft(raw: RawItem): PostDraft {
  const link = raw.link === undefined ? undefined : stripControls(raw.link);
  const url = capUrl(httpUrl(link, raw.base));
  const summaryHtml = itemHtml(raw.summaryHtml, raw.summaryBase, FIELD_CAPS.summaryHtml);
  const contentHtml = itemHtml(raw.contentHtml, raw.contentBase, FIELD_CAPS.contentHtml);
  const summaryText = stripControls(htmlToText(summaryHtml));
  const bodyText = contentHtml ? stripControls(htmlToText(contentHtml)) : summaryText;
  let feedTitle = '';
  for (const candidate of raw.rawTitles) {
    feedTitle = titleText(candidate);
    if (feedTitle) break;
  }
  feedTitle = capText(feedTitle, FIELD_CAPS.title);
  const title = capText(feedTitle || (bodyText ? firstWords(bodyText) : '') || url || 'Untitled', FIELD_CAPS.title);
  // Atom requires only <updated>, JSON Feed may give only date_modified: the last change stands in for the publication.
  const updatedAt = firstDate(raw.updated);
  const publishedAt = firstDate(raw.published) ?? updatedAt;

  let imageUrl: string | null = null;
  for (const image of raw.images) {
    const candidate = capUrl(httpUrl(image.url === undefined ? undefined : stripControls(image.url), raw.contentBase));
    if (candidate && !isTrackingImage(candidate, image.width as string | undefined, image.height as string | undefined)) {
      imageUrl = candidate;
      break;
    }
  }
  imageUrl ??= capUrl(firstImage(contentHtml, raw.contentBase) ?? firstImage(summaryHtml, raw.summaryBase));

  const guid = raw.guid === undefined ? undefined : stripControls(raw.guid).trim();
  let key: string;
  let keySource: PostDraft['keySource'];
  if (guid) {
    key = capKey(guid);
    keySource = 'guid';
  } else if (url) {
    key = url;
    keySource = 'link';
  } else {
    key = `hash:${sha256(`${feedTitle || firstWords(bodyText, 200)}\n${publishedAt ?? ''}`)}`;
    keySource = 'hash';
  }
  const contentHash = sha256([title, url ?? '', summaryText, bodyText === summaryText ? '' : bodyText].join('\n'));
  const author = raw.author ? capText(titleText(raw.author), FIELD_CAPS.author) || null : null;
  return {
    key,
    keySource,
    url,
    title,
    author,
    publishedAt,
    updatedAt,
    summaryHtml,
    contentHtml,
    imageUrl,
    contentHash,
    categories: itemCategories(raw.categories),
  };
}

/** At most this many categories of an item are kept, each at most CATEGORY_MAX characters. */
export const MAX_CATEGORIES = 50;
const CATEGORY_MAX = 100;

/** An item's category names: plain text, trimmed, without duplicates (case-insensitive), in feed order. */
function itemCategories(raw: unknown[]): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const value of raw) {
    const name = capText(titleText(str(value)), CATEGORY_MAX);
    if (!name || seen.has(name.toLowerCase())) continue;
    seen.add(name.toLowerCase());
    out.push(name);
    if (out.length >= MAX_CATEGORIES) break;
  }
  return out;
}

const feedTitleOf = (value: string | undefined): string | null => capText(titleText(value), FIELD_CAPS.feedTitle) || null;

/** The xml:base of the RSS `<channel>` element (feedsmith keeps only the root's). */
function channelBase(xml: string): string | undefined {
  const tag = /<channel\b([^>]*)>/i.exec(xml);
  const attr = tag ? /\bxml:base\s*=\s*(?:"([^"]*)"|'([^']*)')/.exec(tag[1]!) : null;
  return attr ? decodeXmlText(attr[1] ?? attr[2]!) : undefined;
}

/**
 * `<r:rss xmlns:r="…">`: RSS whose elements all carry a namespace prefix (feedsmith reads unprefixed RSS only).
 * The prefix is dropped from tag names outside CDATA sections and comments.
 */
function withoutRootPrefix(xml: string): string {
  const root = detectRoot(xml);
  const match = root ? /^([A-Za-z_][\w.-]*):rss$/i.exec(root) : null;
  if (!match) return xml;
  const token = new RegExp(`<!\\[CDATA\\[|<!--|<(/?)${match[1]!.replace(/[.-]/g, '\\$&')}:`, 'g');
  // One pass: CDATA sections and comments are skipped with indexOf (an unclosed one ends the rewriting).
  let out = '';
  let last = 0;
  for (let m = token.exec(xml); m; m = token.exec(xml)) {
    if (m[0] === '<![CDATA[' || m[0] === '<!--') {
      const end = xml.indexOf(m[0] === '<!--' ? '-->' : ']]>', m.index + m[0].length);
      if (end === -1) break;
      token.lastIndex = end + 3;
      continue;
    }
    out += `${xml.slice(last, m.index)}<${m[1]}`;
    last = m.index + m[0].length;
  }
  return out + xml.slice(last);
}

/**
 * A document feedsmith recognised but read nothing from: a feed with no items yet (valid: following it works),
 * else a refusal naming what is missing.
 */
function emptyOrRefused(value: string, feedUrl: string, cause: unknown): ParsedDocument {
  if (value.startsWith('{')) {
    const json = JSON.parse(value) as Obj;
    if (Array.isArray(json.items) && json.items.length === 0) return { format: 'json', title: null, link: null, items: [] };
    throw malformed(
      `it is a JSON Feed whose "items" ${Array.isArray(json.items) ? 'hold nothing blogcord can read (no id, url, title or content)' : 'is not a list'}`,
      feedUrl,
      cause,
    );
  }
  const root = detectRoot(value) ?? '?';
  const local = root.replace(/^[\w.-]+:/, '').toLowerCase();
  const has = (tag: string) => new RegExp(`<(?:[\\w.-]+:)?${tag}[\\s>/]`, 'i').test(value);
  if (local === 'rss') {
    if (!has('channel')) throw malformed('it has an <rss> root but no <channel> element', feedUrl, cause);
    if (!has('item')) return { format: 'rss', title: null, link: null, items: [] };
    throw malformed('its <item> elements hold nothing blogcord can read (no title, link, guid or description)', feedUrl, cause);
  }
  if (local === 'feed') {
    if (!has('entry')) return { format: 'atom', title: null, link: null, items: [] };
    throw malformed('its <entry> elements hold nothing blogcord can read (no id, title, link or content)', feedUrl, cause);
  }
  if (local === 'rdf') {
    if (!has('channel')) throw malformed('it has an RDF root but no <channel> element', feedUrl, cause);
    if (!has('item')) return { format: 'rdf', title: null, link: null, items: [] };
    throw malformed('its <item> elements hold nothing blogcord can read (no title, link or description)', feedUrl, cause);
  }
  throw malformed(`blogcord found no channel, item or entry it can read in its <${root}> document`, feedUrl, cause);
}

/**
 * Parse RSS 0.9x/2.0, RSS 1.0/0.90 (RDF), Atom 0.3/1.0 or JSON Feed 1.x text into PostDrafts (feed order).
 * Throws FeedError 'not-a-feed' (HTML page — with discovered feed links —, other JSON/XML) or 'malformed', and
 * nothing else. XML entity declarations are refused before parsing, so entity bombs and XXE never expand.
 * Every text field comes out without control characters and within FIELD_CAPS.
 */
export function parseFeed(input: string, feedUrl: string): ParsedFeed {
  try {
    const parsed = parseFeedText(input, feedUrl);
    // WebSub discovery (hub and self links) from the document; fetch adds the Link headers' (src/feeds/websub-discovery.ts).
    return { ...parsed, push: linksFromDocument(input, httpUrl(feedUrl) ?? null) };
  } catch (err) {
    if (err instanceof FeedError) throw err;
    // A parser bug on a strange document is still this feed's problem, reported as such, never a crash of the poll.
    throw malformed(`blogcord could not read it (${stripControls(String((err as Error)?.message ?? err)).slice(0, 200)})`, feedUrl, err);
  }
}

function parseFeedText(input: string, feedUrl: string): ParsedDocument {
  let value = input.replace(/^\uFEFF/, '').replace(/^\s+/, '');
  const trimmedJson = value.startsWith('{');
  if (trimmedJson) {
    try {
      JSON.parse(value);
    } catch (err) {
      throw malformed(`it looks like JSON but does not parse (${(err as Error).message})`, feedUrl, err);
    }
  } else if (value.startsWith('<')) {
    if (looksLikeHtml(value)) throw notAFeed(value, feedUrl);
    preflightXml(value, feedUrl);
    value = withoutRootPrefix(value);
  } else {
    throw notAFeed(value, feedUrl);
  }

  const { DetectError, MalformedError, ParseError, parseFeed: feedsmithParse } = feedsmith();
  let result: ReturnType<typeof feedsmithParse>;
  try {
    result = feedsmithParse(value);
  } catch (err) {
    if (err instanceof DetectError) throw notAFeed(value, feedUrl);
    if (err instanceof MalformedError) {
      const cause = (err.cause as Error | undefined)?.message;
      throw malformed(cause ? `the XML is broken (${cause})` : 'the XML is broken', feedUrl, err);
    }
    if (err instanceof ParseError) return emptyOrRefused(value, feedUrl, err);
    throw malformed((err as Error).message, feedUrl, err);
  }

  const feed = result.feed as unknown as Obj;
  const feedBaseFromUrl = httpUrl(feedUrl) ?? null;
  switch (result.format) {
    case 'rss': {
      const rootBase = resolveUrl(str(at(feed, 'xml', 'base')), feedBaseFromUrl) ?? feedBaseFromUrl;
      const feedBase = resolveUrl(channelBase(value), rootBase) ?? rootBase;
      const items = arr(feed.items)
        .map(obj)
        .filter((i): i is Obj => !!i);
      const extras = rawExtras(value, items.length, 'item');
      return {
        format: 'rss',
        title: feedTitleOf(str(feed.title)),
        link: capUrl(httpUrl(str(feed.link), feedBase)),
        items: items.map((item, i) => toDraft(rssItem(item, feed, feedBase, extras[i] ?? {}))),
      };
    }
    case 'atom': {
      const feedBase = resolveUrl(str(at(feed, 'xml', 'base')), feedBaseFromUrl) ?? feedBaseFromUrl;
      const entries = arr(feed.entries)
        .map(obj)
        .filter((i): i is Obj => !!i);
      const extras = rawExtras(value, entries.length, 'entry');
      const links = arr(feed.links)
        .map(obj)
        .filter((l): l is Obj => !!l && !!str(l.href));
      const alternate = links.find((l) => (!l.rel || l.rel === 'alternate') && /html/i.test(str(l.type) ?? 'text/html'));
      const title = obj(feed.title);
      return {
        format: 'atom',
        title: feedTitleOf(title && !/html/.test(str(title.type) ?? 'text') ? literalTags(text(title) ?? '') : text(feed.title)),
        link: capUrl(httpUrl(str(alternate?.href), feedBase)),
        items: entries.map((entry, i) => toDraft(atomItem(entry, feed, feedBase, extras[i] ?? {}))),
      };
    }
    case 'rdf': {
      const items = arr(feed.items)
        .map(obj)
        .filter((i): i is Obj => !!i);
      return {
        format: 'rdf',
        title: feedTitleOf(str(feed.title)),
        link: capUrl(httpUrl(str(feed.link), feedBaseFromUrl)),
        items: items.map((item) => toDraft(rdfItem(item, feed, feedBaseFromUrl))),
      };
    }
    case 'json': {
      const base = httpUrl(str(feed.feed_url), feedBaseFromUrl) ?? feedBaseFromUrl;
      const items = arr(feed.items)
        .map(obj)
        .filter((i): i is Obj => !!i);
      return {
        format: 'json',
        title: feedTitleOf(str(feed.title) === undefined ? undefined : literalTags(str(feed.title)!)),
        link: capUrl(httpUrl(str(feed.home_page_url), base)),
        items: items.map((item) => toDraft(jsonItem(item, feed, base))),
      };
    }
  }
}
