// Issue 19 at the service and HTTP level, on SQLite and PostgreSQL: a feed naming a WebSub hub (local, spec-following:
// test/support/websub-hub.ts) is subscribed through the real HTTP API; the hub's verification, denial, signed
// deliveries, lease renewal (time advanced), lapse, unsubscription on removal, the publish hook and the SSRF guard on
// hub URLs. Queue work is recorded by FakeJobs and run here as a worker would (processPushDelivery, maintainPush).
import { createHmac } from 'node:crypto';
import { ChannelType } from 'discord-api-types/v10';
import fc from 'fast-check';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfig, type Config } from '../../src/config.ts';
import { startHttpServer, type RunningHttpServer } from '../../src/http/server.ts';
import { createLogger } from '../../src/logger.ts';
import { getFeed } from '../../src/repositories/feeds.ts';
import { listPosts } from '../../src/repositories/posts.ts';
import { getPushSubscription, updatePushSubscription, type PushSubscription } from '../../src/repositories/push.ts';
import { addFeed, removeFeed } from '../../src/services/feeds.ts';
import {
  answerHubCallback,
  FIRST_RETRY_SECONDS,
  maintainPush,
  pollIntervalOf,
  processPushDelivery,
  pushStatus,
  rotateHookToken,
  subscriptionsToMaintain,
  syncPush,
} from '../../src/services/push.ts';
import { createTestDb, DIALECTS, type TestDb } from '../support/db.ts';
import { FakeDiscord, FakeJobs } from '../support/fakes.ts';
import { feedItem, rss, startFeedServer, type FeedServer } from '../support/feed-server.ts';
import { eventually } from '../support/assert.ts';
import { freePort } from '../support/services.ts';
import { snowflake } from '../support/snowflake.ts';
import { startWebSubHub, type WebSubHub } from '../support/websub-hub.ts';

interface Ctx {
  t: TestDb;
  feeds: FeedServer;
  hub: WebSubHub;
  http: RunningHttpServer;
  config: Config;
  discord: FakeDiscord;
  jobs: FakeJobs;
  lines: string[];
  guildId: string;
  textId: string;
}

const svc = (c: Ctx) => ({
  db: c.t.db,
  discord: c.discord,
  jobs: c.jobs,
  config: c.config,
  log: createLogger('info', { write: (l: string) => void c.lines.push(l) }),
});

/** A content distribution straight to the subscription's callback, signed with its secret (sha256) unless `signed` is false. */
async function deliver(c: Ctx, sub: PushSubscription, body: string | Buffer, headers: Record<string, string> = {}) {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  const res = await fetch(`${c.config.publicUrl}/websub/${sub.callbackId}`, {
    method: 'POST',
    headers: { 'x-hub-signature': `sha256=${createHmac('sha256', sub.secret).update(bytes).digest('hex')}`, ...headers },
    body: new Uint8Array(bytes),
  });
  return { status: res.status, text: await res.text() };
}

/** The deliveries FakeJobs recorded, processed as the feeds worker does; the list is emptied. */
async function runDeliveries(c: Ctx) {
  const out = [];
  for (const d of c.jobs.deliveries.splice(0)) out.push(await processPushDelivery(svc(c), d.feedId, d.body));
  return out;
}

for (const dialect of DIALECTS) {
  const test = suite<Ctx>(`push (WebSub and publish hooks) on ${dialect}`, {} as Ctx);

  test.before(async (c) => {
    c.t = await createTestDb(dialect);
    c.feeds = await startFeedServer({ items: [1, 2].map((n) => feedItem(n)).reverse() });
    c.hub = await startWebSubHub({ maxLeaseSeconds: 120 });
    c.feeds.hub = c.hub.url;
    const port = await freePort();
    c.config = loadConfig(
      {
        FEED_ALLOW_PRIVATE_NETWORK: 'true',
        FEED_TIMEOUT_SECONDS: '5',
        FEED_POLL_INTERVAL_SECONDS: '600',
        FEED_PUSH_POLL_INTERVAL_SECONDS: '3600',
        PUBLIC_URL: `http://127.0.0.1:${port}/`,
      },
      { dotenv: false },
    );
    c.lines = [];
    c.discord = new FakeDiscord();
    c.jobs = new FakeJobs();
    c.http = await startHttpServer(
      { ...svc(c), redisHealth: async () => {}, version: 'test', jobs: c.jobs, discord: c.discord },
      { port, host: '127.0.0.1', rateLimit: { max: 10_000, timeWindowMs: 60_000 } },
    );
  });
  test.after(async (c) => {
    await c.http?.close();
    await c.hub?.close();
    await c.feeds?.close();
    await c.t?.close();
  });
  test.before.each((c) => {
    c.guildId = snowflake();
    c.textId = c.discord.addChannel(c.guildId, ChannelType.GuildText);
    c.jobs.deliveries.length = 0;
    c.hub.now = () => Date.now();
    c.hub.forget(); // every test's feed has the same topic: only its own subscription gets deliveries
    c.hub.refuseWith = null;
    c.hub.offerLease = null;
    c.hub.verifyFirst = false;
  });

  /** Adds the test feed in a new server and waits until the hub verified the subscription. */
  async function subscribed(c: Ctx) {
    const added = await addFeed(svc(c), { guildId: c.guildId, url: c.feeds.url('/rss'), channelId: c.textId });
    const { callbackId } = (await getPushSubscription(c.t.db, added.feed.id))!;
    await c.hub.waitFor((log) => log.some((e) => e.kind === 'verified' && e.mode === 'subscribe' && e.callback.endsWith(callbackId)));
    return added.feed;
  }

  test('PUBLIC_URL is a validated base URL; FEED_PUSH_POLL_INTERVAL_SECONDS defaults to 3600', () => {
    assert.is(c0().publicUrl, null);
    assert.is(c0().feedPushPollIntervalSeconds, 3600);
    assert.is(loadConfig({ PUBLIC_URL: 'https://blogcord.example.com///' }, { dotenv: false }).publicUrl, 'https://blogcord.example.com');
    assert.is(loadConfig({ PUBLIC_URL: 'https://x.example/bot/' }, { dotenv: false }).publicUrl, 'https://x.example/bot');
    for (const bad of ['blogcord.example.com', 'ftp://x.example', 'https://x.example/?a=1', 'https://x.example/#f']) {
      assert.throws(() => loadConfig({ PUBLIC_URL: bad }, { dotenv: false }), /PUBLIC_URL: expected/, bad);
    }
    assert.throws(() => loadConfig({ FEED_PUSH_POLL_INTERVAL_SECONDS: '0' }, { dotenv: false }), /FEED_PUSH_POLL_INTERVAL_SECONDS/);
  });

  test('add → subscribe → verify: polling slows to the safety net; a signed delivery is one new post, a replay nothing', async (c) => {
    const feed = await subscribed(c);
    const sub = (await getPushSubscription(c.t.db, feed.id))!;
    assert.is(sub.state, 'active');
    assert.is(sub.topicUrl, c.feeds.url('/rss'), 'the self link of the Link header is the topic');
    assert.ok(sub.callbackId.length >= 32, 'an unguessable callback');
    const request = c.hub.log.find((e) => e.kind === 'request' && e.callback.endsWith(sub.callbackId));
    assert.ok(request && request.kind === 'request' && request.hasSecret && request.leaseSeconds! > 0, 'hub.secret and hub.lease_seconds sent');
    assert.is(sub.leaseSeconds, 120, 'the lease the hub granted');
    assert.is(c.jobs.intervals.get(feed.id), 3600);
    assert.is(await pollIntervalOf(svc(c), feed.id), 3600);
    const published = c.jobs.published.length;

    const body = rss('The Test Blog', [feedItem(3)]);
    for (const method of ['sha1', 'sha512'] as const) {
      assert.equal(await c.hub.publish(c.feeds.url('/rss'), body, { signWith: method }), [202]);
    }
    assert.is(c.jobs.deliveries.length, 2, 'the handler only verifies and enqueues');
    const results = await runDeliveries(c);
    assert.is(results[0]!.status === 'ok' && results[0]!.new, 1);
    assert.is(results[1]!.status === 'ok' && results[1]!.new, 0, 'the replay stores nothing new');
    assert.is(c.jobs.published.length, published + 1, 'one publish job');
    const posts = await listPosts(c.t.db, { guildId: c.guildId, limit: 10 });
    assert.is(posts.filter((p) => p.title === 'Post number 3').length, 1);
    assert.ok((await getPushSubscription(c.t.db, feed.id))!.lastDeliveryAt, 'the delivery is recorded');
    const status = await pushStatus(svc(c), feed.id);
    assert.is(status.state, 'active');
    assert.is(status.hubUrl, c.hub.url);
    assert.ok(status.activeUntil && status.lastDeliveryAt && status.hookUrl?.startsWith(c.config.publicUrl!));
  });

  test('a delivery with a wrong or missing signature is acknowledged and dropped, with a warning that leaves the body out', async (c) => {
    const feed = await subscribed(c);
    c.lines.length = 0;
    const body = rss('The Test Blog', [feedItem(40, { title: 'Secret words of the post' })]);
    assert.equal(await c.hub.publish(c.feeds.url('/rss'), body, { signWith: 'wrong' }), [202]);
    assert.equal(await c.hub.publish(c.feeds.url('/rss'), body, { signWith: 'none' }), [202]);
    assert.is(c.jobs.deliveries.length, 0, 'nothing queued');
    const warnings = c.lines.filter((l) => l.includes('websub delivery dropped'));
    assert.is(warnings.length, 2);
    assert.not.ok(
      warnings.some((l) => l.includes('Secret words')),
      'the body is never logged',
    );
    assert.ok((await listPosts(c.t.db, { guildId: c.guildId, limit: 10 })).every((p) => p.title !== 'Secret words of the post'));
    assert.is((await getPushSubscription(c.t.db, feed.id))!.lastDeliveryAt, null);
  });

  test('the verification GET is answered only for the pending request it belongs to; unknown callbacks are 404', async (c) => {
    const feed = await subscribed(c);
    const sub = (await getPushSubscription(c.t.db, feed.id))!;
    const get = (callback: string, q: Record<string, string>) =>
      fetch(`${c.config.publicUrl}/websub/${callback}?${new URLSearchParams(q)}`).then(async (r) => ({ status: r.status, text: await r.text() }));
    const topic = sub.topicUrl;
    assert.is(
      (await get(sub.callbackId, { 'hub.mode': 'subscribe', 'hub.topic': topic, 'hub.challenge': 'x1', 'hub.lease_seconds': '9' })).status,
      404,
      'nothing pending',
    );
    assert.is((await get(sub.callbackId, { 'hub.mode': 'unsubscribe', 'hub.topic': topic, 'hub.challenge': 'x2' })).status, 404, 'no unsubscription asked');
    assert.is((await get('A'.repeat(32), { 'hub.mode': 'subscribe', 'hub.topic': topic, 'hub.challenge': 'x3' })).status, 404);
    assert.is((await get(sub.callbackId, { 'hub.mode': 'subscribe', 'hub.topic': 'https://other.example/feed', 'hub.challenge': 'x4' })).status, 404);
    const post = await fetch(`${c.config.publicUrl}/websub/${'B'.repeat(32)}`, { method: 'POST', body: 'x' });
    assert.is(post.status, 404);
    assert.is((await getPushSubscription(c.t.db, feed.id))!.leaseSeconds, 120, 'the lease is untouched');
  });

  test('renewal before the lease ends (time advanced); a lapsed lease returns polling to normal at once', async (c) => {
    const feed = await subscribed(c);
    const sub = (await getPushSubscription(c.t.db, feed.id))!;
    const expires = Date.parse(sub.leaseExpiresAt!);
    assert.is(await maintainPush(svc(c), feed.id, new Date(expires - 100_000)), 'active', 'early in the lease: nothing to do');
    const requests = c.hub.log.filter((e) => e.kind === 'request').length;
    assert.is(await maintainPush(svc(c), feed.id, new Date(expires - 50_000)), 'renewed');
    await c.hub.waitFor((log) => log.filter((e) => e.kind === 'verified').length > 0 && log.filter((e) => e.kind === 'request').length > requests);
    await c.hub.waitFor((log) => log.at(-1)?.kind === 'verified');
    const renewed = (await getPushSubscription(c.t.db, feed.id))!;
    assert.is(renewed.callbackId, sub.callbackId, 'the same callback (the hub renews, not duplicates)');
    assert.ok(Date.parse(renewed.leaseExpiresAt!) > expires, 'a new lease');
    assert.is(await pollIntervalOf(svc(c), feed.id), 3600, 'polling stayed slow through the renewal');

    // The hub stops answering renewals (it is gone): the lease runs out and polling is normal at once.
    c.hub.deny.add('__nothing__');
    const lapsedAt = new Date(Date.parse(renewed.leaseExpiresAt!) + 1000);
    c.config = { ...c.config };
    assert.is(await pollIntervalOf(svc(c), feed.id, lapsedAt), 600, 'past the lease: the normal interval');
    assert.is(await maintainPush(svc(c), feed.id, lapsedAt), 'lapsed');
    assert.is(c.jobs.intervals.get(feed.id), 600, 'the scheduler is back to FEED_POLL_INTERVAL_SECONDS');
  });

  test('hub denial falls back to polling and asks again with backoff', async (c) => {
    c.hub.deny.add(c.feeds.url('/rss'));
    try {
      const added = await addFeed(svc(c), { guildId: c.guildId, url: c.feeds.url('/rss'), channelId: c.textId });
      await c.hub.waitFor((log) => log.some((e) => e.kind === 'denied'));
      await new Promise((r) => setTimeout(r, 100));
      const sub = (await getPushSubscription(c.t.db, added.feed.id))!;
      assert.is(sub.state, 'denied');
      assert.match(sub.lastError!, /does not serve that topic/);
      assert.is(c.jobs.intervals.get(added.feed.id), 600);
      const status = await pushStatus(svc(c), added.feed.id);
      assert.is(status.state, 'denied');
      assert.match(status.reason!, /denied/);
      assert.is(await maintainPush(svc(c), added.feed.id, new Date()), 'denied', 'not before the backoff');
      const requests = c.hub.log.filter((e) => e.kind === 'request').length;
      assert.is(await maintainPush(svc(c), added.feed.id, new Date(Date.parse(sub.nextAttemptAt!) + 1)), 'retried');
      assert.is(c.hub.log.filter((e) => e.kind === 'request').length, requests + 1);
    } finally {
      c.hub.deny.clear();
    }
  });

  test('a restart keeps the subscription: the interval and the maintenance come back from the database', async (c) => {
    const feed = await subscribed(c);
    const fresh = { ...svc(c), jobs: new FakeJobs() };
    assert.is(await pollIntervalOf(fresh, feed.id), 3600);
    assert.ok((await subscriptionsToMaintain(fresh)).some((s) => s.feedId === feed.id));
  });

  test('removing the feed unsubscribes at the hub; a late delivery is answered 410 and ignored', async (c) => {
    const feed = await subscribed(c);
    const sub = (await getPushSubscription(c.t.db, feed.id))!;
    assert.ok(c.hub.subscriptions.some((s) => s.callback.endsWith(sub.callbackId)));
    await removeFeed(svc(c), c.guildId, feed.id);
    await c.hub.waitFor((log) => log.some((e) => e.kind === 'verified' && e.mode === 'unsubscribe' && e.callback.endsWith(sub.callbackId)));
    assert.not.ok(
      c.hub.subscriptions.some((s) => s.callback.endsWith(sub.callbackId)),
      'the hub ended it',
    );
    assert.is((await getPushSubscription(c.t.db, feed.id))!.state, 'unsubscribed');
    const late = await fetch(`${c.config.publicUrl}/websub/${sub.callbackId}`, { method: 'POST', body: 'x' });
    assert.is(late.status, 410);
    assert.is(c.jobs.deliveries.length, 0);
  });

  test('publish hook: 202 and one queued poll, 429 within the rate limit, 404 for a wrong or rotated token', async (c) => {
    const feed = await subscribed(c);
    const status = await pushStatus(svc(c), feed.id);
    const call = (url: string) => fetch(url, { method: 'POST' }).then((r) => r.status);
    const polls = c.jobs.polls.length;
    assert.is(await call(status.hookUrl!), 202);
    assert.is(c.jobs.polls.length, polls + 1);
    assert.is(await call(status.hookUrl!), 429);
    assert.is(c.jobs.polls.length, polls + 1, 'rate-limited per feed');
    assert.is(await call(`${c.config.publicUrl}/hooks/feeds/${'x'.repeat(32)}`), 404);
    const rotated = await rotateHookToken(svc(c), feed.id);
    assert.is(await call(status.hookUrl!), 404, 'the old token is dead');
    assert.ok(rotated.url?.endsWith(rotated.token));
    assert.ok((await pushStatus(svc(c), feed.id)).lastHookCallAt);
  });

  test('the hub URL passes the SSRF guard: a private hub is refused without FEED_ALLOW_PRIVATE_NETWORK', async (c) => {
    const feed = await subscribed(c);
    await removeFeed(svc(c), c.guildId, feed.id);
    const strict = { ...svc(c), config: { ...c.config, feedAllowPrivateNetwork: false } };
    const { syncPush } = await import('../../src/services/push.ts');
    const { upsertFeed } = await import('../../src/repositories/feeds.ts');
    const g = snowflake();
    const { feed: other } = await upsertFeed(c.t.db, { guildId: g, url: 'https://blog.example/feed', channelId: c.textId, title: 'x' });
    const requests = c.hub.log.filter((e) => e.kind === 'request').length;
    const sub = await syncPush(strict, other.id, { hubs: [c.hub.url], self: null });
    assert.is(sub!.state, 'pending');
    assert.match(sub!.lastError!, /private address/);
    assert.is(c.hub.log.filter((e) => e.kind === 'request').length, requests, 'the hub was never called');
  });

  test('without PUBLIC_URL push is off, says why, and polling is as before', async (c) => {
    const off = { ...svc(c), config: { ...c.config, publicUrl: null } };
    const added = await addFeed(off, { guildId: c.guildId, url: c.feeds.url('/rss'), channelId: c.textId });
    assert.is(await getPushSubscription(c.t.db, added.feed.id), null);
    const status = await pushStatus(off, added.feed.id);
    assert.is(status.state, 'off');
    assert.match(status.off!, /PUBLIC_URL/);
    assert.is(status.pollIntervalSeconds, 600);
  });

  test('a hub that cannot be reached, or answers 4xx/5xx, leaves the subscription pending with its reason; asked again with doubling backoff', async (c) => {
    const { upsertFeed } = await import('../../src/repositories/feeds.ts');
    const { feed } = await upsertFeed(c.t.db, { guildId: snowflake(), url: 'https://blog.example/down-feed', channelId: c.textId, title: 'x' });
    const closed = `http://127.0.0.1:${await freePort()}/`;
    const t0 = new Date();
    let sub = (await syncPush(svc(c), feed.id, { hubs: [closed], self: null }, t0))!;
    assert.is(sub.state, 'pending');
    assert.match(sub.lastError!, /Could not reach the hub 127\.0\.0\.1/);
    assert.is(Date.parse(sub.nextAttemptAt!) - t0.getTime(), FIRST_RETRY_SECONDS * 1000, 'first retry after a minute');
    assert.is(c.jobs.intervals.get(feed.id), 600, 'polled as normal');
    assert.is(await maintainPush(svc(c), feed.id, new Date(t0.getTime() + 30_000)), 'pending', 'not before the backoff');

    // The hub is back but refuses: 503, then 400; each attempt waits twice as long as the one before.
    for (const [status, attempt] of [
      [503, 2],
      [400, 3],
    ] as const) {
      c.hub.refuseWith = status;
      const at = new Date(Date.parse(sub.nextAttemptAt!) + 1);
      await updateHub(c, feed.id, c.hub.url);
      assert.is(await maintainPush(svc(c), feed.id, at), 'retried');
      sub = (await getPushSubscription(c.t.db, feed.id))!;
      assert.is(sub.state, 'pending');
      assert.is(sub.attempts, attempt);
      assert.match(sub.lastError!, new RegExp(`refused the subscribe request: HTTP ${status} \\(the hub is not taking requests now\\)`));
      assert.is(Date.parse(sub.nextAttemptAt!) - at.getTime(), FIRST_RETRY_SECONDS * 2 ** (attempt - 1) * 1000);
      assert.is(c.jobs.intervals.get(feed.id) ?? 600, 600);
    }
    const status = await pushStatus(svc(c), feed.id);
    assert.is(status.state, 'pending');
    assert.match(status.reason!, /HTTP 400/);
    assert.ok(status.nextAttemptAt);

    // It takes requests again: the next attempt is verified and push is active.
    c.hub.refuseWith = null;
    assert.is(await maintainPush(svc(c), feed.id, new Date(Date.parse(sub.nextAttemptAt!) + 1)), 'retried');
    await eventually(async () => (await getPushSubscription(c.t.db, feed.id))!.state === 'active', { message: 'verified' });
    const active = (await getPushSubscription(c.t.db, feed.id))!;
    assert.is(active.attempts, 0, 'the backoff starts over');
    assert.is(active.lastError, null);
  });

  test('a verification granting a lease of 0 s (or no number) is not confirmed: 404, still pending, polled as normal', async (c) => {
    for (const offered of ['0', '-5', 'forever', '1.5']) {
      c.hub.offerLease = offered;
      c.hub.log.length = 0;
      const guildId = snowflake();
      const channelId = c.discord.addChannel(guildId, ChannelType.GuildText);
      const added = await addFeed(svc(c), { guildId, url: c.feeds.url('/rss'), channelId });
      const sub = (await getPushSubscription(c.t.db, added.feed.id))!;
      await c.hub.waitFor((log) => log.some((e) => e.kind === 'refused' && e.callback.endsWith(sub.callbackId)));
      const refused = c.hub.log.find((e) => e.kind === 'refused')!;
      assert.is(refused.kind === 'refused' && refused.status, 404, offered);
      const after = (await getPushSubscription(c.t.db, added.feed.id))!;
      assert.is(after.state, 'pending', offered);
      assert.is(after.leaseExpiresAt, null);
      assert.match(after.lastError!, /granted no usable lease/);
      assert.ok(after.nextAttemptAt, 'asked again later');
      assert.is(await pollIntervalOf(svc(c), added.feed.id), 600, 'polled as normal');
    }
    // Without hub.lease_seconds at all (a hub that leaves it out): the lease asked for.
    c.hub.offerLease = null;
  });

  test('a delivery larger than FEED_MAX_BYTES is refused (413) and nothing is queued', async (c) => {
    const feed = await subscribed(c);
    const sub = (await getPushSubscription(c.t.db, feed.id))!;
    const huge = Buffer.alloc(c.config.feedMaxBytes + 1, 0x20);
    const answer = await deliver(c, sub, huge, { 'content-type': 'application/rss+xml' });
    assert.is(answer.status, 413);
    assert.is(c.jobs.deliveries.length, 0);
    const atLimit = Buffer.concat([Buffer.from(rss('The Test Blog', [feedItem(61)])), Buffer.alloc(1000, 0x20)]);
    assert.is((await deliver(c, sub, atLimit, { 'content-type': 'application/rss+xml' })).status, 202, 'a large body within the limit is taken');
    assert.is(c.jobs.deliveries.length, 1);
    c.jobs.deliveries.length = 0;
  });

  test('any content type is taken on its signature: a feed is read whatever it is labelled, anything else is dropped by the worker without failing the feed', async (c) => {
    const feed = await subscribed(c);
    const sub = (await getPushSubscription(c.t.db, feed.id))!;
    const latin1 = Buffer.from(rss('The Test Blog', [feedItem(70, { title: 'Café crème' })]).replace('encoding="utf-8"', 'encoding="iso-8859-1"'), 'latin1');
    const json = JSON.stringify({
      version: 'https://jsonfeed.org/version/1.1',
      title: 'The Test Blog',
      items: [
        {
          id: 'urn:test:post-71',
          url: 'https://blog.example/posts/71',
          title: 'Post number 71',
          content_html: '<p>json</p>',
          date_published: '2026-11-20T00:00:00Z',
        },
      ],
    });
    const cases: Array<[string, string | Buffer, Record<string, string>]> = [
      ['latin-1 labelled by its content type', latin1, { 'content-type': 'application/rss+xml; charset=iso-8859-1' }],
      ['a JSON Feed', json, { 'content-type': 'application/feed+json' }],
      ['an RSS feed labelled text/plain', rss('The Test Blog', [feedItem(72)]), { 'content-type': 'text/plain' }],
      ['an RSS feed with an unknown charset label', rss('The Test Blog', [feedItem(73)]), { 'content-type': 'application/rss+xml; charset=x-nonsense' }],
      ['an HTML page', '<!doctype html><html><body><p>Not a feed</p></body></html>', { 'content-type': 'text/html' }],
      ['a form', 'a=1&b=2', { 'content-type': 'application/x-www-form-urlencoded' }],
      ['no content type at all', 'just bytes', {}],
    ];
    for (const [what, body, headers] of cases) assert.is((await deliver(c, sub, body, headers)).status, 202, what);
    assert.is(c.jobs.deliveries.length, cases.length, 'all verified and queued');
    const results = await runDeliveries(c);
    for (const [i, [what]] of cases.entries()) {
      const r = results[i]!;
      if (i < 4) assert.ok(r.status === 'ok' && r.new === 1, `${what}: one new post (${JSON.stringify(r)})`);
      else assert.equal(r, { status: 'skipped', reason: 'bad-delivery' }, what);
    }
    const titles = (await listPosts(c.t.db, { guildId: c.guildId, limit: 20 })).map((p) => p.title);
    for (const t of ['Café crème', 'Post number 71', 'Post number 72', 'Post number 73']) assert.ok(titles.includes(t), t);
    const after = (await getFeed(c.t.db, feed.id))!;
    assert.is(after.consecutiveFailures, 0, 'a bad delivery is not a failed poll of the feed');
    assert.is(after.state, 'active');
  });

  test('verifications without a challenge, of another mode or after the feed moved on are 404', async (c) => {
    const feed = await subscribed(c);
    const sub = (await getPushSubscription(c.t.db, feed.id))!;
    const get = (q: Record<string, string>) => fetch(`${c.config.publicUrl}/websub/${sub.callbackId}?${new URLSearchParams(q)}`).then((r) => r.status);
    // A renewal is pending: only a subscribe verification with a challenge for that topic is answered.
    assert.is(await maintainPush(svc(c), feed.id, new Date(Date.parse(sub.leaseExpiresAt!) - 50_000)), 'renewed');
    await c.hub.waitFor((log) => log.filter((e) => e.kind === 'verified' && e.callback.endsWith(sub.callbackId)).length === 2);
    c.hub.refuseWith = 503;
    await maintainPush(svc(c), feed.id, new Date(Date.parse((await getPushSubscription(c.t.db, feed.id))!.leaseExpiresAt!) - 50_000));
    assert.is(await get({ 'hub.mode': 'subscribe', 'hub.topic': sub.topicUrl, 'hub.lease_seconds': '60' }), 404, 'no challenge');
    assert.is(await get({ 'hub.mode': 'publish', 'hub.topic': sub.topicUrl, 'hub.challenge': 'c' }), 404, 'an unknown mode');
    assert.is(await get({ 'hub.mode': 'denied', 'hub.topic': 'https://elsewhere.example/feed', 'hub.reason': 'x' }), 404, 'a denial of another topic');
    await removeFeed(svc(c), c.guildId, feed.id);
    assert.is(await get({ 'hub.mode': 'subscribe', 'hub.topic': sub.topicUrl, 'hub.challenge': 'c', 'hub.lease_seconds': '60' }), 404, 'after removal');
    assert.is(await get({ 'hub.mode': 'denied', 'hub.topic': sub.topicUrl }), 404, 'a denial of an ended subscription');
  });

  test('property: any query at a callback gets 200 only for the pending request (with its challenge and a usable lease) or a denial of its topic; nothing throws', async (c) => {
    const feed = await subscribed(c);
    const sub = (await getPushSubscription(c.t.db, feed.id))!;
    const pending = () => updatePushSubscription(c.t.db, feed.id, { state: 'pending', pendingMode: 'subscribe', leaseExpiresAt: null });
    const optional = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
    await fc.assert(
      fc.asyncProperty(
        optional(fc.constantFrom('subscribe', 'unsubscribe', 'denied', 'publish', '')),
        optional(fc.constantFrom(sub.topicUrl, `${sub.topicUrl}x`, '')),
        optional(fc.string({ maxLength: 40 })),
        optional(fc.oneof(fc.string({ maxLength: 12 }), fc.integer({ min: -5, max: 10_000_000 }).map(String), fc.constant('1e3'))),
        optional(fc.string({ maxLength: 400 })),
        async (mode, topic, challenge, lease, reason) => {
          await pending();
          const query = { 'hub.mode': mode, 'hub.topic': topic, 'hub.challenge': challenge, 'hub.lease_seconds': lease, 'hub.reason': reason };
          const answer = await answerHubCallback(svc(c), sub.callbackId, query);
          const after = (await getPushSubscription(c.t.db, feed.id))!;
          const leaseOk = lease === undefined || (Number.isSafeInteger(Number(lease)) && Number(lease) > 0);
          if (topic === sub.topicUrl && mode === 'denied') {
            assert.is(answer.status, 200);
            assert.is(after.state, 'denied');
            assert.ok(after.lastError!.length <= 400 && !/[\u0000-\u001f]/.test(after.lastError!), 'the reason is capped and printable');
          } else if (topic === sub.topicUrl && mode === 'subscribe' && challenge && leaseOk) {
            assert.equal(answer, { status: 200, body: challenge });
            assert.is(after.state, 'active');
            assert.ok(Date.parse(after.leaseExpiresAt!) > Date.now());
          } else {
            assert.is(answer.status, 404);
            assert.is(after.state, 'pending');
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  test('a hub that verifies before it answers the request: active, with no retry planned and no error', async (c) => {
    c.hub.verifyFirst = true;
    const feed = await subscribed(c);
    const sub = (await getPushSubscription(c.t.db, feed.id))!;
    assert.is(sub.state, 'active');
    assert.is(sub.nextAttemptAt, null, 'nothing waits for a verification');
    assert.is(sub.lastError, null);
    assert.is(sub.pendingMode, null);
    const requests = c.hub.log.filter((e) => e.kind === 'request').length;
    assert.is(await maintainPush(svc(c), feed.id, new Date(Date.now() + 20_000)), 'active', 'not asked again');
    assert.is(c.hub.log.filter((e) => e.kind === 'request').length, requests);
  });

  test.run();
}

const c0 = () => loadConfig({}, { dotenv: false });

/** Points a feed's subscription at another hub URL (the hub of the retries). */
async function updateHub(c: Ctx, feedId: string, hubUrl: string) {
  await c.t.db.kysely.updateTable('push_subscriptions').set({ hub_url: hubUrl }).where('feed_id', '=', feedId).execute();
}
