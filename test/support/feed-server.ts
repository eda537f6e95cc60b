// A local feed server for tests: RSS 2.0 / Atom built from a list of items the test changes, ETag and
// Last-Modified with conditional GET, and the bad feeds blogcord must refuse clearly.
//
//   const feeds = await startFeedServer({ items: [feedItem(1), feedItem(2)] });
//   feeds.url('/rss') · feeds.url('/atom') · feeds.items.push(feedItem(3)) · feeds.failWith = 500
//   bad: /bad/malformed /bad/entity-bomb /bad/huge (30 MB) /bad/html /bad/404 /bad/hang (never finishes)
//   feeds.requests (path, if-none-match) · await feeds.close()
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Socket } from 'node:net';

export interface TestFeedItem {
  /** The guid (RSS) / id (Atom). */
  id: string;
  title: string;
  link: string;
  /** HTML. */
  description: string;
  date: string;
  author?: string;
  /** RSS <category> elements. */
  categories?: string[];
}

export interface FeedServer {
  readonly baseUrl: string;
  url(path?: string): string;
  /** The feed's items (newest first, as feeds list them); change them freely. */
  items: TestFeedItem[];
  title: string;
  /** When set, /rss and /atom answer this HTTP status instead of the feed. */
  failWith: number | null;
  /** When set, /rss and /atom name this WebSub hub (and themselves as rel="self") in a Link header. */
  hub: string | null;
  readonly requests: Array<{ path: string; ifNoneMatch: string | null; userAgent: string | null; status: number }>;
  close(): Promise<void>;
}

/** An item dated `n` hours after a fixed base (so item n+1 is newer than item n). */
export function feedItem(n: number, over: Partial<TestFeedItem> = {}): TestFeedItem {
  return {
    id: `urn:test:post-${n}`,
    title: `Post number ${n}`,
    link: `https://blog.example/posts/${n}`,
    description: `<p>This is <b>post ${n}</b> with a <a href="/about">relative link</a>.</p>`,
    date: new Date(Date.UTC(2026, 10, 1) + n * 3600_000).toISOString(),
    author: 'Rink',
    ...over,
  };
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export function rss(title: string, items: readonly TestFeedItem[]): string {
  const body = items
    .map(
      (i) =>
        `<item><title>${esc(i.title)}</title><link>${esc(i.link)}</link><guid isPermaLink="false">${esc(i.id)}</guid>` +
        `<pubDate>${new Date(i.date).toUTCString()}</pubDate>${i.author ? `<dc:creator>${esc(i.author)}</dc:creator>` : ''}` +
        `${(i.categories ?? []).map((c) => `<category>${esc(c)}</category>`).join('')}<description>${esc(i.description)}</description></item>`,
    )
    .join('\n');
  return `<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>${esc(title)}</title><link>https://blog.example/</link><description>A test blog</description>\n${body}\n</channel></rss>\n`;
}

export function atom(title: string, items: readonly TestFeedItem[]): string {
  const body = items
    .map(
      (i) =>
        `<entry><id>${esc(i.id)}</id><title>${esc(i.title)}</title><link rel="alternate" href="${esc(i.link)}"/><updated>${i.date}</updated><published>${i.date}</published>` +
        `${i.author ? `<author><name>${esc(i.author)}</name></author>` : ''}<summary type="html">${esc(i.description)}</summary></entry>`,
    )
    .join('\n');
  return `<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom"><title>${esc(title)}</title><id>urn:test:feed</id><updated>${new Date().toISOString()}</updated><link href="https://blog.example/"/>\n${body}\n</feed>\n`;
}

const ENTITY_BOMB = `<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss version="2.0"><channel><title>&lol9;</title><item><title>&lol9;</title><link>https://blog.example/x</link></item></channel></rss>`;

const MALFORMED = `<?xml version="1.0"?><rss version="2.0"><channel><title>Broken</title><item><title>Unclosed <b>tag</title></item></channel>`;

const HTML_PAGE = (base: string) =>
  `<!doctype html><html><head><title>A blog</title><link rel="alternate" type="application/rss+xml" href="${base}/rss"></head><body><h1>Welcome</h1></body></html>`;

export async function startFeedServer(opts: { items?: TestFeedItem[]; title?: string } = {}): Promise<FeedServer> {
  const sockets = new Set<Socket>();
  let baseUrl = '';
  const state = {
    items: opts.items ?? [],
    title: opts.title ?? 'The Test Blog',
    failWith: null as number | null,
    hub: null as string | null,
  };
  const requests: FeedServer['requests'] = [];

  const serveFeed = (req: IncomingMessage, res: ServerResponse, kind: 'rss' | 'atom') => {
    if (state.failWith) return void res.writeHead(state.failWith, { 'content-type': 'text/plain' }).end(`failing on purpose (${state.failWith})`);
    const body = kind === 'rss' ? rss(state.title, state.items) : atom(state.title, state.items);
    const etag = `"${createHash('sha1')
      .update(body.replace(/<updated>[^<]*<\/updated>/, ''))
      .digest('hex')
      .slice(0, 16)}"`;
    if (req.headers['if-none-match'] === etag) return void res.writeHead(304, { etag }).end();
    const link = state.hub ? { link: `<${state.hub}>; rel="hub", <${baseUrl}/${kind}>; rel="self"` } : {};
    res
      .writeHead(200, { 'content-type': kind === 'rss' ? 'application/rss+xml; charset=utf-8' : 'application/atom+xml; charset=utf-8', etag, ...link })
      .end(body);
  };

  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    res.on('finish', () => {});
    const record = (status: number) =>
      requests.push({ path, ifNoneMatch: (req.headers['if-none-match'] as string | undefined) ?? null, userAgent: req.headers['user-agent'] ?? null, status });
    res.once('close', () => record(res.statusCode));
    switch (path) {
      case '/rss':
        return serveFeed(req, res, 'rss');
      case '/atom':
        return serveFeed(req, res, 'atom');
      case '/bad/malformed':
        return void res.writeHead(200, { 'content-type': 'application/rss+xml' }).end(MALFORMED);
      case '/bad/entity-bomb':
        return void res.writeHead(200, { 'content-type': 'application/rss+xml' }).end(ENTITY_BOMB);
      case '/bad/html':
        return void res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(HTML_PAGE(baseUrl));
      case '/bad/huge': {
        // 30 MB of a feed that never ends its first title, sent in 64 KB chunks: must be cut while streaming.
        res.writeHead(200, { 'content-type': 'application/rss+xml' });
        res.write('<?xml version="1.0"?><rss version="2.0"><channel><title>');
        const chunk = Buffer.alloc(64 * 1024, 'a');
        let sent = 0;
        const pump = () => {
          while (sent < 30 * 1024 * 1024) {
            sent += chunk.length;
            if (!res.write(chunk)) return void res.once('drain', pump);
          }
          res.end('</title></channel></rss>');
        };
        res.on('close', () => (sent = Infinity));
        return pump();
      }
      case '/bad/hang':
        // Headers and the start of a feed, then nothing: the fetch must give up on its total timeout.
        res.writeHead(200, { 'content-type': 'application/rss+xml' });
        res.write('<?xml version="1.0"?><rss version="2.0"><channel>');
        return;
      default:
        return void res.writeHead(404, { 'content-type': 'text/html' }).end('<h1>Not found</h1>');
    }
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let closed: Promise<void> | null = null;

  return {
    baseUrl,
    url: (path = '/rss') => `${baseUrl}${path}`,
    get items() {
      return state.items;
    },
    set items(v) {
      state.items = v;
    },
    get title() {
      return state.title;
    },
    set title(v) {
      state.title = v;
    },
    get hub() {
      return state.hub;
    },
    set hub(v) {
      state.hub = v;
    },
    get failWith() {
      return state.failWith;
    },
    set failWith(v) {
      state.failWith = v;
    },
    requests,
    close() {
      closed ??= new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      });
      return closed;
    },
  };
}
