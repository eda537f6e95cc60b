/**
 * The blog-facing HTTP API on both databases (fastify inject), plus a real listen on an ephemeral port.
 * Run alone: npx tsx test/web/http.test.ts
 */
import { connect, createServer, type Socket } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { FastifyInstance } from 'fastify';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { VERSION } from '../../src/context.ts';
import { createHttpServer, startHttpServer, type HttpContext, type HttpServerOptions } from '../../src/http/server.ts';
import { createLogger } from '../../src/logger.ts';
import { listComments, markCommentsDeleted, upsertComments } from '../../src/repositories/comments.ts';
import { setFeedWeb, upsertFeed } from '../../src/repositories/feeds.ts';
import { setPublishState, upsertPostFromFeed, type Post } from '../../src/repositories/posts.ts';
import { listRatings } from '../../src/repositories/ratings.ts';
import { setRating } from '../support/ratings.ts';
import type { CommentNode, PostView } from '../../src/services/blog.ts';
import { DIALECTS, createTestDb, type TestDb } from '../support/db.ts';
import { loadSeed, seedDiscussion, SEED_URL } from '../support/fixtures.ts';
import { snowflake } from '../support/snowflake.ts';

const BLOG_ORIGIN = 'https://digitalstrategy.rsm.nl';
const log = createLogger('silent');

function context(db: TestDb['db'], env: Record<string, string> = {}, redisHealth: () => Promise<void> = async () => {}): HttpContext {
  return { config: loadConfig({ HTTP_CORS_ORIGINS: `${BLOG_ORIGIN}/`, ...env }, { dotenv: false }), log, db, version: VERSION, redisHealth };
}

async function app(
  db: TestDb['db'],
  opts: HttpServerOptions & { env?: Record<string, string>; redisHealth?: () => Promise<void> } = {},
): Promise<FastifyInstance> {
  return createHttpServer(context(db, opts.env, opts.redisHealth), { rateLimit: { max: 10_000, timeWindowMs: 60_000 }, ...opts });
}

function flatten(nodes: CommentNode[], depth = 0, out: Array<{ node: CommentNode; depth: number }> = []) {
  for (const node of nodes) {
    out.push({ node, depth });
    flatten(node.replies, depth + 1, out);
  }
  return out;
}

/** A second post: a reply with an attachment, a mention of a person, and a deleted reply that has a reply. */
async function seedSecondPost(db: TestDb['db'], guildId: string) {
  const { feed } = await upsertFeed(db, { guildId, url: 'https://second.example/feed', channelId: snowflake() });
  const { post } = await upsertPostFromFeed(
    db,
    feed,
    {
      key: 'p2',
      url: 'https://second.example/p2',
      title: 'Second post',
      author: 'Ann',
      publishedAt: '2026-11-20T10:00:00.000Z',
      summaryHtml: '<p>Two</p>',
      searchText: 'Second post Two',
      imageUrl: null,
      contentHash: 'h2',
    },
    'pending',
  );
  const threadId = snowflake();
  await setPublishState(db, post.id, { state: 'published', channelId: feed.channelId, messageId: threadId, threadId });
  const alice = snowflake();
  const bob = snowflake();
  const t0 = Date.parse('2026-11-20T11:00:00Z');
  const ids = [snowflake(t0), snowflake(t0 + 1000), snowflake(t0 + 2000)];
  await upsertComments(db, [
    {
      id: ids[0]!,
      postId: post.id,
      threadId,
      authorId: alice,
      authorName: 'Alice',
      content: 'soon to be deleted',
      replyToId: null,
      attachments: [],
      createdAt: new Date(t0).toISOString(),
      editedAt: null,
    },
    {
      id: ids[1]!,
      postId: post.id,
      threadId,
      authorId: bob,
      authorName: 'Bob',
      content: `I agree <@${alice}>, and <@!${snowflake()}> too`,
      replyToId: ids[0]!,
      attachments: [{ url: 'https://cdn.discordapp.com/attachments/1/2/chart.png', name: 'chart.png', contentType: 'image/png' }],
      createdAt: new Date(t0 + 1000).toISOString(),
      editedAt: null,
    },
    {
      id: ids[2]!,
      postId: post.id,
      threadId,
      authorId: alice,
      authorName: 'Alice',
      content: 'a second thought',
      replyToId: null,
      attachments: [],
      createdAt: new Date(t0 + 2000).toISOString(),
      editedAt: null,
    },
  ]);
  await markCommentsDeleted(db, [ids[0]!], new Date(t0 + 5000).toISOString());
  await setRating(db, post.id, bob, 4, new Date(t0).toISOString());
  return { post, ids, alice, bob };
}

for (const dialect of DIALECTS) {
  const test = suite<{
    t: TestDb;
    app: FastifyInstance;
    seed: { post: Post; idOf: Map<string, string>; guildId: string };
    second: Awaited<ReturnType<typeof seedSecondPost>>;
    known: Post;
  }>(`http api (${dialect})`);

  test.before(async (ctx) => {
    ctx.t = await createTestDb(dialect);
    ctx.seed = await seedDiscussion(ctx.t.db);
    ctx.second = await seedSecondPost(ctx.t.db, ctx.seed.guildId);
    const { feed } = await upsertFeed(ctx.t.db, { guildId: ctx.seed.guildId, url: 'https://old.example/feed', channelId: snowflake() });
    ctx.known = (
      await upsertPostFromFeed(
        ctx.t.db,
        feed,
        {
          key: 'old',
          url: 'https://old.example/old',
          title: 'Old known post',
          author: null,
          publishedAt: '2020-01-01T00:00:00.000Z',
          summaryHtml: null,
          searchText: 'Old known post',
          imageUrl: null,
          contentHash: 'o',
        },
        'known',
      )
    ).post;
    // The server put all three feeds on the web (/web enable): what is served here is the answer of a public feed.
    for (const id of [ctx.seed.post.feedId, ctx.second.post.feedId, feed.id]) await setFeedWeb(ctx.t.db, id, true);
    ctx.app = await app(ctx.t.db);
  });

  test.after(async (ctx) => {
    await ctx.app?.close();
    await ctx.t?.close();
  });

  test('GET /api/posts?url= gives the seed post: rating, 22 replies, the exact reply tree', async ({ app, seed }) => {
    const res = await app.inject({ method: 'GET', url: `/api/posts?url=${encodeURIComponent(SEED_URL)}` });
    assert.is(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^application\/json/);
    const view = res.json() as PostView;
    assert.is(view.id, seed.post.id);
    assert.is(view.url, SEED_URL);
    assert.equal(view.rating, { average: 5, count: 2, distribution: { '1': 0, '2': 0, '3': 0, '4': 0, '5': 2 }, label: '★ 5/5 (2 ratings)' });
    assert.is(view.replies, 22);
    assert.is(view.discord.threadUrl, `https://discord.com/channels/${seed.guildId}/${seed.post.threadId}`);
    assert.is(view.discord.messageUrl, `https://discord.com/channels/${seed.guildId}/${seed.post.channelId}/${seed.post.messageId}`);
    assert.ok(view.summary.length > 20 && !view.summary.includes('<p>'), 'summary as plain text');

    const all = flatten(view.comments);
    assert.is(all.length, 22);
    assert.is(view.comments.length, 11);
    assert.is(all.filter((n) => n.depth === 1).length, 10);
    assert.is(all.filter((n) => n.depth === 2).length, 1);
    // The same tree as the fixture: every comment under its parent, in order, with author and text.
    const { comments } = loadSeed();
    const byId = new Map(all.map((n) => [n.node.id, n]));
    for (const c of comments) {
      const got = byId.get(seed.idOf.get(c.id)!);
      assert.ok(got, `comment ${c.id} is in the tree`);
      assert.is(got!.depth, c.depth, `depth of ${c.id}`);
      assert.ok(!got!.node.deleted);
      if (!got!.node.deleted) {
        assert.is(got!.node.author, c.author);
        assert.is(got!.node.content, c.text);
        assert.match(got!.node.createdAt, /^\d{4}-\d\d-\d\dT/);
      }
      const children = comments.filter((x) => x.replyTo === c.id).map((x) => seed.idOf.get(x.id));
      assert.equal(
        got!.node.replies.map((r) => r.id),
        children,
        `replies of ${c.id}`,
      );
    }
    const c10 = byId.get(seed.idOf.get('c10')!)!;
    assert.is(c10.depth, 2, 'the reply to a reply is nested twice');
  });

  test('GET /api/posts/:id gives the same answer; a trailing-slash URL variant finds it too', async ({ app, seed }) => {
    const byUrl = await app.inject({ method: 'GET', url: `/api/posts?url=${encodeURIComponent(SEED_URL)}` });
    const byId = await app.inject({ method: 'GET', url: `/api/posts/${seed.post.id}` });
    assert.is(byId.statusCode, 200);
    assert.equal(byId.json(), byUrl.json());
    const bare = await app.inject({ method: 'GET', url: `/api/posts?url=${encodeURIComponent(SEED_URL.replace(/\/$/, ''))}` });
    assert.is(bare.statusCode, 200);
    assert.is(bare.json().id, seed.post.id);
    const inGuild = await app.inject({ method: 'GET', url: `/api/posts/${seed.post.id}?guild=${seed.guildId}` });
    assert.is(inGuild.statusCode, 200);
    const otherGuild = await app.inject({ method: 'GET', url: `/api/posts/${seed.post.id}?guild=${snowflake()}` });
    assert.is(otherGuild.statusCode, 404);
  });

  test('GET /api/posts?url= finds the post however the blog writes its link: tracking parameters, http, host case, #fragment', async ({ app, seed }) => {
    const exact = await app.inject({ method: 'GET', url: `/api/posts?url=${encodeURIComponent(SEED_URL)}` });
    assert.is(exact.statusCode, 200);
    const host = 'digitalstrategy.rsm.nl';
    const path = '/2017/10/12/what-do-wechat-and-lord-of-the-rings-have-in-common';
    for (const variant of [
      `https://${host}${path}/?utm_source=widget&utm_medium=embed&utm_campaign=x`,
      `http://${host}${path}/`,
      `https://DigitalStrategy.RSM.nl${path}/`,
      `https://${host}${path}/#comments`,
      `https://${host}:443${path}?fbclid=abc`,
      `HTTP://DIGITALSTRATEGY.rsm.nl${path}?utm_source=x&gclid=1#respond`,
    ]) {
      const res = await app.inject({ method: 'GET', url: `/api/posts?url=${encodeURIComponent(variant)}&guild=${seed.guildId}` });
      assert.is(res.statusCode, 200, variant);
      assert.is(res.json().id, seed.post.id, variant);
      assert.is(res.headers.etag, exact.headers.etag, `${variant}: the same answer`);
    }
    // Another article, another page of it, another server, or a host that only looks alike: not this post.
    for (const other of [
      `https://${host}${path.toUpperCase()}/`,
      `https://${host}${path}-2/`,
      `https://${host}${path}/?page=2`,
      `https://www.${host}${path}/`,
      `https://${host}:8443${path}/`,
    ]) {
      const res = await app.inject({ method: 'GET', url: `/api/posts?url=${encodeURIComponent(other)}` });
      assert.is(res.statusCode, 404, other);
      assert.is(res.json().error.code, 'post_not_found', other);
    }
    const elsewhere = await app.inject({
      method: 'GET',
      url: `/api/posts?url=${encodeURIComponent(`http://${host}${path}?utm_source=x`)}&guild=${snowflake()}`,
    });
    assert.is(elsewhere.statusCode, 404, 'a variant in another server');
  });

  test('no Discord user id appears anywhere; mentions become names', async ({ app, t, seed, second }) => {
    const userIds = new Set<string>();
    for (const postId of [seed.post.id, second.post.id]) {
      for (const c of await listComments(t.db, postId)) if (c.authorId) userIds.add(c.authorId); // a tombstone's author is erased ('')
      for (const r of await listRatings(t.db, postId)) userIds.add(r.userId);
    }
    assert.ok(userIds.size >= 20);
    const bodies = [
      (await app.inject({ method: 'GET', url: `/api/posts/${seed.post.id}` })).body,
      (await app.inject({ method: 'GET', url: `/api/posts/${second.post.id}` })).body,
      (await app.inject({ method: 'GET', url: `/api/posts?guild=${seed.guildId}` })).body,
    ];
    for (const body of bodies) for (const id of userIds) assert.not.ok(body.includes(id), `user id ${id} leaked`);
    for (const body of bodies) assert.not.match(body, /authorId|userId|author_id/);
    const view = JSON.parse(bodies[1]!) as PostView;
    const bob = flatten(view.comments).find((n) => !n.node.deleted && n.node.author === 'Bob')!.node;
    assert.ok(!bob.deleted && bob.content === 'I agree @Alice, and @someone too', !bob.deleted ? bob.content : '');
  });

  test('a deleted reply is a tombstone without author or content; its reply stays under it', async ({ app, second }) => {
    const res = await app.inject({ method: 'GET', url: `/api/posts/${second.post.id}` });
    const view = res.json() as PostView;
    assert.not.ok(res.body.includes('soon to be deleted'));
    assert.is(view.replies, 2, 'deleted replies are not counted');
    assert.is(view.comments.length, 2);
    const tomb = view.comments[0]!;
    assert.equal(Object.keys(tomb).sort(), ['createdAt', 'deleted', 'id', 'replies']);
    assert.is(tomb.deleted, true);
    assert.is(tomb.id, second.ids[0]);
    assert.is(tomb.replies.length, 1);
    const reply = tomb.replies[0]!;
    assert.ok(!reply.deleted && reply.author === 'Bob');
    // The web never gets the stored (expiring) Discord URL: the API's media route, by position in the message.
    if (!reply.deleted)
      assert.equal(reply.attachments, [{ url: `http://localhost:80/media/${reply.id}/0`, index: 0, name: 'chart.png', contentType: 'image/png' }]);
    assert.not.ok(JSON.stringify(view).includes('cdn.discordapp.com/attachments'));
    assert.equal(view.rating.distribution, { '1': 0, '2': 0, '3': 0, '4': 1, '5': 0 });
    assert.is(view.rating.label, '★ 4/5 (1 rating)');
  });

  test('GET /api/posts lists served posts with counts and pages; known posts are left out', async ({ app, seed, second, known }) => {
    const res = await app.inject({ method: 'GET', url: `/api/posts?guild=${seed.guildId}` });
    assert.is(res.statusCode, 200);
    const body = res.json() as {
      posts: Array<{ id: string; replies: number; rating: { count: number } }>;
      page: { limit: number; offset: number; next: number | null };
    };
    assert.equal(
      body.posts.map((p) => p.id),
      [second.post.id, seed.post.id],
      'newest first',
    );
    assert.not.ok(body.posts.some((p) => p.id === known.id));
    assert.equal([body.posts[1]!.replies, body.posts[1]!.rating.count], [22, 2]);
    assert.equal(body.page, { limit: 20, offset: 0, next: null });
    const first = (await app.inject({ method: 'GET', url: `/api/posts?guild=${seed.guildId}&limit=1` })).json();
    assert.equal([first.posts.map((p: { id: string }) => p.id), first.page.next], [[second.post.id], 1]);
    const next = (await app.inject({ method: 'GET', url: `/api/posts?guild=${seed.guildId}&limit=1&offset=1` })).json();
    assert.equal([next.posts.map((p: { id: string }) => p.id), next.page.next], [[seed.post.id], null]);
    const none = (await app.inject({ method: 'GET', url: `/api/posts?guild=${snowflake()}` })).json();
    assert.equal(none.posts, []);
    const everything = await app.inject({ method: 'GET', url: '/api/posts' });
    assert.is(everything.statusCode, 400, 'the list of every server at once is not served: guild is required');
    assert.equal([everything.json().error.code, /guild/.test(everything.json().error.message)], ['bad_request', true]);
  });

  test('ETag and Cache-Control; 304 on If-None-Match; a new rating changes the ETag', async ({ app, t, seed }) => {
    const url = `/api/posts/${seed.post.id}`;
    const first = await app.inject({ method: 'GET', url });
    const etag = String(first.headers.etag);
    assert.match(etag, /^"[\w-]+"$/, 'a strong ETag');
    assert.is(first.headers['cache-control'], 'public, max-age=60, stale-while-revalidate=300');
    const again = await app.inject({ method: 'GET', url, headers: { 'if-none-match': etag } });
    assert.is(again.statusCode, 304);
    assert.is(again.body, '');
    assert.is(again.headers.etag, etag);
    const list = await app.inject({ method: 'GET', url, headers: { 'if-none-match': `W/"other", ${etag}` } });
    assert.is(list.statusCode, 304);
    const byUrl = await app.inject({ method: 'GET', url: `/api/posts?url=${encodeURIComponent(SEED_URL)}`, headers: { 'if-none-match': etag } });
    assert.is(byUrl.statusCode, 304, 'the same data by URL has the same ETag');
    await setRating(t.db, seed.post.id, snowflake(), 3, new Date().toISOString());
    const changed = await app.inject({ method: 'GET', url, headers: { 'if-none-match': etag } });
    assert.is(changed.statusCode, 200);
    assert.is.not(changed.headers.etag, etag);
    assert.is(changed.json().rating.count, 3);
  });

  test('unknown posts are a JSON 404; a known (never published) post is not served', async ({ app, known }) => {
    for (const url of [
      `/api/posts/AAAAAAAAAAAAAAAAAAAAAA`,
      `/api/posts?url=${encodeURIComponent('https://nowhere.example/post')}`,
      `/api/posts/${known.id}`,
      `/api/posts?url=${encodeURIComponent('https://old.example/old')}`,
    ]) {
      const res = await app.inject({ method: 'GET', url });
      assert.is(res.statusCode, 404, url);
      assert.is(res.json().error.code, 'post_not_found', url);
      assert.type(res.json().error.message, 'string');
      assert.is(res.headers['cache-control'], 'no-store');
    }
    const route = await app.inject({ method: 'GET', url: '/api/nothing' });
    assert.is(route.statusCode, 404);
    assert.is(route.json().error.code, 'not_found');
  });

  test('bad input is a JSON 400 naming the problem', async ({ app }) => {
    const cases: Array<[string, RegExp]> = [
      [`/api/posts?url=${encodeURIComponent('not a url')}`, /url/],
      [`/api/posts?url=${encodeURIComponent('javascript:alert(1)')}`, /http/],
      [`/api/posts?url=${encodeURIComponent(`https://x.example/${'a'.repeat(2100)}`)}`, /url/],
      ['/api/posts?limit=0', /limit/],
      ['/api/posts?limit=abc', /limit/],
      ['/api/posts?offset=-1', /offset/],
      ['/api/posts?guild=abc', /guild/],
      ['/api/posts/bad!id', /id/],
      [`/api/posts/${'x'.repeat(65)}`, /id/],
    ];
    for (const [url, message] of cases) {
      const res = await app.inject({ method: 'GET', url });
      assert.is(res.statusCode, 400, url);
      const body = res.json();
      assert.is(body.error.code, 'bad_request', url);
      assert.match(body.error.message, message, url);
    }
  });

  test.run();
}

// ------------------------------------------------------------------ independent of the database engine

const web = suite<{ t: TestDb; seed: Awaited<ReturnType<typeof seedDiscussion>> }>('http api: CORS, rate limit, healthz, widget, listen');

web.before(async (ctx) => {
  ctx.t = await createTestDb('sqlite');
  ctx.seed = await seedDiscussion(ctx.t.db);
  await setFeedWeb(ctx.t.db, ctx.seed.post.feedId, true);
});
web.after(async (ctx) => {
  await ctx.t?.close();
});

web('CORS: a configured blog origin is allowed, any other origin gets no CORS headers', async ({ t, seed }) => {
  const a = await app(t.db);
  try {
    const url = `/api/posts/${seed.post.id}`;
    const allowed = await a.inject({ method: 'GET', url, headers: { origin: BLOG_ORIGIN } });
    assert.is(allowed.headers['access-control-allow-origin'], BLOG_ORIGIN);
    assert.match(String(allowed.headers.vary), /Origin/);
    const refused = await a.inject({ method: 'GET', url, headers: { origin: 'https://evil.example' } });
    assert.is(refused.statusCode, 200, 'the answer itself is public; the browser withholds it without the header');
    assert.is(refused.headers['access-control-allow-origin'], undefined);
    const preflight = await a.inject({ method: 'OPTIONS', url, headers: { origin: BLOG_ORIGIN, 'access-control-request-method': 'GET' } });
    assert.is(preflight.statusCode, 204);
    assert.is(preflight.headers['access-control-allow-origin'], BLOG_ORIGIN);
    assert.match(String(preflight.headers['access-control-allow-methods']), /GET/);
    const badPreflight = await a.inject({ method: 'OPTIONS', url, headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' } });
    assert.is(badPreflight.headers['access-control-allow-origin'], undefined);
  } finally {
    await a.close();
  }
  const none = await app(t.db, { env: { HTTP_CORS_ORIGINS: '' } });
  try {
    const res = await none.inject({ method: 'GET', url: `/api/posts/${seed.post.id}`, headers: { origin: BLOG_ORIGIN } });
    assert.is(res.statusCode, 200);
    assert.is(res.headers['access-control-allow-origin'], undefined, 'no origins configured = no CORS headers');
  } finally {
    await none.close();
  }
  let error: unknown;
  try {
    await app(t.db, { env: { HTTP_CORS_ORIGINS: 'not-an-origin' } });
  } catch (err) {
    error = err;
  }
  assert.ok(error instanceof Error && /HTTP_CORS_ORIGINS/.test(error.message), 'a bad origin names the variable');
});

web('per-client rate limit: the request over the limit is a JSON 429 with Retry-After; healthz has its own budget', async ({ t, seed }) => {
  const a = await app(t.db, { rateLimit: { max: 3, timeWindowMs: 60_000 } });
  try {
    const url = `/api/posts/${seed.post.id}`;
    for (let i = 0; i < 3; i++) assert.is((await a.inject({ method: 'GET', url, remoteAddress: '203.0.113.7' })).statusCode, 200);
    const limited = await a.inject({ method: 'GET', url, remoteAddress: '203.0.113.7' });
    assert.is(limited.statusCode, 429);
    assert.is(limited.json().error.code, 'rate_limited');
    assert.match(limited.json().error.message, /try again/i);
    assert.ok(Number(limited.headers['retry-after']) > 0);
    const other = await a.inject({ method: 'GET', url, remoteAddress: '203.0.113.8' });
    assert.is(other.statusCode, 200, 'another client is not limited');
    for (let i = 0; i < 5; i++) assert.is((await a.inject({ method: 'GET', url: '/healthz', remoteAddress: '203.0.113.7' })).statusCode, 200);
  } finally {
    await a.close();
  }
});

web('GIVEN no HTTP_TRUST_PROXY THEN X-Forwarded-For does not split the rate limit: the socket address is the client', async ({ t, seed }) => {
  for (const env of [{}, { HTTP_TRUST_PROXY: 'false' }, { HTTP_TRUST_PROXY: '0' }] as Array<Record<string, string>>) {
    const a = await app(t.db, { env, rateLimit: { max: 2, timeWindowMs: 60_000 } });
    try {
      const url = `/api/posts/${seed.post.id}`;
      const via = (client: string) => a.inject({ method: 'GET', url, remoteAddress: '10.0.0.5', headers: { 'x-forwarded-for': client } });
      assert.is((await via('198.51.100.1')).statusCode, 200);
      assert.is((await via('198.51.100.2')).statusCode, 200);
      assert.is((await via('198.51.100.3')).statusCode, 429, `${JSON.stringify(env)}: every forwarded client shares the proxy's bucket`);
    } finally {
      await a.close();
    }
  }
});

web('GIVEN HTTP_TRUST_PROXY THEN forwarded clients get a bucket each; a peer that is not a trusted proxy cannot claim an address', async ({ t, seed }) => {
  const url = `/api/posts/${seed.post.id}`;
  for (const value of ['10.0.0.5', '127.0.0.1, 10.0.0.0/8', 'uniquelocal', 'true']) {
    const a = await app(t.db, { env: { HTTP_TRUST_PROXY: value }, rateLimit: { max: 2, timeWindowMs: 60_000 } });
    try {
      const via = (client: string, remoteAddress = '10.0.0.5') => a.inject({ method: 'GET', url, remoteAddress, headers: { 'x-forwarded-for': client } });
      assert.is((await via('198.51.100.1')).statusCode, 200);
      assert.is((await via('198.51.100.1')).statusCode, 200);
      const limited = await via('198.51.100.1');
      assert.is(limited.statusCode, 429, `${value}: the first client is limited`);
      assert.is((await via('198.51.100.2')).statusCode, 200, `${value}: another forwarded client has its own bucket`);
      // The proxy appends the peer it saw: a client's own X-Forwarded-For entry in front does not make it someone else.
      if (value !== 'true') assert.is((await via('198.51.100.9, 198.51.100.1')).statusCode, 429, `${value}: a forged first entry is ignored`);
      // Straight from the internet, not through the proxy: X-Forwarded-For is not believed.
      if (value !== 'true') {
        assert.is((await via('198.51.100.7', '203.0.113.50')).statusCode, 200);
        assert.is((await via('198.51.100.8', '203.0.113.50')).statusCode, 200);
        assert.is((await via('198.51.100.9', '203.0.113.50')).statusCode, 429, `${value}: an untrusted peer is keyed by its own address`);
      }
    } finally {
      await a.close();
    }
  }
});

web('GIVEN a bad HTTP_TRUST_PROXY THEN the configuration fails naming it and what it expects', () => {
  for (const [value, pattern] of [
    ['yes', /HTTP_TRUST_PROXY: expected true, false, or comma-separated IP addresses or CIDRs.*not "yes"/],
    ['proxy.internal', /HTTP_TRUST_PROXY: .*not "proxy\.internal"/],
    ['10.0.0.0/33', /HTTP_TRUST_PROXY: .*not "10\.0\.0\.0\/33"/],
    ['10.0.0.5,', /HTTP_TRUST_PROXY: .*not ""/],
    ['10.0.0.5, 300.1.1.1', /HTTP_TRUST_PROXY: .*not "300\.1\.1\.1"/],
    ['2', /HTTP_TRUST_PROXY: expected the address of the reverse proxy .* not a hop count/],
  ] as const) {
    let error: unknown;
    try {
      loadConfig({ HTTP_TRUST_PROXY: value }, { dotenv: false });
    } catch (err) {
      error = err;
    }
    assert.instance(error, ConfigError, value);
    assert.match((error as Error).message, pattern);
  }
  assert.equal(loadConfig({ HTTP_TRUST_PROXY: ' 10.0.0.5 , fd00::/8,loopback ' }, { dotenv: false }).httpTrustProxy, ['10.0.0.5', 'fd00::/8', 'loopback']);
  assert.is(loadConfig({}, { dotenv: false }).httpTrustProxy, false, 'off by default');
});

web('healthz: 200 when the database and Redis answer, 503 saying only which failed; the reason is in the log', async ({ t }) => {
  const lines: string[] = [];
  const capture = createLogger('info', { write: (line: string) => void lines.push(line) });
  const withLog = (db: TestDb['db'], redisHealth: () => Promise<void>, opts: HttpServerOptions = {}) =>
    createHttpServer({ ...context(db, {}, redisHealth), log: capture }, { rateLimit: { max: 10_000, timeWindowMs: 60_000 }, ...opts });
  const ok = await app(t.db);
  const down = await withLog(t.db, () => Promise.reject(new Error('connect ECONNREFUSED 10.20.30.40:6379')));
  const hanging = await withLog(t.db, () => new Promise<void>(() => {}), { healthTimeoutMs: 150 });
  try {
    const a = await ok.inject({ method: 'GET', url: '/healthz' });
    assert.is(a.statusCode, 200);
    assert.equal(a.json(), { status: 'ok', database: { ok: true }, redis: { ok: true } });
    assert.is(a.headers['cache-control'], 'no-store');
    const b = await down.inject({ method: 'GET', url: '/healthz' });
    assert.is(b.statusCode, 503);
    assert.equal(b.json(), { status: 'unavailable', database: { ok: true }, redis: { ok: false } }, 'ok/not ok per component, nothing else');
    assert.not.match(b.body, /10\.20\.30\.40|ECONNREFUSED/, 'no internal host or raw error in the public answer');
    const started = Date.now();
    const c = await hanging.inject({ method: 'GET', url: '/healthz' });
    assert.is(c.statusCode, 503);
    assert.equal(c.json().redis, { ok: false });
    assert.ok(Date.now() - started < 2000);
    const logged = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'health check failed');
    assert.match(logged[0]?.redis?.error, /ECONNREFUSED 10\.20\.30\.40:6379/, 'the details are in the log');
    assert.match(logged[1]?.redis?.error, /did not answer within 150 ms/);
  } finally {
    await Promise.all([ok.close(), down.close(), hanging.close()]);
  }
  const closedDb = await createTestDb('sqlite');
  const broken = await app(closedDb.db);
  await closedDb.close();
  try {
    const d = await broken.inject({ method: 'GET', url: '/healthz' });
    assert.is(d.statusCode, 503);
    assert.equal([d.json().database.ok, d.json().redis.ok], [false, true]);
  } finally {
    await broken.close();
  }
});

web('healthz is rate-limited per client, with its own budget; concurrent checks share one round of pings', async ({ t }) => {
  let pings = 0;
  const a = await app(t.db, {
    healthRateLimit: { max: 3, timeWindowMs: 60_000 },
    redisHealth: async () => {
      pings++;
      await new Promise((r) => setTimeout(r, 50));
    },
  });
  try {
    const together = await Promise.all([1, 2, 3].map(() => a.inject({ method: 'GET', url: '/healthz', remoteAddress: '203.0.113.9' })));
    assert.equal(
      together.map((r) => r.statusCode),
      [200, 200, 200],
    );
    assert.is(pings, 1, 'three concurrent checks, one ping');
    const limited = await a.inject({ method: 'GET', url: '/healthz', remoteAddress: '203.0.113.9' });
    assert.is(limited.statusCode, 429);
    assert.is(limited.json().error.code, 'rate_limited');
    assert.is((await a.inject({ method: 'GET', url: '/healthz', remoteAddress: '203.0.113.10' })).statusCode, 200, 'another client is not limited');
  } finally {
    await a.close();
  }
});

/** Sends raw bytes to a listening server and collects the answer until the server closes the connection. */
function rawRequest(
  port: number,
  bytes: string,
  timeoutMs = 5000,
): Promise<{ status: number; headers: Record<string, string>; body: string; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(bytes));
    let data = '';
    let closed = false;
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    socket.on('data', (d) => (data += d));
    socket.on('error', () => {});
    socket.on('close', () => {
      closed = data.length > 0 || closed;
      clearTimeout(timer);
      const [head = '', ...rest] = data.split('\r\n\r\n');
      const [statusLine = '', ...headerLines] = head.split('\r\n');
      const headers = Object.fromEntries(headerLines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      resolve({ status: Number(statusLine.split(' ')[1] ?? 0), headers, body: rest.join('\r\n\r\n'), closed: true });
    });
  });
}

web('every error the API returns, also those of the HTTP parser and the router, is {error:{code,message}} with nosniff', async ({ t }) => {
  const server = await startHttpServer(context(t.db), { port: 0, host: '127.0.0.1', rateLimit: { max: 10_000, timeWindowMs: 60_000 } });
  const get = (target: string, extra = '') => `GET ${target} HTTP/1.1\r\nHost: x\r\n${extra}Connection: close\r\n\r\n`;
  const cases: Array<[string, string, number, string]> = [
    ['bad percent-encoding in the path', get('/api/posts/%E0%A4%A'), 400, 'bad_request'],
    ['a path segment over the router limit', get(`/api/posts/${'x'.repeat(300)}`), 414, 'uri_too_long'],
    ['a URL over the API limit', get(`/api/posts?url=${'y'.repeat(5000)}`), 414, 'uri_too_long'],
    ['a URL over the header limit', get(`/${'z'.repeat(20_000)}`), 431, 'headers_too_large'],
    ['headers over the limit', get('/api/posts', `X-Big: ${'a'.repeat(20_000)}\r\n`), 431, 'headers_too_large'],
    ['not HTTP', 'GARBAGE\r\n\r\n', 400, 'bad_request'],
    ['a bad Content-Length', get('/api/posts', 'Content-Length: abc\r\n'), 400, 'bad_request'],
    ['an unknown route', get('/nothing/here'), 404, 'not_found'],
    [
      'bad JSON',
      'POST /api/posts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5\r\nConnection: close\r\n\r\n{bad}',
      400,
      'bad_request',
    ],
    [
      'a body over the limit',
      `POST /api/posts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 20000\r\nConnection: close\r\n\r\n${'1'.repeat(20_000)}`,
      413,
      'payload_too_large',
    ],
  ];
  try {
    for (const [what, bytes, status, code] of cases) {
      const res = await rawRequest(server.port, bytes);
      assert.is(res.status, status, what);
      assert.is(res.headers['x-content-type-options'], 'nosniff', what);
      assert.match(res.headers['content-type'] ?? '', /^application\/json/, what);
      const body = JSON.parse(res.body);
      assert.equal(Object.keys(body), ['error'], what);
      assert.equal(Object.keys(body.error).sort(), ['code', 'message'], what);
      assert.is(body.error.code, code, what);
      assert.ok(body.error.message.length < 200, `${what}: the message does not echo the request`);
    }
  } finally {
    await server.close();
  }
});

web('a client trickling its headers is cut off within the header timeout (408, in the error shape)', async ({ t }) => {
  const server = await startHttpServer(context(t.db), { port: 0, host: '127.0.0.1', headersTimeoutMs: 500, requestTimeoutMs: 1000 });
  try {
    const started = Date.now();
    const result = await new Promise<{ ms: number; data: string }>((resolve) => {
      const socket = connect(server.port, '127.0.0.1', () => socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n'));
      let data = '';
      // One header byte every 100 ms: each byte would reset an idle timeout, never the header timeout.
      const drip = setInterval(() => socket.writable && socket.write('X'), 100);
      socket.on('data', (d) => (data += d));
      socket.on('error', () => {});
      socket.on('close', () => {
        clearInterval(drip);
        resolve({ ms: Date.now() - started, data });
      });
      setTimeout(() => socket.destroy(), 10_000);
    });
    assert.ok(result.ms < 2500, `closed after ${result.ms} ms`);
    assert.match(result.data, /^HTTP\/1\.1 408 /);
    assert.match(result.data, /x-content-type-options: nosniff/i);
    assert.match(result.data, /"code":"request_timeout"/);
  } finally {
    await server.close();
  }
});

web('connections over the cap are closed as they arrive; the ones within it are served', async ({ t }) => {
  const server = await startHttpServer(context(t.db), { port: 0, host: '127.0.0.1', maxConnections: 3 });
  const open: Socket[] = [];
  const connections = () => new Promise<number>((r) => server.app.server.getConnections((_e, n) => r(n)));
  try {
    for (let i = 0; i < 3; i++) {
      const socket = connect(server.port, '127.0.0.1');
      socket.on('error', () => {});
      await new Promise((r) => socket.once('connect', r));
      open.push(socket);
    }
    // Let the server register the three before the fourth arrives.
    while ((await connections()) < 3) await new Promise((r) => setTimeout(r, 20));
    const started = Date.now();
    const refused = await rawRequest(server.port, 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 5000);
    assert.is(refused.status, 0, 'the connection over the cap gets no answer');
    assert.ok(Date.now() - started < 1000, 'and is closed at once');
    assert.ok(
      open.every((s) => !s.destroyed),
      'the three within the cap stay open',
    );
    open.pop()!.destroy();
    while ((await connections()) > 2) await new Promise((r) => setTimeout(r, 20));
    const served = await rawRequest(server.port, 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.is(served.status, 200, 'a place freed is served');
  } finally {
    for (const s of open) s.destroy();
    await server.close();
  }
});

web('GET /widget.js: small plain JavaScript, cacheable, loadable cross-origin', async ({ t }) => {
  const a = await app(t.db);
  try {
    const res = await a.inject({ method: 'GET', url: '/widget.js' });
    assert.is(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^text\/javascript/);
    assert.ok(res.rawPayload.length < 10 * 1024, `widget.js is ${res.rawPayload.length} bytes`);
    assert.is(res.headers['cross-origin-resource-policy'], 'cross-origin');
    assert.match(String(res.headers['cache-control']), /public/);
    // The widget inserts only the API's own fragment (rendered and allow-list sanitized on the server); it never
    // builds HTML from data itself: its texts go in with textContent.
    assert.equal(res.body.match(/\.(innerHTML|outerHTML)\s*=\s*[^;]+;/g), ['.innerHTML = html;', '.innerHTML = html;'], 'only the fetched fragment');
    assert.not.match(res.body, /insertAdjacentHTML|document\.write/);
    const cached = await a.inject({ method: 'GET', url: '/widget.js', headers: { 'if-none-match': String(res.headers.etag) } });
    assert.is(cached.statusCode, 304);
  } finally {
    await a.close();
  }
});

web('startHttpServer listens on an ephemeral port and logs it; a port in use is a clear error', async ({ t, seed }) => {
  const lines: string[] = [];
  const { pino } = await import('pino');
  const capture = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
  const ctx = { ...context(t.db), log: capture };
  const server = await startHttpServer(ctx, { port: 0, host: '127.0.0.1' });
  try {
    assert.ok(server.port > 0);
    const logged = lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'http api listening');
    assert.is(logged?.port, server.port);
    const res = await fetch(`http://127.0.0.1:${server.port}/api/posts/${seed.post.id}`);
    assert.is(res.status, 200);
    assert.is(((await res.json()) as PostView).replies, 22);
  } finally {
    await server.close();
  }
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const port = (blocker.address() as { port: number }).port;
  try {
    let error: unknown;
    try {
      await startHttpServer(ctx, { port, host: '127.0.0.1' });
    } catch (err) {
      error = err;
    }
    assert.ok(error instanceof Error && /HTTP_PORT: port \d+ is already in use/.test(error.message), String(error));
  } finally {
    await new Promise((resolve) => blocker.close(resolve));
  }
});

web.run();
