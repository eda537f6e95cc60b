import { createHash } from 'node:crypto';
import { DetectError, MalformedError, parseFeed as feedsmithParse } from 'feedsmith';
import { XMLValidator } from 'fast-xml-parser';
import { FeedError } from './errors.ts';
import {
  absolutizeHtml,
  cleanTitle,
  collapseWhitespace,
  discoverFeedLinks,
  firstImage,
  htmlToText,
  httpUrl,
  isTrackingImage,
  resolveUrl,
} from './html.ts';
import type { ParsedFeed, PostDraft } from './types.ts';

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
    const cleaned = value.replace(/^(\w{3}),?\s+/, '').replace(/ ([+-]\d{2}):?(\d{2})$/, ' $1$2').replace(/^(\d{4}-\d{2}-\d{2}) /, '$1T');
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

interface RawItem {
  guid: string | undefined;
  link: string | undefined;
  rawTitle: string | undefined;
  author: string | undefined;
  published: unknown;
  updated: unknown;
  summaryHtml: string | undefined;
  contentHtml: string | undefined;
  images: Array<{ url: string | undefined; width?: unknown; height?: unknown }>;
  base: string | null; // base for links of this item
  contentBase: string | null; // base for URLs inside the content
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
    const hint = suggestions.length > 0 ? ` Did you mean ${suggestions[0]} ?` : ' Look for an RSS or Atom link on the blog (often /feed/, /rss.xml or /atom.xml).';
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
  return new FeedError('not-a-feed', `This is not a feed (it starts with "${firstWords(trimmed, 40)}").`, { url: feedUrl });
}

function malformed(reason: string, feedUrl: string, cause?: unknown): FeedError {
  return new FeedError('malformed', `The feed is not valid: ${reason}`, { url: feedUrl, cause });
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
  const tail = xml.replace(/(?:\s|<!--[\s\S]*?-->|<\?[\s\S]*?\?>)*$/, '');
  const closes = new RegExp(`</\\s*${root.replace(/[.:-]/g, '\\$&')}\\s*>$`, 'i').test(tail) || /\/>$/.test(tail) && tail.indexOf('<', 0) === tail.lastIndexOf('<');
  if (!closes) {
    const result = XMLValidator.validate(xml);
    const detail = result === true ? '' : ` (${result.err.msg.replace(/\.$/, '')}, line ${result.err.line})`;
    throw malformed(`the XML ends before the closing </${root}> tag, so the download was cut off or the server sent a broken document${detail}`, feedUrl);
  }
}

function rssItem(item: Obj, feed: Obj, base: string | null, origLink: string | undefined): RawItem {
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
    rawTitle: str(item.title),
    author:
      str(arr(at(item, 'dc', 'creators'))[0]) ??
      str(at(item, 'dc', 'creator')) ??
      str(arr(item.authors)[0]) ??
      str(at(item, 'itunes', 'author')) ??
      str(arr(at(feed, 'dc', 'creators'))[0]) ??
      str(at(feed, 'itunes', 'author')),
    published: item.pubDate ?? arr(at(item, 'dc', 'dates'))[0] ?? at(item, 'dcterms', 'issued') ?? at(item, 'dcterms', 'created'),
    updated: at(item, 'atom', 'updated') ?? arr(at(item, 'dcterms', 'modifieds'))[0] ?? at(item, 'dcterms', 'modified'),
    summaryHtml: str(item.description),
    contentHtml: str(at(item, 'content', 'encoded')),
    images,
    base,
    contentBase: base,
  };
}

function atomItem(entry: Obj, feed: Obj, feedBase: string | null, origLink: string | undefined): RawItem {
  const entryBase = resolveUrl(str(at(entry, 'xml', 'base')), feedBase) ?? feedBase;
  const links = arr(entry.links).map(obj).filter((l): l is Obj => !!l && !!str(l.href));
  const alternates = links.filter((l) => !l.rel || l.rel === 'alternate');
  const alternate = alternates.find((l) => /^text\/html$/i.test(str(l.type) ?? '')) ?? alternates[0];
  const content = obj(entry.content);
  const summary = obj(entry.summary);
  const contentBase = resolveUrl(str(at(content, 'xml', 'base')), entryBase) ?? entryBase;
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
  const contentValue = str(content?.value) ?? str(entry.content);
  const summaryValue = str(summary?.value) ?? str(entry.summary);
  const asHtml = (value: string | undefined, type: string | undefined) =>
    value === undefined ? undefined : type === 'text' ? escapeText(value) : value;
  return {
    guid: str(entry.id),
    link: origLink ?? str(alternate?.href),
    rawTitle: text(entry.title),
    author: str(obj(arr(entry.authors)[0])?.name) ?? str(obj(arr(feed.authors)[0])?.name),
    published: entry.published ?? entry.issued ?? entry.created,
    updated: entry.updated ?? entry.modified,
    summaryHtml: asHtml(summaryValue, str(summary?.type)),
    contentHtml: contentValue === undefined ? undefined : /^(text|html|xhtml)$/.test(contentType) || /html/i.test(contentType) ? asHtml(contentValue, contentType) : undefined,
    images,
    base: entryBase,
    contentBase,
  };
}

function escapeText(value: string): string {
  // A text construct's characters are literal: keep them as text when treated as HTML.
  return /[<&]/.test(value) ? value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;') : value;
}

function rdfItem(item: Obj, feed: Obj, base: string | null): RawItem {
  return {
    guid: undefined,
    link: str(item.link) ?? str(at(item, 'rdf', 'about')),
    rawTitle: str(item.title),
    author: str(arr(at(item, 'dc', 'creators'))[0]) ?? str(arr(at(feed, 'dc', 'creators'))[0]),
    published: arr(at(item, 'dc', 'dates'))[0] ?? at(item, 'dcterms', 'issued') ?? at(item, 'dcterms', 'created'),
    updated: at(item, 'dcterms', 'modified'),
    summaryHtml: str(item.description),
    contentHtml: str(at(item, 'content', 'encoded')),
    images: [],
    base,
    contentBase: base,
  };
}

function jsonItem(item: Obj, feed: Obj, base: string | null): RawItem {
  const authorName = (v: unknown) => str(obj(arr(v)[0])?.name) ?? str(obj(v)?.name);
  const contentText = str(item.content_text);
  return {
    guid: str(item.id),
    link: str(item.url) ?? str(item.external_url),
    rawTitle: str(item.title),
    author: authorName(item.authors) ?? authorName(item.author) ?? authorName(feed.authors) ?? authorName(feed.author),
    published: item.date_published,
    updated: item.date_modified,
    summaryHtml: str(item.summary) === undefined ? undefined : escapeText(str(item.summary)!),
    contentHtml: str(item.content_html) ?? (contentText === undefined ? undefined : escapeText(contentText).replace(/\n/g, '<br>')),
    images: [{ url: str(item.image) }, { url: str(item.banner_image) }],
    base,
    contentBase: base,
  };
}

/** feedburner:origLink values, one per item, when the raw XML has exactly one in each item (feedsmith drops the namespace). */
function origLinks(xml: string, count: number, tag: 'item' | 'entry'): Array<string | undefined> {
  if (!/origLink/i.test(xml)) return [];
  const segments = xml.match(new RegExp(`<${tag}[\\s>][\\s\\S]*?</${tag}>`, 'g')) ?? [];
  if (segments.length !== count) return [];
  return segments.map((seg) => {
    const m = /<(?:\w+:)?origLink>\s*(?:<!\[CDATA\[)?\s*([^<\]\s]+)/i.exec(seg);
    return m?.[1];
  });
}

function toDraft(raw: RawItem): PostDraft {
  const url = httpUrl(raw.link, raw.base);
  const summaryHtml = raw.summaryHtml ? absolutizeHtml(raw.summaryHtml, raw.contentBase) : null;
  const contentHtml = raw.contentHtml ? absolutizeHtml(raw.contentHtml, raw.contentBase) : null;
  const bodyText = htmlToText(contentHtml ?? summaryHtml);
  const feedTitle = cleanTitle(raw.rawTitle);
  const title = feedTitle || (bodyText ? firstWords(bodyText) : '') || url || 'Untitled';
  const publishedAt = toIsoDate(raw.published);
  const updatedAt = toIsoDate(raw.updated);

  let imageUrl: string | null = null;
  for (const image of raw.images) {
    const candidate = httpUrl(image.url, raw.contentBase);
    if (candidate && !isTrackingImage(candidate, image.width as string | undefined, image.height as string | undefined)) {
      imageUrl = candidate;
      break;
    }
  }
  imageUrl ??= firstImage(contentHtml, raw.contentBase) ?? firstImage(summaryHtml, raw.contentBase);

  const guid = raw.guid?.trim();
  let key: string;
  let keySource: PostDraft['keySource'];
  if (guid) {
    key = guid;
    keySource = 'guid';
  } else if (url) {
    key = url;
    keySource = 'link';
  } else {
    key = `hash:${sha256(`${feedTitle || firstWords(bodyText, 200)}\n${publishedAt ?? ''}`)}`;
    keySource = 'hash';
  }
  const summaryText = htmlToText(summaryHtml);
  const contentHash = sha256([title, url ?? '', summaryText, bodyText === summaryText ? '' : bodyText].join('\n'));
  return {
    key,
    keySource,
    url,
    title,
    author: raw.author ? collapseWhitespace(cleanTitle(raw.author)) || null : null,
    publishedAt,
    updatedAt,
    summaryHtml,
    contentHtml,
    imageUrl,
    contentHash,
  };
}

/**
 * Parse RSS 0.9x/2.0, RSS 1.0/0.90 (RDF), Atom 1.0 or JSON Feed 1.x text into PostDrafts (feed order).
 * Throws FeedError 'not-a-feed' (HTML page — with discovered feed links —, other JSON/XML) or 'malformed'.
 * XML entity declarations are refused before parsing, so entity bombs and XXE never expand.
 */
export function parseFeed(input: string, feedUrl: string): ParsedFeed {
  const value = input.replace(/^\uFEFF/, '').replace(/^\s+/, '');
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
  } else {
    throw notAFeed(value, feedUrl);
  }

  let result: ReturnType<typeof feedsmithParse>;
  try {
    result = feedsmithParse(value);
  } catch (err) {
    if (err instanceof DetectError) throw notAFeed(value, feedUrl);
    if (err instanceof MalformedError) {
      const cause = (err.cause as Error | undefined)?.message;
      throw malformed(cause ? `the XML is broken (${cause})` : 'the XML is broken', feedUrl, err);
    }
    throw malformed((err as Error).message, feedUrl, err);
  }

  const feed = result.feed as unknown as Obj;
  const feedBaseFromUrl = httpUrl(feedUrl) ?? null;
  switch (result.format) {
    case 'rss': {
      const items = arr(feed.items).map(obj).filter((i): i is Obj => !!i);
      const orig = origLinks(value, items.length, 'item');
      const channelLink = httpUrl(str(feed.link), feedBaseFromUrl);
      return {
        format: 'rss',
        title: cleanTitle(str(feed.title)) || null,
        link: channelLink,
        items: items.map((item, i) => toDraft(rssItem(item, feed, feedBaseFromUrl, orig[i]))),
      };
    }
    case 'atom': {
      const feedBase = resolveUrl(str(at(feed, 'xml', 'base')), feedBaseFromUrl) ?? feedBaseFromUrl;
      const entries = arr(feed.entries).map(obj).filter((i): i is Obj => !!i);
      const orig = origLinks(value, entries.length, 'entry');
      const links = arr(feed.links).map(obj).filter((l): l is Obj => !!l && !!str(l.href));
      const alternate = links.find((l) => (!l.rel || l.rel === 'alternate') && /html/i.test(str(l.type) ?? 'text/html'));
      return {
        format: 'atom',
        title: cleanTitle(text(feed.title)) || null,
        link: httpUrl(str(alternate?.href), feedBase),
        items: entries.map((entry, i) => toDraft(atomItem(entry, feed, feedBase, orig[i]))),
      };
    }
    case 'rdf': {
      const items = arr(feed.items).map(obj).filter((i): i is Obj => !!i);
      return {
        format: 'rdf',
        title: cleanTitle(str(feed.title)) || null,
        link: httpUrl(str(feed.link), feedBaseFromUrl),
        items: items.map((item) => toDraft(rdfItem(item, feed, feedBaseFromUrl))),
      };
    }
    case 'json': {
      const base = httpUrl(str(feed.feed_url), feedBaseFromUrl) ?? feedBaseFromUrl;
      const items = arr(feed.items).map(obj).filter((i): i is Obj => !!i);
      return {
        format: 'json',
        title: cleanTitle(str(feed.title)) || null,
        link: httpUrl(str(feed.home_page_url), base),
        items: items.map((item) => toDraft(jsonItem(item, feed, base))),
      };
    }
  }
}
