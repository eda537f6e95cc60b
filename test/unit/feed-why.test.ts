// /feed why and /feed status on arbitrary input: the closest-post similarity is a score in [0, 1] that never throws and
// ranks the post a mistyped link names first; a story and a status always fit one message (≤ 2000 characters), whatever
// the titles, links, errors and counts; a webhook name is what Discord accepts (1–80 characters, no "discord"/"clyde").
import fc from 'fast-check';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { renderFeedStatus, type FeedStatus } from '../../src/render/feed-status.ts';
import { renderPostStory } from '../../src/render/post-story.ts';
import type { Feed } from '../../src/repositories/feeds.ts';
import type { Post } from '../../src/repositories/posts.ts';
import { DEFAULT_FEED_OPTIONS } from '../../src/repositories/feeds.ts';
import { webhookName } from '../../src/services/feed-identity.ts';
import { nextPoll } from '../../src/services/feed-status.ts';
import { closestPosts, similarity } from '../../src/services/feed-why.ts';

const test = suite('feed why and status rules');

const post = (over: Partial<Post>): Post => ({
  id: 'p',
  feedId: 'f',
  guildId: 'g',
  guid: 'k',
  url: null,
  title: 'T',
  author: null,
  publishedAt: null,
  summaryHtml: null,
  imageUrl: null,
  contentHash: 'h',
  channelId: null,
  messageId: null,
  threadId: null,
  publishState: 'known',
  failureReason: null,
  publishAttempts: 0,
  discussionClosedAt: null,
  knownReason: null,
  skipReason: null,
  categories: [],
  knownAt: null,
  announcedAt: null,
  webhookId: null,
  webhookIntentAt: null,
  discoveredAt: '2026-12-01T10:00:00.000Z',
  updatedAt: '2026-12-01T10:00:00.000Z',
  ...over,
});

test('GIVEN a mistyped link THEN the post it names comes first among the closest', () => {
  const posts = [1, 2, 4, 10, 14, 40].map((n) => post({ id: `p${n}`, url: `https://blog.example/posts/${n}`, title: `Post number ${n}` }));
  const closest = closestPosts('https://blog.example/posts/number-4-draft', posts);
  assert.is(closest[0]!.post.id, 'p4');
  assert.equal(closestPosts('https://elsewhere.example/zzz', posts), []);
  assert.is(closestPosts('release notes', [post({ id: 'a', title: 'Release notes 1.2' }), post({ id: 'b', title: 'Holiday' })])[0]!.post.id, 'a');
});

test('property: similarity is a score in [0, 1] for any input and any post, and never throws', () => {
  fc.assert(
    fc.property(fc.string(), fc.option(fc.oneof(fc.webUrl(), fc.string())), fc.string(), (input, url, title) => {
      const { score, why } = similarity(input, { url, title });
      return score >= 0 && score <= 1 && typeof why === 'string';
    }),
    { numRuns: 300 },
  );
});

const feed: Feed = {
  id: 'f',
  guildId: 'g',
  url: 'https://blog.example/feed',
  channelId: '1',
  title: 'Blog',
  etag: null,
  lastModified: null,
  state: 'active',
  consecutiveFailures: 0,
  lastError: null,
  lastPolledAt: '2026-12-01T10:00:00.000Z',
  lastSuccessAt: null,
  webEnabled: false,
  lastPoll: null,
  identity: false,
  webhookId: null,
  identityNote: null,
  options: DEFAULT_FEED_OPTIONS,
  createdAt: '',
};

test('property: a story always fits one message, for any title, link, reason and state', () => {
  fc.assert(
    fc.property(
      fc.string({ maxLength: 3000 }),
      fc.option(fc.webUrl()),
      fc.option(fc.string({ maxLength: 3000 })),
      fc.constantFrom('known', 'pending', 'announced', 'threaded', 'published', 'failed', 'skipped'),
      fc.constantFrom(null, 'flood', 'added', 'removed'),
      fc.array(fc.string({ maxLength: 500 }), { maxLength: 5 }),
      (title, url, reason, state, knownReason, others) => {
        const p = post({ title, url, failureReason: reason, publishState: state as Post['publishState'], knownReason: knownReason as Post['knownReason'] });
        const found = renderPostStory({ kind: 'found', post: p, feed: { url: feed.url, title: null, state: 'active' }, link: null, skipReason: reason });
        const unknown = renderPostStory({ kind: 'unknown', input: url ?? title, closest: others.map((t) => ({ post: post({ title: t }), why: 'x' })) });
        return found.length <= 2000 && unknown.length <= 2000;
      },
    ),
    { numRuns: 200 },
  );
});

test('property: a status always fits one message, for any title, error, counts and failed posts', () => {
  fc.assert(
    fc.property(
      fc.string({ maxLength: 1000 }),
      fc.option(fc.string({ maxLength: 3000 })),
      fc.dictionary(fc.string({ maxLength: 60 }), fc.nat()),
      fc.array(fc.string({ maxLength: 1000 }), { maxLength: 3 }),
      (title, error, counts, failed) => {
        const s: FeedStatus = {
          feed: { ...feed, title },
          lastPoll: { outcome: 'failed', httpStatus: 500, durationMs: 12, items: null, at: feed.lastPolledAt! },
          nextPollAt: '2026-12-01T10:01:00.000Z',
          nextPollNote: null,
          push: {
            on: false,
            detail: 'PUBLIC_URL is not set',
            lastDeliveryAt: '2026-12-01T09:00:00.000Z',
            hook: { url: null, token: 'x'.repeat(32), lastCallAt: null },
          },
          failures: { consecutive: 2, lastError: error },
          counts,
          failed: failed.map((t) => post({ title: t, failureReason: t, publishState: 'failed' })),
          identity: { on: true, webhook: false, note: error },
          options: { channelId: '1', web: false, intervalSeconds: 900 },
        };
        return renderFeedStatus(s).length <= 2000;
      },
    ),
    { numRuns: 200 },
  );
});

test('next poll: one interval after the last, later while backing off, none when paused', () => {
  const at = new Date('2026-12-01T10:00:30.000Z');
  assert.is(nextPoll({ ...feed, consecutiveFailures: 0 }, 60, at).at, '2026-12-01T10:01:00.000Z');
  const backing = nextPoll({ ...feed, consecutiveFailures: 3 }, 60, at);
  assert.is(backing.at, '2026-12-01T10:04:00.000Z');
  assert.match(backing.note ?? '', /backing off after 3 failed polls/);
  assert.is(nextPoll({ ...feed, state: 'paused' }, 60, at).at, null);
});

test('property: a webhook name is 1–80 characters without "discord" or "clyde", for any blog title', () => {
  fc.assert(
    fc.property(fc.option(fc.string({ maxLength: 200 })), (title) => {
      const name = webhookName({ title, url: 'https://blog.example/feed' });
      return name.length >= 1 && name.length <= 80 && !/discord|clyde/i.test(name);
    }),
    { numRuns: 300 },
  );
  assert.is(webhookName({ title: '  ', url: 'https://blog.example/feed' }), 'blog.example');
});

test.run();
