// Feeds that are unusual but valid (and one that is not): a fixture for each class, facts in
// test/fixtures/feeds-unusual/expected.json. Also the date fallbacks and the order a backfill picks from.
import { readFileSync, readdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ChannelType } from 'discord-api-types/v10';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeFeedBytes } from '../../src/feeds/charset.ts';
import { FeedError } from '../../src/feeds/errors.ts';
import { parseFeed } from '../../src/feeds/parse.ts';
import type { ParsedFeed, PostDraft } from '../../src/feeds/types.ts';
import { addFeedReply } from '../../commands/feed.ts';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/logger.ts';
import { addFeed } from '../../src/services/feeds.ts';
import { newestFirst } from '../../src/services/feed-source.ts';
import { pollFeed } from '../../src/services/feed-poll.ts';
import { createTestDb, DIALECTS, type TestDb } from '../support/db.ts';
import { FakeDiscord, FakeJobs } from '../support/fakes.ts';
import { snowflake } from '../support/snowflake.ts';

const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'feeds-unusual');

type ItemFacts = Partial<Pick<PostDraft, 'title' | 'url' | 'key' | 'author' | 'publishedAt' | 'summaryHtml' | 'contentHtml' | 'imageUrl'>> & {
  contentExcludes?: string[];
};
interface Expected {
  class: string;
  format?: ParsedFeed['format'];
  title?: string;
  link?: string;
  items?: ItemFacts[];
  /** Titles in the order a backfill picks them (newestFirst). */
  newestFirst?: string[];
  error?: { code: string; message: string };
}
const expected = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as Record<string, Expected>;
const load = (file: string) => parseFeed(decodeFeedBytes(readFileSync(join(dir, file))), `https://fixtures.example/${file}`);

const fixtures = suite('unusual but valid feeds (feeds-unusual/expected.json)');

fixtures('every fixture has an expected.json entry naming its class', () => {
  const files = readdirSync(dir).filter((f) => f !== 'expected.json');
  assert.equal(files.sort(), Object.keys(expected).sort());
  for (const exp of Object.values(expected)) assert.ok(exp.class.length > 10);
});

for (const [file, exp] of Object.entries(expected)) {
  fixtures(`${file}: ${exp.class}`, () => {
    if (exp.error) {
      try {
        load(file);
      } catch (err) {
        assert.instance(err, FeedError);
        assert.is((err as FeedError).code, exp.error.code);
        assert.is((err as FeedError).message, exp.error.message);
        return;
      }
      assert.unreachable('expected a refusal');
    }
    const feed = load(file);
    assert.is(feed.format, exp.format);
    if (exp.title !== undefined) assert.is(feed.title, exp.title, 'feed title');
    if (exp.link !== undefined) assert.is(feed.link, exp.link, 'feed link');
    assert.is(feed.items.length, exp.items!.length, 'item count');
    exp.items!.forEach((facts, i) => {
      const item = feed.items[i]!;
      const { contentExcludes, ...fields } = facts;
      for (const [field, value] of Object.entries(fields)) assert.equal(item[field as keyof PostDraft], value, `item ${i} ${field}`);
      for (const text of contentExcludes ?? []) {
        assert.not.ok(item.contentHtml?.includes(text), `item ${i} content keeps ${text}`);
        assert.not.ok(item.title.includes(text), `item ${i} title keeps ${text}`);
      }
      assert.not.match(item.title, /<!|DOCTYPE|track\(|color:/, `item ${i} title`);
    });
    if (exp.newestFirst)
      assert.equal(
        newestFirst(feed.items).map((d) => d.title),
        exp.newestFirst,
        'backfill order',
      );
  });
}

fixtures('plain-text titles (JSON Feed, Atom without type) keep tags literal and still decode the entities publishers put in them', () => {
  const json = JSON.stringify({
    version: 'https://jsonfeed.org/version/1.1',
    title: 'A <b>bold</b> blog',
    items: [{ id: '1', url: 'https://blog.example/1', title: 'FCC Says Releasing &#8216;Jokes&#8217; about <video> tags' }],
  });
  const feed = parseFeed(json, 'https://blog.example/feed.json');
  assert.is(feed.title, 'A <b>bold</b> blog');
  assert.is(feed.items[0]!.title, 'FCC Says Releasing ‘Jokes’ about <video> tags');
  const atom = parseFeed(
    '<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>f</id><entry><id>1</id><title>It&amp;#8217;s &lt;br&gt; time</title><updated>2024-01-01T00:00:00Z</updated></entry></feed>',
    'https://blog.example/atom',
  );
  assert.is(atom.items[0]!.title, 'It’s <br> time');
});

const refusals = suite('refusals name what is wrong');

refusals('each refusal says what is missing or broken, without control characters', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['<rss version="2.0"><channel><item></item></channel></rss>', 'malformed', /its <item> elements hold nothing blogcord can read/],
    ['<feed xmlns="http://www.w3.org/2005/Atom"><entry></entry></feed>', 'malformed', /its <entry> elements hold nothing blogcord can read/],
    ['{"version":"https://jsonfeed.org/version/1","items":{}}', 'malformed', /"items" is not a list/],
    ['\u001b[2J\u0007hello there', 'not-a-feed', /^This is not a feed \(it starts with "\[2Jhello there"\)\.$/],
  ];
  for (const [input, code, message] of cases) {
    try {
      parseFeed(input, 'https://blog.example/feed');
      assert.unreachable(input);
    } catch (err) {
      assert.instance(err, FeedError);
      assert.is((err as FeedError).code, code);
      assert.match((err as FeedError).message, message);
      assert.not.match((err as FeedError).message, /Invalid feed format|[\u0000-\u0008\u000B-\u001F\u007F-\u009F]/);
    }
  }
});

const dates = suite('publication dates');

const rss = (items: string) =>
  `<?xml version="1.0"?><rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>T</title><link>https://blog.example/</link>${items}</channel></rss>`;

dates('pubDate wins over dc:date; an unreadable pubDate falls back to dc:date; updated is kept apart', () => {
  const feed = parseFeed(
    rss(
      '<item><title>a</title><link>https://blog.example/a</link><pubDate>Mon, 01 Jan 2024 10:00:00 GMT</pubDate><dc:date>2020-01-01T00:00:00Z</dc:date></item>' +
        '<item><title>b</title><link>https://blog.example/b</link><pubDate>someday</pubDate><dc:date>2020-01-01T00:00:00Z</dc:date></item>',
    ),
    'https://blog.example/feed',
  );
  assert.equal(
    feed.items.map((i) => i.publishedAt),
    ['2024-01-01T10:00:00.000Z', '2020-01-01T00:00:00.000Z'],
  );
});

dates('Atom: published wins over updated; updated stands in when published is missing', () => {
  const atom = `<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>f</id><updated>2024-02-01T00:00:00Z</updated>
    <entry><id>1</id><title>one</title><published>2024-01-01T00:00:00Z</published><updated>2024-02-01T00:00:00Z</updated></entry>
    <entry><id>2</id><title>two</title><updated>2024-01-15T00:00:00Z</updated></entry></feed>`;
  const feed = parseFeed(atom, 'https://blog.example/atom');
  assert.equal(
    feed.items.map((i) => [i.publishedAt, i.updatedAt]),
    [
      ['2024-01-01T00:00:00.000Z', '2024-02-01T00:00:00.000Z'],
      ['2024-01-15T00:00:00.000Z', '2024-01-15T00:00:00.000Z'],
    ],
  );
});

dates('backfill order: same dates keep the feed order; an undated first item counts as the newest', () => {
  const draft = (title: string, publishedAt: string | null) => ({ title, publishedAt }) as PostDraft;
  const items = [
    draft('top', null),
    draft('a', '2024-01-02T00:00:00.000Z'),
    draft('b', '2024-01-02T00:00:00.000Z'),
    draft('old', '2023-01-01T00:00:00.000Z'),
    draft('c', '2024-01-03T00:00:00.000Z'),
  ];
  assert.equal(
    newestFirst(items).map((d) => d.title),
    ['top', 'c', 'a', 'b', 'old'],
  );
});

fixtures.run();
refusals.run();
dates.run();

// ------------------------------------------------------------------ following such feeds, on both databases

interface Ctx {
  t: TestDb;
  server: Server;
  base: string;
  /** What the server answers, by path. */
  bodies: Map<string, string>;
}

const config = loadConfig({ FEED_ALLOW_PRIVATE_NETWORK: 'true', FEED_TIMEOUT_SECONDS: '2' }, { dotenv: false });

for (const dialect of DIALECTS) {
  const follow = suite<Ctx>(`following unusual feeds on ${dialect}`, {} as Ctx);

  follow.before(async (c) => {
    c.t = await createTestDb(dialect);
    c.bodies = new Map();
    c.server = createServer((req, res) => {
      const body = c.bodies.get(req.url ?? '');
      if (body === undefined) res.writeHead(404).end();
      else res.writeHead(200, { 'content-type': 'application/rss+xml; charset=utf-8' }).end(body);
    });
    await new Promise<void>((resolve) => c.server.listen(0, '127.0.0.1', resolve));
    c.base = `http://127.0.0.1:${(c.server.address() as AddressInfo).port}`;
  });
  follow.after(async (c) => {
    await new Promise((resolve) => c.server?.close(resolve));
    await c.t?.close();
  });

  follow('a channel with no items yet is followed ("no posts yet"); its first post is announced by the next poll', async (c) => {
    const path = `/empty-${snowflake()}.xml`;
    c.bodies.set(path, readFileSync(join(dir, 'rss2-empty-channel.xml'), 'utf8'));
    const discord = new FakeDiscord();
    const jobs = new FakeJobs();
    const guildId = snowflake();
    const channelId = discord.addChannel(guildId, ChannelType.GuildText);
    const ctx = { db: c.t.db, discord, log: createLogger('silent'), config };
    const added = await addFeed({ ...ctx, jobs: jobs }, { guildId, url: `${c.base}${path}`, channelId });
    assert.is(added.items, 0);
    assert.ok(added.created);
    assert.match(addFeedReply(added), /no posts yet/);
    c.bodies.set(path, readFileSync(join(dir, 'rss2-namespace-prefix.xml'), 'utf8'));
    const polled = await pollFeed({ ...ctx, jobs: jobs }, added.feed.id);
    assert.equal(polled, { status: 'ok', items: 1, new: 1, changed: 0, relinked: 0, held: 0 });
    assert.is(jobs.published.length, 1);
  });

  follow.run();
}
