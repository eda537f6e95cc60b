/**
 * Member privacy end to end (issue 16, the members' part): the real bot process (`blogcord start`, with its HTTP
 * API) against the Discord emulator, on a file-backed SQLite database and on PostgreSQL. Members reply in a post's thread and rate
 * it; /privacy set show:anonymous and show:hidden change the API's answer at once; a bad choice is refused and
 * changes nothing; /privacy status counts what is stored; /privacy forget asks first (a button; Cancel erases
 * nothing), then erases, and neither the recount nor catch-up nor a new reaction brings anything of that member
 * back, while the bot may not remove their keycap. The export holds nothing of theirs.
 * Run alone: npx tsx test/privacy-e2e.test.ts
 */
import * as assert from 'uvu/assert';
import { upsertFeed } from '../../src/repositories/feeds.ts';
import { setPublishState, upsertPostFromFeed, type Post } from '../../src/repositories/posts.ts';
import type { CommentNode, PostView } from '../../src/services/blog.ts';
import { eventually, rejects } from '../support/assert.ts';
import { exportJson, logLines, type BotProcess } from '../support/bot.ts';
import { DIALECTS } from '../support/db.ts';
import { e2eSuite, startE2eBot, type E2eContext } from '../support/e2e.ts';
import { DEFAULT_BOT_PERMISSIONS, type CommandResult } from '../../emulator/index.ts';
import { freePort } from '../support/services.ts';

const MANAGE_MESSAGES = 1n << 13n;

interface Ctx extends E2eContext {
  bot: BotProcess;
  post: Post;
  announcementId: string;
  threadId: string;
  httpPort: number;
  ids: { alice: string; bob: string; carol: string };
  msgs: { alice: string; bob: string; carol: string };
  /** The answer to alice's press of "Forget me" (checked in the test after). */
  forgetAnswer?: CommandResult;
}

for (const dialect of DIALECTS) {
  const e2e = e2eSuite<Ctx>(`/privacy through the emulator with the real bot (${dialect})`, {
    dialect,
    emulator: {
      guilds: [{ name: 'blog', channels: [{ name: 'posts', type: 'text' }] }],
      users: [{ username: 'alice' }, { username: 'bob' }, { username: 'carol' }],
    },
    commands: true,
  });

  e2e.before(async (ctx) => {
    ctx.ids = { alice: ctx.discord.user('alice').id, bob: ctx.discord.user('bob').id, carol: ctx.discord.user('carol').id };
    const postsChannel = ctx.discord.channel('posts').id;
    // A post whose announcement and thread exist in the emulator, of a feed the server put on the web.
    const { feed } = await upsertFeed(ctx.t.db, { guildId: ctx.guildId, url: 'https://blog.example/feed', channelId: postsChannel, web: true });
    const { post } = await upsertPostFromFeed(
      ctx.t.db,
      feed,
      {
        key: 'p1',
        url: 'https://blog.example/p1',
        title: 'A post about privacy',
        author: 'Ann',
        publishedAt: new Date().toISOString(),
        summaryHtml: '<p>s</p>',
        searchText: 's',
        imageUrl: null,
        contentHash: 'p1',
      },
      'pending',
    );
    const announcement = await ctx.discord.say('alice', 'posts', 'A post about privacy');
    ctx.announcementId = announcement.id;
    ctx.threadId = (await ctx.discord.createThread('alice', 'posts', 'A post about privacy', { fromMessage: announcement })).id;
    await setPublishState(ctx.t.db, post.id, { state: 'published', channelId: postsChannel, messageId: announcement.id, threadId: ctx.threadId });
    ctx.post = post;

    ctx.httpPort = await freePort();
    ctx.bot = await startE2eBot(ctx, {
      env: { HTTP_PORT: String(ctx.httpPort), RECOUNT_INTERVAL_SECONDS: '2', SYNC_INTERVAL_SECONDS: '2', FEED_POLL_INTERVAL_SECONDS: '3600' },
    });
    await ctx.discord.waitForReady({ timeout: 15_000 });
  });

  async function api(ctx: Ctx): Promise<PostView> {
    const res = await fetch(`http://127.0.0.1:${ctx.httpPort}/api/posts/${ctx.post.id}?guild=${ctx.guildId}`);
    assert.is(res.status, 200);
    return (await res.json()) as PostView;
  }
  const flatten = (nodes: readonly CommentNode[]): CommentNode[] => nodes.flatMap((n) => [n, ...flatten(n.replies)]);
  const node = (view: PostView, id: string) =>
    flatten(view.comments).find((n) => n.id === id) as
      (CommentNode & { author?: string; content?: string; hidden?: true; anonymous?: true; pseudonym?: string }) | undefined;
  const privacy = (ctx: Ctx, user: string, subcommand: string, options: Record<string, string> = {}) =>
    ctx.discord.runCommand(user, 'posts', 'privacy', { subcommand, options, timeout: 10_000 });

  e2e('members reply and rate: the API names them', async (ctx) => {
    ctx.msgs = {
      alice: (await ctx.discord.say('alice', ctx.threadId, 'alice private words')).id,
      bob: '',
      carol: '',
    };
    ctx.msgs.bob = (await ctx.discord.say('bob', ctx.threadId, 'bob answers alice', { replyTo: ctx.msgs.alice })).id;
    ctx.msgs.carol = (await ctx.discord.say('carol', ctx.threadId, 'carol answers bob', { replyTo: ctx.msgs.bob })).id;
    await ctx.discord.react('alice', ctx.announcementId, '5️⃣');
    await ctx.discord.react('bob', ctx.announcementId, '3️⃣');
    const view = (await eventually(
      async () => {
        const v = await api(ctx);
        return flatten(v.comments).length === 3 && v.rating.count === 2 ? v : null;
      },
      { timeout: 15_000, message: 'three replies and two ratings on the API' },
    ))!;
    assert.is(node(view, ctx.msgs.alice)?.author, 'alice');
    assert.is(node(view, ctx.msgs.bob)?.author, 'bob');
  });

  e2e('/privacy set show:anonymous and show:hidden change the API at once; a bad choice changes nothing', async (ctx) => {
    const anon = await privacy(ctx, 'alice', 'set', { show: 'anonymous' });
    assert.ok(anon.ephemeral);
    assert.match(anon.content, /Saved: anonymous/);
    let view = await api(ctx);
    let json = JSON.stringify(view);
    assert.not.ok(json.includes('"alice"') || json.includes(ctx.ids.alice), 'no name or id of alice');
    assert.is(node(view, ctx.msgs.alice)?.author, 'A member');
    assert.is(node(view, ctx.msgs.alice)?.anonymous, true);
    assert.ok(node(view, ctx.msgs.alice)?.pseudonym);
    assert.is(node(view, ctx.msgs.alice)?.content, 'alice private words', 'anonymous keeps the words');

    const hidden = await privacy(ctx, 'bob', 'set', { show: 'hidden' });
    assert.ok(hidden.ephemeral);
    view = await api(ctx);
    json = JSON.stringify(view);
    assert.not.ok(json.includes('bob answers alice') || json.includes('"bob"'), 'nothing of bob');
    const b = node(view, ctx.msgs.bob)!;
    assert.is(b.hidden, true);
    assert.equal(
      b.replies.map((n) => n.id),
      [ctx.msgs.carol],
      'carol’s reply keeps its parent',
    );
    assert.is(view.rating.count, 2, 'bob’s rating still counts, anonymously');

    const bad = await privacy(ctx, 'bob', 'set', { show: 'invisible' });
    assert.ok(bad.ephemeral);
    assert.match(bad.content, /not a choice: use named, anonymous or hidden\. Nothing was changed/);
    const status = await privacy(ctx, 'bob', 'status');
    assert.match(status.content, /on the web in this server:\*\* hidden/, 'the refused choice changed nothing');
  });

  e2e('/privacy status counts what is stored about the member in this server', async (ctx) => {
    const s = await privacy(ctx, 'alice', 'status');
    assert.ok(s.ephemeral);
    assert.match(s.content, /anonymous/);
    assert.match(s.content, /1 reply \(with your name and text\), 0 attachments, 1 rating\./);
  });

  e2e('/privacy forget asks first; Cancel erases nothing; Forget erases', async (ctx) => {
    const ask = await privacy(ctx, 'alice', 'forget');
    assert.ok(ask.ephemeral);
    assert.match(ask.content, /1 reply of yours, and 1 rating/);
    const ids = (ask.message!.components as Array<{ components: Array<{ custom_id: string }> }>)[0]!.components.map((c) => c.custom_id);
    assert.equal(ids, [`privacy:forget:${ctx.ids.alice}`, `privacy:cancel:${ctx.ids.alice}`]);
    // Like Discord: only alice sees her ephemeral answer, and only its own buttons can be pressed.
    await rejects(() => ctx.discord.pressButton('bob', ask, `privacy:forget:${ctx.ids.alice}`), /ephemeral to/);
    await rejects(() => ctx.discord.pressButton('alice', ask, 'privacy:forget:someone-else'), /has no button "privacy:forget:someone-else"/);
    const cancelled = await ctx.discord.pressButton('alice', ask, `privacy:cancel:${ctx.ids.alice}`);
    assert.match(cancelled.content, /Cancelled: nothing was erased/);
    assert.equal(ask.message!.components, [], 'the buttons are gone');
    assert.is(node(await api(ctx), ctx.msgs.alice)?.content, 'alice private words', 'nothing erased');
    assert.match((await privacy(ctx, 'alice', 'status')).content, /1 reply .* 1 rating\./);

    const again = await privacy(ctx, 'alice', 'forget');
    ctx.forgetAnswer = await ctx.discord.pressButton('alice', again, `privacy:forget:${ctx.ids.alice}`, { timeout: 10_000 });
    assert.equal(again.message!.components, [], 'the answer replaced the question');
  });

  e2e('/privacy forget erases alice; the recount, catch-up and a new reaction bring nothing back', async (ctx) => {
    // The erasure ran with Manage Messages: her keycap was removed from the announcement.
    const answer = ctx.forgetAnswer!;
    assert.match(answer.content, /text, name and attachments of 1 reply \(0 attachments\)/);
    assert.match(answer.content, /• 1 rating/);
    assert.match(answer.content, /removed 1 rating reaction/);
    assert.equal(
      ctx.discord
        .reactions(ctx.announcementId)
        .get('5️⃣')
        ?.filter((u) => u !== ctx.discord.botUser.id) ?? [],
      [],
    );

    const view = (await eventually(
      async () => {
        const v = await api(ctx);
        return v.rating.count === 1 ? v : null;
      },
      { message: 'one rating left' },
    ))!;
    assert.is(node(view, ctx.msgs.alice)?.deleted, true, 'a tombstone');
    assert.equal(
      node(view, ctx.msgs.alice)?.replies.map((n) => n.id),
      [ctx.msgs.bob],
      'the tree holds',
    );

    // Now the bot may not remove reactions: alice's new keycap stays on the announcement but never counts.
    await ctx.discord.setBotPermissions('blog', DEFAULT_BOT_PERMISSIONS & ~MANAGE_MESSAGES);
    await ctx.discord.react('alice', ctx.announcementId, '4️⃣');
    const recounts = () => logLines(ctx.bot).filter((l) => l.msg === 'recount finished').length;
    const before = recounts();
    await eventually(() => recounts() >= before + 2, { timeout: 20_000, message: 'two recounts after the new reaction' });
    // Catch-up reads the thread again (alice's message is still in Discord) and leaves her tombstone alone.
    await ctx.discord.waitForRequest((r) => r.route === 'GET /channels/{channel_id}/messages' && r.params.channel_id === ctx.threadId, {
      includePast: false,
      timeout: 20_000,
    });
    assert.ok(ctx.discord.reactions(ctx.announcementId).get('4️⃣')?.includes(ctx.ids.alice), 'her keycap is still there');
    // A new message of alice is not kept either; carol's, sent after it, is (so the bot has seen both).
    const aliceAgain = await ctx.discord.say('alice', ctx.threadId, 'alice writes again');
    const carolAgain = await ctx.discord.say('carol', ctx.threadId, 'carol writes again');
    await eventually(async () => node(await api(ctx), carolAgain.id), { timeout: 15_000, message: 'carol’s new reply on the API' });
    const after = await api(ctx);
    assert.is(node(after, aliceAgain.id), undefined, 'alice’s new message is not stored');
    assert.is(after.rating.count, 1, 'still only bob’s rating');
    assert.is(node(after, ctx.msgs.alice)?.deleted, true, 'catch-up did not bring her reply back');

    const exported = await exportJson(ctx.t.url, ctx.guildId);
    const json = JSON.stringify(exported.posts);
    for (const leak of ['alice private words', 'alice writes again', ctx.ids.alice]) assert.not.ok(json.includes(leak), `the export holds no ${leak}`);
    assert.equal(
      exported.posts[0].ratings.map((r: { userId: string }) => r.userId),
      [ctx.ids.bob],
    );
    const status = await privacy(ctx, 'alice', 'status');
    assert.match(status.content, /0 replies .* 0 attachments, 0 ratings\./);
    assert.match(status.content, /no longer count/);
  });

  e2e.run();
}
