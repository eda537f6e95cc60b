import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Db } from '../../src/db/index.ts';
import { upsertComments } from '../../src/repositories/comments.ts';
import { upsertFeed } from '../../src/repositories/feeds.ts';
import { getPost, setPublishState, upsertPostFromFeed, type Post } from '../../src/repositories/posts.ts';
import { setRating } from './ratings.ts';
import type { PostThread } from '../../src/services/mirror.ts';
import { snowflake } from './snowflake.ts';

/** The project's own test fixtures (real feeds with expected.json, the seed post and its discussion). */
export const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));

export interface SeedComment {
  id: string;
  author: string;
  replyTo: string | null;
  depth: number;
  text: string;
}
export interface SeedPost {
  title: string;
  author: string;
  isoDate: string;
  paragraphs: string[];
}

export function loadSeed(): { post: SeedPost; comments: SeedComment[] } {
  const post = JSON.parse(readFileSync(`${FIXTURES}seed-post.json`, 'utf8')) as SeedPost;
  const { comments } = JSON.parse(readFileSync(`${FIXTURES}seed-discussion.json`, 'utf8')) as { comments: SeedComment[] };
  return { post, comments };
}

export const SEED_URL = 'https://digitalstrategy.rsm.nl/2017/10/12/what-do-wechat-and-lord-of-the-rings-have-in-common/';

/**
 * The seed post as blogcord would have stored it after publishing it and mirroring its thread:
 * 22 comments with their reply tree (fixture ids mapped to snowflakes) and two 5-star ratings.
 */
export async function seedDiscussion(db: Db, guildId = snowflake()): Promise<{ post: Post; idOf: Map<string, string>; guildId: string }> {
  const { post: seed, comments } = loadSeed();
  const { feed } = await upsertFeed(db, { guildId, url: 'https://digitalstrategy.rsm.nl/feed/', channelId: snowflake() });
  const { post } = await upsertPostFromFeed(
    db,
    feed,
    {
      key: SEED_URL,
      url: SEED_URL,
      title: seed.title,
      author: seed.author,
      publishedAt: new Date(`${seed.isoDate}T00:00:00Z`).toISOString(),
      summaryHtml: `<p>${seed.paragraphs[0]}</p>`,
      searchText: `${seed.title} ${seed.paragraphs[0]}`,
      imageUrl: null,
      contentHash: 'seed',
    },
    'pending',
  );
  const messageId = snowflake();
  await setPublishState(db, post.id, { state: 'published', channelId: feed.channelId, messageId, threadId: messageId });
  const start = Date.parse('2017-10-12T10:00:00Z');
  const idOf = new Map<string, string>();
  comments.forEach((c, i) => idOf.set(c.id, snowflake(start + i * 60_000)));
  await upsertComments(
    db,
    comments.map((c, i) => ({
      id: idOf.get(c.id)!,
      postId: post.id,
      threadId: messageId,
      authorId: snowflake(),
      authorName: c.author,
      content: c.text,
      replyToId: c.replyTo ? idOf.get(c.replyTo)! : null,
      attachments: [],
      createdAt: new Date(start + i * 60_000).toISOString(),
      editedAt: null,
    })),
  );
  await setRating(db, post.id, snowflake(), 5, new Date(start).toISOString());
  await setRating(db, post.id, snowflake(), 5, new Date(start + 1000).toISOString());
  return { post: (await getPost(db, post.id))!, idOf, guildId };
}

/**
 * A post announced with a thread (in a text channel: the thread's id is the announcement's), as the mirror
 * and catch-up see it. Each call makes its own feed; `guildId`, `threadId` and `messageId` default to new ids,
 * `publishedAt` to now.
 */
export async function publishedPost(db: Db, ids: { guildId?: string; threadId?: string; messageId?: string; publishedAt?: string } = {}): Promise<PostThread> {
  const key = snowflake();
  const threadId = ids.threadId ?? snowflake();
  const messageId = ids.messageId ?? threadId;
  const { feed } = await upsertFeed(db, { guildId: ids.guildId ?? snowflake(), url: 'https://blog.example/feed', channelId: snowflake() });
  const { post } = await upsertPostFromFeed(
    db,
    feed,
    {
      key,
      url: `https://blog.example/${key}`,
      title: `Post ${key}`,
      author: null,
      publishedAt: ids.publishedAt ?? new Date().toISOString(),
      summaryHtml: null,
      searchText: 'x',
      imageUrl: null,
      contentHash: key,
    },
    'pending',
  );
  await setPublishState(db, post.id, { state: 'published', channelId: feed.channelId, messageId, threadId });
  return { postId: post.id, threadId, messageId };
}
