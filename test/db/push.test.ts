// Issue 19 at the service and HTTP level, on SQLite and PostgreSQL: a feed naming a WebSub hub (local, spec-following:
// test/support/websub-hub.ts) is subscribed through the real HTTP API; the hub's verification, denial, signed
// deliveries, lease renewal (time advanced), lapse, unsubscription on removal, the publish hook and the SSRF guard on
// hub URLs. Queue work is recorded by FakeJobs and run here as a worker would (processPushDelivery, maintainPush).
import { ChannelType } from 'discord-api-types/v10';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfig, type Config } from '../../src/config.ts';
import { startHttpServer, type RunningHttpServer } from '../../src/http/server.ts';
import { createLogger } from '../../src/logger.ts';
import { listPosts } from '../../src/repositories/posts.ts';
import { getPushSubscription } from '../../src/repositories/push.ts';
import { addFeed, removeFeed } from '../../src/services/feeds.ts';
import { maintainPush, pollIntervalOf, processPushDelivery, pushStatus, rotateHookToken, subscriptionsToMaintain } from '../../src/services/push.ts';
import { createTestDb, DIALECTS, type TestDb } from '../support/db.ts';
import { FakeDiscord, FakeJobs } from '../support/fakes.ts';
import { feedItem, rss, startFeedServer, type FeedServer } from '../support/feed-server.ts';
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

  test.run();
}

const c0 = () => loadConfig({}, { dotenv: false });
