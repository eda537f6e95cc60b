// A small local WebSub hub for tests, following the W3C Recommendation (§5–§7): subscription requests (form POST,
// 202 Accepted) with verification of intent at the callback (a random hub.challenge that must come back in a 2xx
// body), leases (the hub grants min(requested, maxLeaseSeconds) and lets them run out on its clock), unsubscription
// (verified the same way), denial (GET hub.mode=denied with hub.reason) of topics the test refuses, and signed
// content distribution (X-Hub-Signature: method=HMAC(secret, body)).
//
//   const hub = await startWebSubHub({ maxLeaseSeconds: 60 });
//   hub.url · hub.deny.add(topic) · hub.refuseWith = 503 (requests answered so, until null) · hub.verifyFirst = true · await hub.publish(topic, body, { contentType, signWith: 'sha256' | 'wrong' | 'none' })
//   hub.subscriptions (active ones) · hub.log (requests and verifications) · hub.now = () => … · await hub.close()
import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface HubSubscription {
  topic: string;
  callback: string;
  secret: string | null;
  leaseSeconds: number;
  expiresAt: number;
}

export type HubEvent =
  | { kind: 'request'; mode: string; topic: string; callback: string; leaseSeconds: number | null; hasSecret: boolean }
  | { kind: 'verified'; mode: string; topic: string; callback: string; status: number }
  | { kind: 'refused'; mode: string; topic: string; callback: string; status: number }
  | { kind: 'denied'; topic: string; callback: string }
  | { kind: 'delivered'; topic: string; callback: string; status: number };

export interface WebSubHub {
  readonly url: string;
  /** Topics whose subscriptions the hub denies. */
  readonly deny: Set<string>;
  /** While set, every (un)subscription request is answered with this status (and a short text) and not verified. */
  refuseWith: number | null;
  /** While set, the verification GET offers this hub.lease_seconds instead of the lease granted. */
  offerLease: string | null;
  /** While true, a request is verified before the hub answers it (as some hubs do), not after. */
  verifyFirst: boolean;
  readonly log: HubEvent[];
  /** The hub's clock (ms); tests move it to let leases run out. */
  now: () => number;
  /** Subscriptions verified and not expired on the hub's clock. */
  readonly subscriptions: HubSubscription[];
  /** Distributes `body` to every active subscriber of `topic`; resolves with the callbacks' statuses. */
  publish(
    topic: string,
    body: string,
    opts?: { contentType?: string; signWith?: 'sha1' | 'sha256' | 'sha384' | 'sha512' | 'wrong' | 'none' },
  ): Promise<number[]>;
  /** Drops every subscription (as if the hub lost them). */
  forget(): void;
  /** Resolves once `predicate` holds for the log (polling every 20 ms, at most `timeoutMs`). */
  waitFor(predicate: (log: HubEvent[]) => boolean, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startWebSubHub(opts: { maxLeaseSeconds?: number; defaultLeaseSeconds?: number } = {}): Promise<WebSubHub> {
  const maxLease = opts.maxLeaseSeconds ?? 864_000;
  const defaultLease = opts.defaultLeaseSeconds ?? Math.min(maxLease, 86_400);
  const subs = new Map<string, HubSubscription>(); // topic + callback
  const log: HubEvent[] = [];
  const sockets = new Set<Socket>();
  const state = {
    now: () => Date.now(),
    deny: new Set<string>(),
    refuseWith: null as number | null,
    offerLease: null as string | null,
    verifyFirst: false,
  };
  const key = (topic: string, callback: string) => `${topic}\n${callback}`;

  /** §5.3: the hub GETs the callback with the challenge; a 2xx echoing it confirms. */
  async function verify(mode: string, topic: string, callback: string, secret: string | null, requested: number | null) {
    if (mode === 'subscribe' && state.deny.has(topic)) {
      const url = new URL(callback);
      url.searchParams.set('hub.mode', 'denied');
      url.searchParams.set('hub.topic', topic);
      url.searchParams.set('hub.reason', 'this hub does not serve that topic to you');
      await fetch(url).catch(() => null);
      log.push({ kind: 'denied', topic, callback });
      return;
    }
    const challenge = randomBytes(16).toString('hex');
    const lease = Math.min(requested ?? defaultLease, maxLease);
    const url = new URL(callback);
    url.searchParams.set('hub.mode', mode);
    url.searchParams.set('hub.topic', topic);
    url.searchParams.set('hub.challenge', challenge);
    if (mode === 'subscribe') url.searchParams.set('hub.lease_seconds', state.offerLease ?? String(lease));
    const res = await fetch(url).catch(() => null);
    const text = res ? await res.text() : '';
    const status = res?.status ?? 0;
    if (status >= 200 && status < 300 && text === challenge) {
      if (mode === 'subscribe') subs.set(key(topic, callback), { topic, callback, secret, leaseSeconds: lease, expiresAt: state.now() + lease * 1000 });
      else subs.delete(key(topic, callback));
      log.push({ kind: 'verified', mode, topic, callback, status });
    } else {
      log.push({ kind: 'refused', mode, topic, callback, status });
    }
  }

  const server: Server = createServer((req, res) => {
    if (req.method !== 'POST') return void res.writeHead(405).end();
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      const mode = form.get('hub.mode') ?? '';
      const topic = form.get('hub.topic') ?? '';
      const callback = form.get('hub.callback') ?? '';
      const lease = form.get('hub.lease_seconds');
      if (!['subscribe', 'unsubscribe'].includes(mode) || !topic || !/^https?:\/\//.test(callback)) {
        return void res.writeHead(400, { 'content-type': 'text/plain' }).end('hub.mode, hub.topic and hub.callback are required');
      }
      const secret = form.get('hub.secret');
      if (secret && secret.length >= 200) return void res.writeHead(400).end('hub.secret must be under 200 bytes');
      log.push({ kind: 'request', mode, topic, callback, leaseSeconds: lease ? Number(lease) : null, hasSecret: !!secret });
      if (state.refuseWith !== null) return void res.writeHead(state.refuseWith, { 'content-type': 'text/plain' }).end('the hub is not taking requests now');
      // Verification happens after the 202, asynchronously (§5.2); a hub that verifies first answers after it.
      if (state.verifyFirst) return void verify(mode, topic, callback, secret, lease ? Number(lease) : null).then(() => res.writeHead(202).end());
      res.writeHead(202).end();
      setTimeout(() => void verify(mode, topic, callback, secret, lease ? Number(lease) : null), 5);
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const active = () => [...subs.values()].filter((s) => s.expiresAt > state.now());

  return {
    url,
    deny: state.deny,
    log,
    get refuseWith() {
      return state.refuseWith;
    },
    set refuseWith(v) {
      state.refuseWith = v;
    },
    get verifyFirst() {
      return state.verifyFirst;
    },
    set verifyFirst(v) {
      state.verifyFirst = v;
    },
    get offerLease() {
      return state.offerLease;
    },
    set offerLease(v) {
      state.offerLease = v;
    },
    get now() {
      return state.now;
    },
    set now(fn) {
      state.now = fn;
    },
    get subscriptions() {
      return active();
    },
    async publish(topic, body, o = {}) {
      const statuses: number[] = [];
      for (const sub of active().filter((s) => s.topic === topic)) {
        const headers: Record<string, string> = { 'content-type': o.contentType ?? 'application/rss+xml; charset=utf-8' };
        const method = o.signWith ?? 'sha256';
        if (sub.secret && method !== 'none') {
          headers['x-hub-signature'] =
            method === 'wrong'
              ? `sha256=${createHmac('sha256', 'not the secret').update(body).digest('hex')}`
              : `${method}=${createHmac(method, sub.secret).update(body).digest('hex')}`;
        }
        const res = await fetch(sub.callback, { method: 'POST', headers, body });
        await res.text();
        statuses.push(res.status);
        log.push({ kind: 'delivered', topic, callback: sub.callback, status: res.status });
      }
      return statuses;
    },
    forget() {
      subs.clear();
    },
    async waitFor(predicate, timeoutMs = 5000) {
      const until = Date.now() + timeoutMs;
      while (!predicate(log)) {
        if (Date.now() > until) throw new Error(`websub hub: condition not met within ${timeoutMs} ms; log: ${JSON.stringify(log)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
