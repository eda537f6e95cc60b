// The form of a post's link that survives a blog changing platforms, and the one comparison of post links: the
// poll recognises a post whose guid changed by it (src/services/feeds.ts), and the lookups by URL (the HTTP API,
// /blog show, /publish) find a post by it. Stored in posts.canonical_link (migration 006, kept by the posts
// repository) so those compare through an index: changing a rule here needs a migration that recomputes it.
// Pure; no I/O.

/** Query parameters that only say where a click came from (analytics and ad click ids), never which page. */
const TRACKING_PARAMS = new Set([
  'fbclid',
  'gclid',
  'dclid',
  'gbraid',
  'wbraid',
  'msclkid',
  'yclid',
  'igshid',
  'mc_cid',
  'mc_eid',
  '_hsenc',
  '_hsmi',
  'mkt_tok',
]);

export const isTrackingParam = (name: string): boolean => {
  const n = name.toLowerCase();
  return n.startsWith('utm_') || TRACKING_PARAMS.has(n);
};

/**
 * The canonical form of a post link, or null when it is not an http(s) URL. Two links with the same canonical
 * form name the same article: host lower-cased (WHATWG parsing also drops a default port and resolves `.`/`..`),
 * http and https alike, no fragment, no trailing slash, no utm_* or click-id parameters, the remaining query
 * parameters sorted by name. The path keeps its case (servers tell /Post and /post apart).
 */
export function canonicalLink(link: string | null | undefined): string | null {
  if (!link) return null;
  let url: URL;
  try {
    url = new URL(link.trim());
  } catch {
    return null;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
  const params = [...url.searchParams].filter(([name]) => !isTrackingParam(name));
  // A stable sort by name keeps repeated parameters (a=1&a=2) in their order.
  params.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const query = params.length ? `?${new URLSearchParams(params).toString()}` : '';
  const path = url.pathname.replace(/\/+$/, '');
  return `${url.host}${path}${query}`;
}
