import http from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import zlib from 'node:zlib';
import iconv from 'iconv-lite';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { FeedError } from '../../src/feeds/errors.ts';
import { fetchFeed } from '../../src/feeds/fetch.ts';
import { isPublicAddress } from '../../src/feeds/guard.ts';

const UA = 'blogcord/0.1 (+https://github.com/blogcord/blogcord)';
const RSS =
  '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Café</title><item><title>Ünïcode ✓</title><link>https://blog.example/1</link></item></channel></rss>';

let requests: http.IncomingMessage[] = [];
let server: http.Server;
let base = '';

function routes(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://x');
  switch (url.pathname) {
    case '/feed': {
      if (req.headers['if-none-match'] === '"v1"' || req.headers['if-modified-since'] === 'Tue, 02 Jan 2024 00:00:00 GMT') {
        res.writeHead(304).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/rss+xml; charset=utf-8', etag: '"v1"', 'last-modified': 'Tue, 02 Jan 2024 00:00:00 GMT' }).end(RSS);
      return;
    }
    case '/gzip':
      res.writeHead(200, { 'content-type': 'application/rss+xml', 'content-encoding': 'gzip' }).end(zlib.gzipSync(RSS));
      return;
    case '/br':
      res.writeHead(200, { 'content-type': 'application/rss+xml', 'content-encoding': 'br' }).end(zlib.brotliCompressSync(RSS));
      return;
    case '/deflate':
      res.writeHead(200, { 'content-type': 'application/rss+xml', 'content-encoding': 'deflate' }).end(zlib.deflateSync(RSS));
      return;
    case '/latin1-header':
      res
        .writeHead(200, { 'content-type': 'text/xml; charset=ISO-8859-1' })
        .end(iconv.encode('<rss><channel><title>Expansão</title></channel></rss>', 'latin1'));
      return;
    case '/cp1251-prolog':
      res
        .writeHead(200, { 'content-type': 'text/xml' })
        .end(iconv.encode('<?xml version="1.0" encoding="windows-1251"?><rss><channel><title>Новости</title></channel></rss>', 'win1251'));
      return;
    case '/big': {
      // 64 KB chunks forever (well, up to 100 MB): must be cut while streaming.
      res.writeHead(200, { 'content-type': 'application/rss+xml' });
      let sent = 0;
      const chunk = Buffer.alloc(64 * 1024, 'a');
      const pump = () => {
        while (sent < 100 * 1024 * 1024) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      res.on('close', () => (sent = Infinity));
      pump();
      return;
    }
    case '/big-declared':
      res.writeHead(200, { 'content-type': 'application/rss+xml', 'content-length': String(10 * 1024 * 1024) });
      res.end();
      return;
    case '/slow':
      res.writeHead(200, { 'content-type': 'application/rss+xml' });
      res.write('<rss>');
      return; // never ends
    case '/trickle': {
      // A byte every 100 ms, forever: never idle, never done.
      res.writeHead(200, { 'content-type': 'application/rss+xml' });
      const timer = setInterval(() => res.write(' '), 100);
      res.on('close', () => clearInterval(timer));
      return;
    }
    case '/redirect': {
      const n = Number(url.searchParams.get('n') ?? 0);
      res.writeHead(302, { location: n > 0 ? `/redirect?n=${n - 1}` : '/feed' }).end();
      return;
    }
    case '/to-private':
      res.writeHead(301, { location: `http://127.0.0.1:${(server.address() as AddressInfo).port}/feed` }).end();
      return;
    case '/to-private2':
      res.writeHead(302, { location: `http://127.0.0.2:${(server.address() as AddressInfo).port}/feed` }).end();
      return;
    case '/404':
      res.writeHead(404).end('nope');
      return;
    default:
      res.writeHead(500).end();
  }
}

const opts = { allowPrivateNetwork: true, userAgent: UA, timeoutMs: 5000 };

async function expectCode(promise: Promise<unknown>, code: string): Promise<FeedError> {
  try {
    await promise;
  } catch (err) {
    assert.instance(err, FeedError);
    assert.is((err as FeedError).code, code, (err as Error).message);
    return err as FeedError;
  }
  assert.unreachable(`expected ${code}`);
  throw new Error('unreachable');
}

const fetching = suite('fetchFeed against a local server');

fetching.before(async () => {
  server = http.createServer((req, res) => {
    requests.push(req);
    routes(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
fetching.after(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});
fetching.before.each(() => {
  requests = [];
});

fetching('200 with validators, then 304 on a conditional GET; User-Agent names blogcord', async () => {
  const first = await fetchFeed(`${base}/feed`, {}, opts);
  assert.is(first.status, 'ok');
  if (first.status !== 'ok') return;
  assert.ok(first.body.includes('Ünïcode ✓'));
  assert.is(first.etag, '"v1"');
  assert.is(first.lastModified, 'Tue, 02 Jan 2024 00:00:00 GMT');
  assert.is(first.finalUrl, `${base}/feed`);
  assert.match(first.contentType ?? '', /rss/);
  assert.match(String(requests[0]?.headers['user-agent']), /^blogcord\//);
  assert.equal(await fetchFeed(`${base}/feed`, { etag: first.etag }, opts), { status: 'not-modified' });
  assert.equal(await fetchFeed(`${base}/feed`, { lastModified: first.lastModified }, opts), { status: 'not-modified' });
  assert.is(requests[1]?.headers['if-none-match'], '"v1"');
});

fetching('gzip, br and deflate bodies are decoded', async () => {
  for (const path of ['/gzip', '/br', '/deflate']) {
    const r = await fetchFeed(`${base}${path}`, {}, opts);
    assert.ok(r.status === 'ok' && r.body === RSS, path);
  }
  assert.match(String(requests[0]?.headers['accept-encoding']), /br/);
});

fetching('charset from the Content-Type header and from the XML declaration', async () => {
  const a = await fetchFeed(`${base}/latin1-header`, {}, opts);
  assert.ok(a.status === 'ok' && a.body.includes('Expansão'));
  const b = await fetchFeed(`${base}/cp1251-prolog`, {}, opts);
  assert.ok(b.status === 'ok' && b.body.includes('Новости'));
});

fetching('a body bigger than maxBytes is refused while streaming', async () => {
  const t0 = Date.now();
  const err = await expectCode(fetchFeed(`${base}/big`, {}, { ...opts, maxBytes: 1024 * 1024 }), 'too-large');
  assert.is(err.message.split(' (')[0], 'The feed is larger than 1 MB');
  assert.ok(Date.now() - t0 < 3000);
  const declared = await expectCode(fetchFeed(`${base}/big-declared`, {}, { ...opts, maxBytes: 5 * 1024 * 1024 }), 'too-large');
  assert.match(declared.message, /^The feed is larger than 5 MB/);
});

fetching('a slow server hits the total timeout', async () => {
  const t0 = Date.now();
  await expectCode(fetchFeed(`${base}/slow`, {}, { ...opts, timeoutMs: 400 }), 'timeout');
  assert.ok(Date.now() - t0 < 2000);
});

fetching('a trickling body (never idle, never done) hits the total timeout too', async () => {
  const t0 = Date.now();
  const err = await expectCode(fetchFeed(`${base}/trickle`, {}, { ...opts, timeoutMs: 600 }), 'timeout');
  assert.match(err.message, /^The feed took longer than 0\.6 s to download/);
  assert.ok(Date.now() - t0 < 2000);
});

fetching("a stalled feed is reported by the total timeout, never first by undici's own coarse timers", async () => {
  // undici runs its timers of more than a second on a clock that ticks every ~0.5 s and counts a timer from the
  // tick before it was set, so a body timeout as long as the total one sometimes fired first ("stopped answering"
  // where the limit is "took longer than N s"). Move that clock far ahead once the body waits: nothing of undici's
  // may end the download, only the total timeout, and on time.
  const undiciTimers = createRequire(import.meta.url)('undici/lib/util/timers.js') as { tick(ms: number): void };
  const t0 = Date.now();
  const fetching = expectCode(fetchFeed(`${base}/slow`, {}, { ...opts, timeoutMs: 1500 }), 'timeout');
  await new Promise((r) => setTimeout(r, 700));
  undiciTimers.tick(10_000);
  const err = await fetching;
  assert.match(err.message, /^The feed took longer than 1\.5 s to download/);
  assert.ok(Date.now() - t0 >= 1450, `${Date.now() - t0} ms`);
});

fetching('redirects are followed (≤ 5); 6 redirects are too many', async () => {
  const ok = await fetchFeed(`${base}/redirect?n=4`, {}, opts);
  assert.ok(ok.status === 'ok' && ok.finalUrl === `${base}/feed`);
  await expectCode(fetchFeed(`${base}/redirect?n=5`, {}, opts), 'too-many-redirects');
});

fetching('HTTP errors', async () => {
  const err = await expectCode(fetchFeed(`${base}/404`, {}, opts), 'http-status');
  assert.is(err.status, 404);
});

fetching('without allowPrivateNetwork a 127.0.0.1 URL is refused before any request', async () => {
  const err = await expectCode(fetchFeed(`${base}/feed`, {}, { ...opts, allowPrivateNetwork: false }), 'private-address');
  assert.match(err.message, /resolves to 127\.0\.0\.1, a private address; set FEED_ALLOW_PRIVATE_NETWORK=true to allow it/);
  const port = (server.address() as AddressInfo).port;
  await expectCode(fetchFeed(`http://localhost:${port}/feed`, {}, { ...opts, allowPrivateNetwork: false }), 'private-address');
  await expectCode(fetchFeed(`http://[::ffff:127.0.0.1]:${port}/feed`, {}, { ...opts, allowPrivateNetwork: false }), 'private-address');
  await expectCode(fetchFeed(`http://0x7f000001:${port}/feed`, {}, { ...opts, allowPrivateNetwork: false }), 'private-address');
  assert.is(requests.length, 0);
});

fetching('a redirect hop to a private address is refused', async () => {
  // Pretend 127.0.0.1 is "public" (addressPolicy) so the first hop connects; its redirect to 127.0.0.2 is refused.
  const port = (server.address() as AddressInfo).port;
  const policy = { ...opts, allowPrivateNetwork: false, addressPolicy: (a: string) => a === '127.0.0.1' };
  const ok = await fetchFeed(`${base}/feed`, {}, policy);
  assert.is(ok.status, 'ok');
  requests = [];
  const err = await expectCode(fetchFeed(`${base}/to-private2`, {}, policy), 'private-address');
  assert.match(err.message, new RegExp(`127\\.0\\.0\\.2:${port}`));
  assert.is(requests.length, 1); // only the first hop reached a server
  // A name resolving to a private address is refused inside the connection's own DNS lookup (no rebinding window).
  const { guardedLookup } = await import('../../src/feeds/guard.ts');
  const lookup = guardedLookup(() => 'http://rebind.example/feed');
  const result = await new Promise<{ err: unknown; address: unknown }>((resolve) =>
    lookup('localhost', { all: true }, (err, address) => resolve({ err, address })),
  );
  assert.instance(result.err, FeedError);
  assert.is((result.err as FeedError).code, 'private-address');
});

fetching('non-http protocols and invalid URLs are refused', async () => {
  for (const url of ['file:///etc/passwd', 'ftp://example.com/feed', 'gopher://example.com/', 'data:text/xml,<rss/>', 'javascript:alert(1)']) {
    await expectCode(fetchFeed(url, {}, opts), 'unsupported-protocol');
  }
  await expectCode(fetchFeed('not a url', {}, opts), 'invalid-url');
  assert.is(requests.length, 0);
});

const guard = suite('isPublicAddress');

guard('private, loopback, link-local, CGNAT, multicast, unspecified, reserved are not public', () => {
  for (const a of [
    '10.1.2.3',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.1.1',
    '127.0.0.1',
    '127.9.9.9',
    '0.0.0.0',
    '169.254.169.254',
    '100.64.0.1',
    '224.0.0.1',
    '255.255.255.255',
    '192.0.2.1',
    '198.18.0.1',
    '240.0.0.1',
    '::',
    '::1',
    'fe80::1',
    'fc00::1',
    'fd12:3456::1',
    'ff02::1',
    'fec0::1',
    '::ffff:127.0.0.1',
    '::ffff:10.0.0.1',
    '::ffff:7f00:1',
    '64:ff9b::a00:1',
    '2002:a00:1::',
    '::127.0.0.1',
    '100::1',
    '2001:db8::1',
    'fe80::1%eth0',
    'not-an-ip',
    '',
    'localhost',
  ]) {
    assert.is(isPublicAddress(a), false, a);
  }
});

guard('ordinary public addresses are public', () => {
  for (const a of [
    '93.184.216.34',
    '1.1.1.1',
    '8.8.8.8',
    '2606:4700:4700::1111',
    '2a00:1450:4001::200e',
    '::ffff:93.184.216.34',
    '64:ff9b::808:808',
    '[2606:4700::1]',
  ]) {
    assert.is(isPublicAddress(a), true, a);
  }
});

fetching.run();
guard.run();
