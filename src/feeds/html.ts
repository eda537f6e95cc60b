import { parse, type HTMLElement } from 'node-html-parser';

/** Elements whose text is never content. */
const DROP = 'script, style, noscript, iframe, object, embed, template, svg, head, form, button, select, textarea';

export function parseHtml(html: string): HTMLElement {
  return parse(html, { comment: false, blockTextElements: { script: true, style: true, noscript: true, pre: true } });
}

/** Collapse runs of whitespace (including NBSP) to one space and trim. */
export function collapseWhitespace(text: string): string {
  return text.replace(/[\s\u00a0\u200b]+/g, ' ').trim();
}

/** Visible text of an HTML fragment, entities decoded, whitespace collapsed to single spaces. */
export function htmlToText(html: string | null | undefined): string {
  if (!html) return '';
  if (!/[<&]/.test(html)) return collapseWhitespace(html);
  const root = parseHtml(html);
  for (const el of root.querySelectorAll(DROP)) el.remove();
  return collapseWhitespace(root.structuredText);
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

/** Rewrite href/src/poster attributes of an HTML fragment to absolute URLs. Returns the input when nothing is relative. */
export function absolutizeHtml(html: string, base: string | null): string {
  if (!base || !/\s(href|src|poster)\s*=/i.test(html)) return html;
  const root = parseHtml(html);
  let changed = false;
  for (const el of root.querySelectorAll('[href], [src], [poster]')) {
    for (const attr of ['href', 'src', 'poster']) {
      const value = el.getAttribute(attr);
      if (value === undefined || /^(#|[a-z][a-z0-9+.-]*:)/i.test(value.trim())) continue;
      const resolved = resolveUrl(value, base);
      if (resolved && resolved !== value) {
        el.setAttribute(attr, resolved);
        changed = true;
      }
    }
  }
  return changed ? root.toString() : html;
}

const TRACKER = /(pixel\.wp\.com|\/_\/stat\?|feeds\.feedburner\.com\/~r\/|feedburner\.com\/~ff\/|stats\.|\/pixel[./?]|\/track(ing)?[./?]|\bp\.php\?|doubleclick\.net|gravatar\.com\/avatar)/i;

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
  const root = parseHtml(html);
  for (const img of root.querySelectorAll('img')) {
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
  for (const link of root.querySelectorAll('link')) {
    const rel = (link.getAttribute('rel') ?? '').toLowerCase().split(/\s+/);
    const type = (link.getAttribute('type') ?? '').trim();
    if (!rel.includes('alternate') || !FEED_TYPES.test(type)) continue;
    const url = httpUrl(link.getAttribute('href'), base);
    if (url && !found.includes(url) && !/\/comments\/feed\/?$/.test(url)) found.push(url);
  }
  return found;
}
