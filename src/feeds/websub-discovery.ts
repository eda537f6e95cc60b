// WebSub discovery (W3C WebSub §4): the hub and self (topic) URLs a feed advertises, from its HTTP Link headers
// and from the document itself (atom:link rel="hub"/"self" in RSS and Atom, JSON Feed `hubs` and `feed_url`).
// Per the recommendation, the Link headers win over the document when both name a hub or a self URL.
import { httpUrl } from './html.ts';

export interface PushLinks {
  /** The hubs, in the order advertised (http(s) URLs only, at most MAX_HUBS). */
  hubs: string[];
  /** The topic URL to subscribe to: rel="self"; null when the feed names none (the feed's URL is the topic then). */
  self: string | null;
}

export const MAX_HUBS = 5;
const MAX_URL = 2048;

const clean = (href: string | undefined, base: string | null): string | null => {
  if (!href) return null;
  const url = httpUrl(href.trim(), base);
  return url && url.length <= MAX_URL ? url : null;
};

const unique = (urls: Array<string | null>): string[] => [...new Set(urls.filter((u): u is string => u !== null))].slice(0, MAX_HUBS);

/**
 * The links of an HTTP `Link` header (RFC 8288): `<url>; rel="hub self"; …`, comma-separated; several header
 * lines may be given. Malformed parts are skipped. The rel values are lower-cased.
 */
export function parseLinkHeader(values: string | readonly string[] | null | undefined): Array<{ url: string; rels: string[] }> {
  const out: Array<{ url: string; rels: string[] }> = [];
  const list = values === null || values === undefined ? [] : typeof values === 'string' ? [values] : values;
  for (const value of list) {
    // A link is <…> followed by parameters up to the next "," that starts a new <…> (commas may appear quoted).
    const re = /<([^>]*)>((?:\s*;\s*[^;,"=\s]+(?:\s*=\s*(?:"(?:[^"\\]|\\.)*"|[^;,\s]*))?)*)/g;
    for (let m = re.exec(value); m; m = re.exec(value)) {
      const params = m[2] ?? '';
      const rel = /;\s*rel\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;,\s]*))/i.exec(params);
      if (!rel) continue;
      const rels = (rel[1] ?? rel[2] ?? '').toLowerCase().split(/\s+/).filter(Boolean);
      out.push({ url: m[1]!, rels });
    }
  }
  return out;
}

/** Hub and self URLs from Link headers, resolved against the URL they came from. */
export function linksFromHeaders(values: string | readonly string[] | null | undefined, base: string): PushLinks {
  const links = parseLinkHeader(values);
  return {
    hubs: unique(links.filter((l) => l.rels.includes('hub')).map((l) => clean(l.url, base))),
    self:
      links
        .filter((l) => l.rels.includes('self'))
        .map((l) => clean(l.url, base))
        .find((u) => u !== null) ?? null,
  };
}

const decodeAttr = (value: string): string =>
  value
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&#x([0-9a-f]+);/gi, (_, h: string) => String.fromCodePoint(Math.min(parseInt(h, 16), 0x10ffff)))
    .replace(/&#(\d+);/g, (_, d: string) => String.fromCodePoint(Math.min(Number(d), 0x10ffff)))
    .replace(/&amp;/g, '&');

/** Longest tag read for its attributes; longer ones are skipped (bounds the work on hostile documents). */
const MAX_TAG = 4096;

/**
 * The feed-level `<link …>` tags of an XML feed: those before its first item or entry, outside comments and CDATA.
 * One forward scan with indexOf (linear in the document, also for unclosed comments, CDATA or tags).
 */
function feedLevelLinkTags(xml: string): string[] {
  const tags: string[] = [];
  for (let i = xml.indexOf('<'); i !== -1 && i < xml.length; i = xml.indexOf('<', i + 1)) {
    if (xml.startsWith('<!--', i)) {
      const end = xml.indexOf('-->', i + 4);
      if (end === -1) break;
      i = end + 2;
      continue;
    }
    if (xml.startsWith('<![CDATA[', i)) {
      const end = xml.indexOf(']]>', i + 9);
      if (end === -1) break;
      i = end + 2;
      continue;
    }
    const name = /^<([\w.-]+:)?([\w.-]+)/.exec(xml.slice(i, i + 64));
    if (!name) continue;
    const local = name[2]!.toLowerCase();
    if (local === 'item' || local === 'entry') break;
    if (local !== 'link') continue;
    const close = xml.indexOf('>', i);
    if (close === -1) break;
    if (close - i <= MAX_TAG) tags.push(xml.slice(i + name[0].length, close));
    i = close;
  }
  return tags;
}

/** Hub and self URLs of an XML feed: its feed-level `<link rel="hub|self" href="…">` (atom: or other prefix, or none). */
export function linksFromXml(xml: string, base: string | null): PushLinks {
  const hubs: Array<string | null> = [];
  let self: string | null = null;
  for (const attrs of feedLevelLinkTags(xml)) {
    const attr = (name: string) => {
      const a = new RegExp(`(?:^|\\s)${name}\\s*=\\s*(?:"([^"]*)"|'([^']*)')`, 'i').exec(attrs);
      return a ? decodeAttr(a[1] ?? a[2] ?? '') : undefined;
    };
    const rels = (attr('rel') ?? '').toLowerCase().split(/\s+/);
    const href = clean(attr('href'), base);
    if (rels.includes('hub')) hubs.push(href);
    if (rels.includes('self') && self === null) self = href;
  }
  return { hubs: unique(hubs), self };
}

/** Hub and self URLs of a JSON Feed: `hubs` ([{ type, url }], type WebSub or its older names) and `feed_url`. */
export function linksFromJson(json: unknown, base: string | null): PushLinks {
  const feed = json && typeof json === 'object' ? (json as Record<string, unknown>) : {};
  const hubs = Array.isArray(feed.hubs) ? feed.hubs : [];
  const urls = hubs.map((h) => {
    const hub = h && typeof h === 'object' ? (h as Record<string, unknown>) : {};
    const type = typeof hub.type === 'string' ? hub.type.toLowerCase() : 'websub';
    if (!['websub', 'pubsubhubbub', 'websub-hub'].includes(type)) return null;
    return typeof hub.url === 'string' ? clean(hub.url, base) : null;
  });
  return { hubs: unique(urls), self: typeof feed.feed_url === 'string' ? clean(feed.feed_url, base) : null };
}

/** The document's links, for the parser: XML or JSON text. Never throws. */
export function linksFromDocument(text: string, base: string | null): PushLinks {
  const value = text.replace(/^\uFEFF/, '').trimStart();
  try {
    if (value.startsWith('{')) return linksFromJson(JSON.parse(value), base);
    if (value.startsWith('<')) return linksFromXml(value, base);
  } catch {
    // not readable: no links (the parser reports the document's problem)
  }
  return { hubs: [], self: null };
}

/** The Link headers' links first (the recommendation prefers them), the document's where the headers name none. */
export function mergeLinks(headers: PushLinks, document: PushLinks): PushLinks {
  return { hubs: headers.hubs.length ? headers.hubs : document.hubs, self: headers.self ?? document.self };
}
