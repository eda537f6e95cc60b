/**
 * Avatars on the web (issue 17), on both databases: the mirror keeps the avatar hash (server avatar first, then the
 * user's), the answers point at GET /avatars/:commentId of the API (never at Discord's CDN, whose URLs carry the
 * user's id), the route serves the 64 px image fetched from the CDN (the emulator's) once and kept in memory, and
 * answers 404 at once for an anonymous, hidden, forgotten or deleted author, a closed discussion or a feed off the web.
 */
import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startDiscordEmulator, type DiscordEmulator } from '../../emulator/index.ts';
import { loadConfig } from '../../src/config.ts';
import { VERSION } from '../../src/context.ts';
import { createHttpServer } from '../../src/http/server.ts';
import { createLogger } from '../../src/logger.ts';
import { getComment, markCommentsDeleted, upsertComments, type CommentInput } from '../../src/repositories/comments.ts';
import { setFeedWeb } from '../../src/repositories/feeds.ts';
import { avatarCdnUrl, createAvatarService } from '../../src/services/avatars.ts';
import { avatarOf, fromApiMessage } from '../../src/services/mirror.ts';
import { chooseAppearance, forgetMember } from '../../src/services/privacy.ts';
import { DIALECTS, createTestDb, type TestDb } from '../support/db.ts';
import { seedDiscussion, SEED_URL } from '../support/fixtures.ts';
import { snowflake } from '../support/snowflake.ts';

const log = createLogger('silent');
// Two different 1×1 PNGs.
const PNG_A = Buffer.from(
  '89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c6360f8cfc0f01f0005000201e5271b9a0000000049454e44ae426082',
  'hex',
);
const PNG_B = Buffer.from(
  '89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c63f8cfc0f0ff3f0005fe02fe0dc4d1c30000000049454e44ae426082',
  'hex',
);

const unit = suite('avatar hashes');
unit('server avatar first, then the user avatar; only hashes are kept (anything else is no avatar)', () => {
  assert.is(avatarOf({ avatar: 'abc123' }, { avatar: 'a_ff00' }), 'g:a_ff00');
  assert.is(avatarOf({ avatar: 'abc123' }, { avatar: null }), 'u:abc123');
  assert.is(avatarOf({ avatar: 'abc123' }), 'u:abc123');
  assert.is(avatarOf({ avatar: null }), null);
  for (const bad of ['../x', 'https://evil', 'ABC', '', 'g:1']) assert.is(avatarOf({ avatar: bad }), null, bad);
  assert.is(
    avatarCdnUrl('https://cdn.discordapp.com', { authorId: '1', guildId: '2', avatar: 'g:ab' }),
    'https://cdn.discordapp.com/guilds/2/users/1/avatars/ab.png?size=64',
  );
  assert.is(avatarCdnUrl('https://cdn.discordapp.com', { authorId: '1', guildId: '2', avatar: 'u:ab' }), 'https://cdn.discordapp.com/avatars/1/ab.png?size=64');
});
unit('DISCORD_CDN_URL: Discord by default, the emulator when DISCORD_API_URL points elsewhere, or as set', () => {
  assert.is(loadConfig({}, { dotenv: false }).discordCdnUrl, 'https://cdn.discordapp.com');
  assert.is(loadConfig({ DISCORD_API_URL: 'http://127.0.0.1:4000/api' }, { dotenv: false }).discordCdnUrl, 'http://127.0.0.1:4000');
  assert.is(loadConfig({ DISCORD_CDN_URL: 'https://cdn.example/' }, { dotenv: false }).discordCdnUrl, 'https://cdn.example');
  assert.throws(() => loadConfig({ DISCORD_CDN_URL: 'ftp://x' }, { dotenv: false }), /DISCORD_CDN_URL/);
});
unit.run();

for (const dialect of DIALECTS) {
  type Ctx = {
    t: TestDb;
    d: DiscordEmulator;
    app: FastifyInstance;
    seed: Awaited<ReturnType<typeof seedDiscussion>>;
    users: { alice: string; bob: string; carol: string };
    ids: { alice: string; bob: string; carol: string; none: string };
  };
  const test = suite<Ctx>(`GET /avatars (${dialect})`);

  test.before(async (ctx) => {
    ctx.d = await startDiscordEmulator({
      guilds: [{ name: 'blog', channels: [{ name: 'posts' }] }],
      users: [{ username: 'alice' }, { username: 'bob' }, { username: 'carol' }, { username: 'dave' }],
    });
    const guildId = ctx.d.guild('blog').id;
    ctx.t = await createTestDb(dialect);
    ctx.seed = await seedDiscussion(ctx.t.db, guildId);
    await setFeedWeb(ctx.t.db, ctx.seed.post.feedId, true);
    ctx.d.setAvatar('alice', PNG_A);
    ctx.d.setAvatar('bob', PNG_A);
    ctx.d.setAvatar('bob', PNG_B, { guild: 'blog' });
    ctx.d.setAvatar('carol', PNG_A);
    ctx.users = { alice: ctx.d.user('alice').id, bob: ctx.d.user('bob').id, carol: ctx.d.user('carol').id };
    // What the mirror stores: messages as the emulator gives them (REST shape: the user's avatar), and Bob's
    // gateway message with his member object (his server avatar).
    const thread = { postId: ctx.seed.post.id, threadId: ctx.seed.post.threadId!, messageId: ctx.seed.post.messageId };
    const say = async (user: string, text: string, member?: { avatar: string | null }) => {
      const m = await ctx.d.say(user, 'posts', text);
      const data = fromApiMessage({ ...m, ...(member ? { member: { nick: null, avatar: member.avatar } } : {}) } as Parameters<typeof fromApiMessage>[0]);
      const row: CommentInput = {
        id: data.id,
        postId: thread.postId,
        threadId: thread.threadId,
        authorId: data.authorId,
        authorName: data.authorName,
        authorAvatar: data.authorAvatar ?? null,
        content: data.content,
        replyToId: null,
        attachments: [],
        createdAt: data.createdAt,
        editedAt: null,
      };
      await upsertComments(ctx.t.db, [row]);
      return row;
    };
    const bobMember = { avatar: createHash('md5').update(PNG_B).digest('hex') };
    ctx.ids = {
      alice: (await say('alice', 'I have an avatar')).id,
      bob: (await say('bob', 'I have a server avatar', bobMember)).id,
      carol: (await say('carol', 'mine is gone from the CDN')).id,
      none: (await say('dave', 'I have none')).id,
    };
    // Carol's hash no longer exists at the CDN (she changed it since).
    await ctx.t.db.kysely.updateTable('comments').set({ author_avatar: 'u:0123456789abcdef' }).where('id', '=', ctx.ids.carol).execute();
    ctx.app = await createHttpServer(
      {
        config: loadConfig({ DISCORD_API_URL: ctx.d.restUrl }, { dotenv: false }),
        log,
        db: ctx.t.db,
        version: VERSION,
        redisHealth: async () => {},
      },
      { rateLimit: { max: 100_000, timeWindowMs: 60_000 } },
    );
  });
  test.after(async (ctx) => {
    await ctx.app?.close();
    await ctx.t?.close();
    await ctx.d?.stop();
  });

  test('the answers point at /avatars/<comment id> for named members with an avatar; no user id, no CDN URL', async ({ app, ids, users }) => {
    const res = await app.inject({ method: 'GET', url: `/api/posts?url=${encodeURIComponent(SEED_URL)}` });
    assert.is(res.statusCode, 200);
    const byId = new Map((res.json().comments as Array<{ id: string; avatar?: string }>).map((c) => [c.id, c]));
    assert.is(byId.get(ids.alice)!.avatar, `http://localhost:80/avatars/${ids.alice}`);
    assert.is(byId.get(ids.bob)!.avatar, `http://localhost:80/avatars/${ids.bob}`);
    assert.is(byId.get(ids.none)!.avatar, undefined, 'no avatar: the letter');
    for (const id of Object.values(users)) assert.not.ok(res.body.includes(id), 'no Discord user id in the answer');
    assert.not.ok(/cdn|\/avatars\/\d+\/|\/users\//.test(res.body.replace(/\/avatars\/\d+"/g, '')), 'no CDN path');
    const html = await app.inject({ method: 'GET', url: `/embed/posts?url=${encodeURIComponent(SEED_URL)}` });
    assert.match(html.body, new RegExp(`<img class="blogcord-avatar-img" src="http://localhost:80/avatars/${ids.alice}" alt=""`));
    for (const id of Object.values(users)) assert.not.ok(html.body.includes(id), 'no Discord user id in the fragment');
  });

  test('GET /avatars/:id: the image (the server avatar before the user one), long-cached, 304 on its ETag', async ({ app, ids }) => {
    const a = await app.inject({ method: 'GET', url: `/avatars/${ids.alice}` });
    assert.is(a.statusCode, 200);
    assert.is(a.headers['content-type'], 'image/png');
    assert.equal(a.rawPayload, PNG_A);
    assert.is(a.headers['cache-control'], 'public, max-age=86400, stale-while-revalidate=604800');
    const again = await app.inject({ method: 'GET', url: `/avatars/${ids.alice}`, headers: { 'if-none-match': String(a.headers.etag) } });
    assert.is(again.statusCode, 304);
    const b = await app.inject({ method: 'GET', url: `/avatars/${ids.bob}` });
    assert.equal(b.rawPayload, PNG_B, "Bob's server avatar");
  });

  test('no avatar, an unknown comment, a bad id: 404 no-store; the CDN without the image: 502 no-store', async ({ app, ids }) => {
    for (const url of [`/avatars/${ids.none}`, `/avatars/${snowflake()}`]) {
      const res = await app.inject({ method: 'GET', url });
      assert.is(res.statusCode, 404, url);
      assert.is(res.headers['cache-control'], 'no-store');
      assert.is(res.json().error.code, 'avatar_not_found');
    }
    assert.is((await app.inject({ method: 'GET', url: '/avatars/abc' })).statusCode, 400);
    const gone = await app.inject({ method: 'GET', url: `/avatars/${ids.carol}` });
    assert.is(gone.statusCode, 502);
    assert.is(gone.headers['cache-control'], 'no-store');
    assert.is(gone.json().error.code, 'avatar_unavailable');
  });

  test('anonymous, hidden: 404 at once and no avatar in the answer; named again: served; forgotten: 404', async ({ app, t, seed, ids, users }) => {
    const url = `/avatars/${ids.alice}`;
    const answer = async () =>
      (await app.inject({ method: 'GET', url: `/api/posts/${seed.post.id}` })).json().comments as Array<{ id: string; avatar?: string }>;
    await chooseAppearance(t.db, seed.guildId, users.alice, 'anonymous');
    assert.is((await app.inject({ method: 'GET', url })).statusCode, 404, 'anonymous');
    assert.is((await answer()).find((c) => c.id === ids.alice)!.avatar, undefined);
    await chooseAppearance(t.db, seed.guildId, users.alice, 'hidden');
    assert.is((await app.inject({ method: 'GET', url })).statusCode, 404, 'hidden');
    await chooseAppearance(t.db, seed.guildId, users.alice, 'named');
    assert.is((await app.inject({ method: 'GET', url })).statusCode, 200, 'named again');
    await forgetMember({ db: t.db, log }, seed.guildId, users.alice);
    assert.is((await app.inject({ method: 'GET', url })).statusCode, 404, 'forgotten');
    assert.is((await getComment(t.db, ids.alice))!.authorAvatar, undefined, 'the hash is erased with the rest');
  });

  test('deleted, a closed discussion, the feed off the web: 404', async ({ app, t, seed, ids }) => {
    const url = `/avatars/${ids.bob}`;
    assert.is((await app.inject({ method: 'GET', url })).statusCode, 200);
    await setFeedWeb(t.db, seed.post.feedId, false);
    assert.is((await app.inject({ method: 'GET', url })).statusCode, 404, 'off the web');
    await setFeedWeb(t.db, seed.post.feedId, true);
    assert.is((await app.inject({ method: 'GET', url })).statusCode, 200);
    await markCommentsDeleted(t.db, [ids.bob], new Date().toISOString());
    assert.is((await app.inject({ method: 'GET', url })).statusCode, 404, 'deleted');
    assert.is((await getComment(t.db, ids.bob))!.authorAvatar, undefined);
  });

  test('the service asks the CDN once per image (concurrent readers share it) and keeps a bounded LRU', async ({ t, d, seed }) => {
    const c = { id: snowflake(), hash: d.setAvatar('dave', PNG_B) };
    await upsertComments(t.db, [
      {
        id: c.id,
        postId: seed.post.id,
        threadId: seed.post.threadId!,
        authorId: d.user('dave').id,
        authorName: 'dave',
        authorAvatar: `u:${c.hash}`,
        content: 'hi',
        replyToId: null,
        attachments: [],
        createdAt: new Date().toISOString(),
        editedAt: null,
      },
    ]);
    let calls = 0;
    const counting: typeof fetch = async (input, init) => {
      calls++;
      return fetch(input, init);
    };
    const service = createAvatarService({ db: t.db, log, cdnUrl: d.baseUrl, fetch: counting, maxEntries: 1 });
    const burst = await Promise.all(Array.from({ length: 5 }, () => service.get(c.id)));
    assert.equal(burst[0]!.body, PNG_B);
    assert.is(calls, 1, 'one CDN request for the burst');
    await service.get(c.id);
    assert.is(calls, 1, 'then from memory');
    // An update with only the user's avatar (a REST page) keeps a stored server avatar; an unknown one keeps it too.
    await t.db.kysely.updateTable('comments').set({ author_avatar: 'g:ab' }).where('id', '=', c.id).execute();
    const row = (await getComment(t.db, c.id))!;
    await upsertComments(t.db, [{ ...row, authorAvatar: `u:${c.hash}` }]);
    assert.is((await getComment(t.db, c.id))!.authorAvatar, 'g:ab');
    await upsertComments(t.db, [{ ...row, authorAvatar: null }]);
    assert.is((await getComment(t.db, c.id))!.authorAvatar, 'g:ab');
    await upsertComments(t.db, [{ ...row, authorAvatar: 'g:cd' }]);
    assert.is((await getComment(t.db, c.id))!.authorAvatar, 'g:cd', 'a new server avatar replaces it');
  });

  test.run();
}
