// Text from feeds and from people, on SQLite and PostgreSQL: a feed item carrying NUL and control characters is
// stored (PostgreSQL refuses NUL in text), and autocomplete/search input carrying them neither throws
// (PostgreSQL) nor matches every post (SQLite's LIKE stops at a NUL).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parseFeed } from '../../src/feeds/parse.ts';
import { upsertFeed, type Feed } from '../../src/repositories/feeds.ts';
import { getPost, setPublishState, upsertPostFromFeed } from '../../src/repositories/posts.ts';
import { findPostsByTitle } from '../../src/repositories/search.ts';
import { resolvePost, suggestPosts } from '../../src/services/blog.ts';
import { postContent } from '../../src/services/feed-source.ts';
import { createTestDb, DIALECTS, type TestDb } from '../support/db.ts';
import { snowflake } from '../support/snowflake.ts';

interface Ctx {
  t: TestDb;
  guildId: string;
  feed: Feed;
}

const NASTY = '\u0000\u001b[2J\u0007\u0085';
const feedXml = `<?xml version="1.0"?><rss version="2.0"><channel><title>Garden${NASTY}</title><link>https://blog.example/</link>
  <item><title>Gardening${NASTY} in May</title><link>https://blog.example/garden</link><guid isPermaLink="false">garden${NASTY}</guid>
    <author>me@blog.example (Ann${NASTY})</author><description>&lt;p&gt;Tulips${NASTY} &amp;#0;&lt;/p&gt;</description></item>
  <item><title>Cooking in June</title><link>https://blog.example/cook</link><guid isPermaLink="false">cook</guid><description>Soup</description></item>
</channel></rss>`;

for (const dialect of DIALECTS) {
  const test = suite<Ctx>(`feed text and typed input with control characters on ${dialect}`, {} as Ctx);

  test.before(async (c) => {
    c.t = await createTestDb(dialect);
    c.guildId = snowflake();
    c.feed = (await upsertFeed(c.t.db, { guildId: c.guildId, url: 'https://blog.example/feed', channelId: snowflake() })).feed;
    for (const draft of parseFeed(feedXml, 'https://blog.example/feed').items) {
      const { post } = await upsertPostFromFeed(c.t.db, c.feed, postContent(draft), 'pending');
      await setPublishState(c.t.db, post.id, { state: 'published', channelId: c.feed.channelId, messageId: snowflake(), threadId: snowflake() });
    }
  });
  test.after(async (c) => {
    await c.t?.close();
  });

  test('an item with NUL and controls in every field is stored, without them', async (c) => {
    const [garden] = await findPostsByTitle(c.t.db, c.guildId, 'gardening');
    assert.ok(garden, 'stored');
    const post = (await getPost(c.t.db, garden!.id))!;
    assert.equal([post.title, post.author, post.summaryHtml], ['Gardening[2J in May', 'Ann[2J', '<p>Tulips[2J </p>']);
    assert.not.match(JSON.stringify(post), /\\u00(0|1)|\\u0085|\u0085/);
  });

  test('autocomplete with a NUL typed finds what the rest of the text finds, without throwing', async (c) => {
    const found = await findPostsByTitle(c.t.db, c.guildId, `Gard\u0000`);
    assert.equal(
      found.map((p) => p.title),
      ['Gardening[2J in May'],
    );
    assert.equal((await findPostsByTitle(c.t.db, c.guildId, `zzz\u0000`)).length, 0, 'a NUL does not match everything');
    assert.equal(
      (await suggestPosts(c.t.db, c.guildId, `\u0000Cook\u001b`)).map((s) => s.name),
      ['Cooking in June'],
    );
  });

  test('/blog show input with a NUL resolves by title and never throws', async (c) => {
    assert.is((await resolvePost(c.t.db, c.guildId, `Cooking\u0000 in`))?.title, 'Cooking in June');
    assert.is(await resolvePost(c.t.db, c.guildId, `nothing\u0000here`), null);
    assert.is(await resolvePost(c.t.db, c.guildId, `\u0000`), null);
  });

  test.run();
}
