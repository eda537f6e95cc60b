// Templates, filters and forum tags of a feed (issue 18): examples and properties.
import fc from 'fast-check';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { applyFilters, normaliseFilter, parseFilter, FilterError, termMatches } from '../../src/feeds/filter.ts';
import { parseFeed } from '../../src/feeds/parse.ts';
import { parseTemplate, renderTemplate, TemplateError } from '../../src/render/template.ts';
import { DEFAULT_FEED_OPTIONS, type Feed } from '../../src/repositories/feeds.ts';
import type { Post } from '../../src/repositories/posts.ts';
import { composeAnnouncement, pingMentions } from '../../src/services/announcement.ts';
import { checkFeedOptions } from '../../src/services/feed-option-checks.ts';
import { forumTagsFor, matchForumTags, tagKey } from '../../src/services/forum-tags.ts';
import { UserError } from '../../src/errors.ts';
import type { APIChannel } from 'discord-api-types/v10';

const ROLE = '123456789012345678';
const GUILD = '223456789012345678';

const post = (over: Partial<Post> = {}): Post => ({
  id: 'p1',
  feedId: 'f1',
  guildId: GUILD,
  guid: 'g1',
  url: 'https://blog.example/posts/1',
  title: 'Release 2.0 is out',
  author: 'Ann Lee',
  publishedAt: '2026-11-01T10:00:00.000Z',
  summaryHtml: '<p>All the <b>news</b>.</p>',
  imageUrl: null,
  contentHash: 'h',
  channelId: null,
  messageId: null,
  threadId: null,
  publishState: 'pending',
  failureReason: null,
  skipReason: null,
  knownReason: null,
  knownAt: null,
  announcedAt: null,
  webhookId: null,
  webhookIntentAt: null,
  categories: ['News', 'Café'],
  publishAttempts: 0,
  discussionClosedAt: null,
  discoveredAt: '2026-11-01T10:00:00.000Z',
  updatedAt: '2026-11-01T10:00:00.000Z',
  ...over,
});

const feed = (options: Partial<Feed['options']> = {}): Feed => ({
  id: 'f1',
  guildId: GUILD,
  url: 'https://blog.example/feed',
  channelId: '1',
  title: 'The Blog',
  etag: null,
  lastModified: null,
  state: 'active',
  consecutiveFailures: 0,
  lastError: null,
  lastPolledAt: null,
  lastSuccessAt: null,
  webEnabled: false,
  options: { ...DEFAULT_FEED_OPTIONS, ...options },
  lastPoll: null,
  identity: false,
  webhookId: null,
  identityNote: null,
  createdAt: '',
});
const stats = { rating: { count: 0, average: null, distribution: { 1: 0, 2: 0, 3: 0, 4: 0, 5: 0 } }, replies: 0 } as never;

const t = suite('feed options: templates');

t('the default (no template, no ping) is today’s announcement exactly: no content line', () => {
  const payload = composeAnnouncement(post(), feed(), stats);
  assert.is(payload.content, undefined);
  assert.equal(payload.allowed_mentions, { parse: [] });
  assert.equal(pingMentions(feed(), payload), { parse: [] });
});

t('placeholders are filled and escaped; the ping goes where {ping} is and is the only thing allowed to ping', () => {
  const f = feed({ template: '{ping} **New:** {title} by {author} ({categories}) on {feed} {date}\n{url}', pingRoleId: ROLE });
  const p = post({ title: 'Rust *2.0* @everyone', author: 'ann_lee' });
  const payload = composeAnnouncement(p, f, stats);
  assert.is(
    payload.content,
    `<@&${ROLE}> **New:** Rust \\*2.0\\* @\u200beveryone by ann\\_lee (News, Café) on The Blog <t:${Date.parse(p.publishedAt!) / 1000}:D>\nhttps://blog.example/posts/1`,
  );
  assert.equal(pingMentions(f, payload), { parse: [], roles: [ROLE] });
  assert.ok(payload.embeds?.length === 1, 'the embed stays');
});

t('a ping without a template is the role mention alone; without {ping} the mention comes first', () => {
  assert.is(renderTemplate(null, { ...post(), feedTitle: null }, ROLE), `<@&${ROLE}>`);
  assert.is(renderTemplate('New: {title}', { ...post(), feedTitle: null }, ROLE), `<@&${ROLE}> New: Release 2.0 is out`);
  assert.is(renderTemplate('{ping}{ping} x', { ...post(), feedTitle: null }, ROLE), `<@&${ROLE}> x`);
});

t('an unknown placeholder is refused with the list of known ones', () => {
  assert.throws(
    () => parseTemplate('New {titel}'),
    (e: unknown) => e instanceof TemplateError && /Unknown placeholder `\{titel\}`.*\{title\}/.test(e.message),
  );
  assert.throws(
    () => checkFeedOptions(GUILD, { template: '{nope}' }, null, null),
    (e: unknown) => e instanceof UserError && /template is not valid/.test(e.message),
  );
});

t('a template too long once rendered with the newest post is refused, saying how long it was', () => {
  const longSummary = `<p>${'word '.repeat(400)}</p>`;
  assert.throws(
    () => checkFeedOptions(GUILD, { template: '{summary} {summary} {summary} {summary} {summary}' }, post({ summaryHtml: longSummary }), 'x'),
    (e: unknown) => e instanceof UserError && /too long.*\d+ characters/.test(e.message),
  );
});

t('a render beyond 2,000 characters at publish time falls back to the ping alone', () => {
  const f = feed({ template: '{summary}'.repeat(5), pingRoleId: ROLE });
  const payload = composeAnnouncement(post({ summaryHtml: `<p>${'word '.repeat(400)}</p>` }), f, stats);
  assert.is(payload.content, `<@&${ROLE}>`);
});

t('ping checks: @everyone and roles blogcord may not mention are refused with the reason', () => {
  assert.throws(() => checkFeedOptions(GUILD, { ping: { id: GUILD, name: '@everyone', mentionable: true } }, null, null), /never pings @everyone/);
  assert.throws(
    () => checkFeedOptions(GUILD, { ping: { id: ROLE, name: 'Readers', mentionable: false }, canMentionEveryone: false }, null, null),
    /not mentionable and blogcord lacks the Mention Everyone permission/,
  );
  assert.equal(checkFeedOptions(GUILD, { ping: { id: ROLE, name: 'Readers', mentionable: false }, canMentionEveryone: true }, null, null), {
    pingRoleId: ROLE,
  });
  assert.equal(checkFeedOptions(GUILD, { clearPing: true }, null, null), { pingRoleId: null });
});

const text = fc.oneof(
  fc.string({ maxLength: 60 }),
  fc.constantFrom('@everyone', '@here', '@', 'everyone', 'here', '<', '@&', `${ROLE}>`, '<@&1>', '<@1>', '\ue000', '\ue001', '{ping}', '`', '*'),
);
const joined = fc.array(text, { maxLength: 8 }).map((a) => a.join(''));
const template = fc
  .array(fc.oneof(text, fc.constantFrom('{title}', '{url}', '{author}', '{summary}', '{categories}', '{feed}', '{date}', '{ping}')), { maxLength: 10 })
  .map((a) => a.join(''));

t('property: no template and no feed text can ping @everyone/@here or any role but the configured one', () => {
  fc.assert(
    fc.property(
      template,
      joined,
      joined,
      joined,
      fc.array(joined, { maxLength: 3 }),
      fc.option(fc.constant(ROLE)),
      (tpl, title, author, summary, cats, ping) => {
        const f = feed({ template: tpl, pingRoleId: ping });
        // A template with an unknown placeholder is refused when set; composing one anyway falls back to the ping alone.
        const payload = composeAnnouncement(post({ title, author, summaryHtml: summary, categories: cats }), f, stats);
        const content = payload.content ?? '';
        const mentions = pingMentions(f, payload);
        assert.not.ok(mentions.parse?.length, 'nothing parsed');
        assert.ok((mentions.roles ?? []).every((r) => r === ROLE && ping === ROLE));
        assert.not.ok(/@(everyone|here)/i.test(content), `no live @everyone/@here in ${JSON.stringify(content)}`);
        // The only role or user mention the content may hold is the configured ping, once.
        const live = [...content.matchAll(/<@[&!]?\d+>/g)].map((m) => m[0]);
        assert.ok(live.every((m) => m === `<@&${ROLE}>`) && live.length <= (ping ? 1 : 0), `mentions ${JSON.stringify(live)}`);
      },
    ),
    { numRuns: 400 },
  );
});

t.run();

const f = suite('feed options: filters');

f('terms: fields, bare words, case-insensitive; bad terms are refused with a reason', () => {
  assert.equal(
    parseFilter(' Category:News , title: Release notes,ann ').map((x) => [x.field, x.words]),
    [
      ['category', ['news']],
      ['title', ['release', 'notes']],
      [null, ['ann']],
    ],
  );
  assert.is(normaliseFilter('TITLE:Release,, '), 'title:release');
  assert.is(normaliseFilter(' , '), null);
  assert.throws(
    () => parseFilter('tag:news'),
    (e: unknown) => e instanceof FilterError && /`tag:` is not a filter field/.test(e.message),
  );
  assert.throws(() => parseFilter('title:  '), /has no word/);
});

f('matching: categories whole, title and author words; exclude wins and names its rule', () => {
  const item = { title: 'Release 2.0 is out', author: 'Ann Lee', categories: ['News', 'Rust lang'] };
  assert.equal(applyFilters({ include: 'category:news', exclude: null }, item), { pass: true });
  assert.equal(applyFilters({ include: 'category:rust', exclude: null }, item), { pass: false, rule: 'include: none of category:rust' });
  assert.equal(applyFilters({ include: null, exclude: 'title:release' }, item), { pass: false, rule: 'exclude: title:release' });
  assert.equal(applyFilters({ include: 'lee', exclude: null }, item), { pass: true });
  assert.equal(applyFilters({ include: 'title:leas', exclude: null }, item).pass, false, 'words, not substrings');
  assert.equal(applyFilters({ include: 'news', exclude: 'author:ann' }, item), { pass: false, rule: 'exclude: author:ann' });
});

const word = fc.stringMatching(/^[a-zA-Z0-9]{1,8}$/);
f('property: a term built from an item’s own title words matches it, in any case; excluding it skips the item', () => {
  fc.assert(
    fc.property(fc.array(word, { minLength: 1, maxLength: 6 }), fc.nat(), fc.boolean(), (ws, i, upper) => {
      const title = ws.join(' ');
      const w = ws[i % ws.length]!;
      const term = `title:${upper ? w.toUpperCase() : w.toLowerCase()}`;
      const item = { title, author: null, categories: [] };
      assert.ok(termMatches(parseFilter(term)[0]!, item));
      assert.equal(applyFilters({ include: null, exclude: term }, item), { pass: false, rule: `exclude: title:${w.toLowerCase()}` });
      assert.equal(applyFilters({ include: term, exclude: null }, item), { pass: true });
    }),
  );
});

f('property: the parser never throws anything but a FilterError, and a normalised filter parses to the same terms', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 200 }), (s) => {
      let n: string | null;
      try {
        n = normaliseFilter(s);
      } catch (e) {
        assert.ok(e instanceof FilterError, String(e));
        return;
      }
      if (n !== null) assert.is(normaliseFilter(n), n);
    }),
    { numRuns: 500 },
  );
});

f.run();

const g = suite('feed options: forum tags and categories');

const forum = (tags: string[], require = false) =>
  ({ id: '9', type: 15, guild_id: GUILD, flags: require ? 16 : 0, available_tags: tags.map((name, i) => ({ id: `t${i}`, name })) }) as unknown as APIChannel;

g('categories match tags case- and accent-insensitively, unknown ones ignored, at most 5', () => {
  assert.is(tagKey('  CAFÉ  crème '), 'cafe creme');
  assert.equal(
    matchForumTags(forum(['news', 'cafe', 'Other']), ['Café', 'NEWS', 'unknown']).map((t) => t.name),
    ['cafe', 'news'],
  );
  const many = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
  assert.is(matchForumTags(forum(many), many).length, 5);
  assert.equal(forumTagsFor(forum(['news']), feed(), post()).ids, [], 'tags off: none');
  assert.equal(forumTagsFor(forum(['news']), feed({ forumTags: true }), post()), { ids: ['t0'], refusal: null });
  const refused = forumTagsFor(forum(['other'], true), feed({ forumTags: true }), post());
  assert.match(refused.refusal ?? '', /requires a tag.*News, Café.*other/);
});

g('the parser keeps RSS, Atom and JSON Feed categories', () => {
  const rss = parseFeed(
    '<rss version="2.0"><channel><title>t</title><item><title>a</title><guid>1</guid><category>News</category><category>news</category><category> Café </category></item></channel></rss>',
    'https://blog.example/feed',
  );
  assert.equal(rss.items[0]!.categories, ['News', 'Café']);
  const atom = parseFeed(
    '<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><entry><id>1</id><title>a</title><updated>2026-01-01T00:00:00Z</updated><category term="rust" label="Rust"/><category term="web"/></entry></feed>',
    'https://blog.example/feed',
  );
  assert.equal(atom.items[0]!.categories, ['Rust', 'web']);
  const json = parseFeed(
    JSON.stringify({ version: 'https://jsonfeed.org/version/1.1', title: 't', items: [{ id: '1', title: 'a', tags: ['x', 'y'] }] }),
    'https://blog.example/feed',
  );
  assert.equal(json.items[0]!.categories, ['x', 'y']);
});

g.run();
