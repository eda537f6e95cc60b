import type { Db } from '../db/index.ts';
import type { RatingSummary } from '../domain/rating.ts';
import { listComments } from '../repositories/comments.ts';
import { listDigests } from '../repositories/digest-runs.ts';
import { listFeedsWithRemoved } from '../repositories/feeds.ts';
import { listPosts } from '../repositories/posts.ts';
import { getRatingSummaries, listRatings } from '../repositories/ratings.ts';

/** The export JSON (docs/operations.md#export): every published post with its rating, ratings and comments, and the digests. */
export interface ExportData {
  posts: Array<{
    id: string;
    guildId: string;
    feedUrl: string;
    guid: string;
    url: string | null;
    title: string;
    author: string | null;
    publishedAt: string | null;
    publishState: string;
    failureReason: string | null;
    discord: { channelId: string | null; messageId: string | null; threadId: string | null };
    rating: RatingSummary;
    ratings: Array<{ userId: string; stars: number; updatedAt: string }>;
    /** A deleted comment keeps only its place in the tree: authorId, authorName and content null, attachments []. */
    comments: Array<{
      id: string;
      authorId: string | null;
      authorName: string | null;
      content: string | null;
      replyToId: string | null;
      createdAt: string;
      editedAt: string | null;
      deletedAt: string | null;
      attachments: Array<{ url: string; name: string }>;
    }>;
  }>;
  digests: Array<{ guildId: string; periodKey: string; channelId: string | null; messageId: string | null; postedAt: string | null; state: string }>;
}

export async function exportData(db: Db, opts: { guildId?: string } = {}): Promise<ExportData> {
  const feeds = new Map((await listFeedsWithRemoved(db, opts.guildId)).map((f) => [f.id, f]));
  // Items seen but never meant to be published ('known': old items when a feed was added; 'skipped' by a filter) are not posts of the server.
  const posts = (
    await listPosts(db, { guildId: opts.guildId, states: ['pending', 'announced', 'threaded', 'published', 'failed'], limit: Number.MAX_SAFE_INTEGER })
  ).reverse();
  const summaries = await getRatingSummaries(
    db,
    posts.map((p) => p.id),
  );
  const out: ExportData = { posts: [], digests: [] };
  for (const p of posts) {
    const [ratings, comments] = await Promise.all([listRatings(db, p.id), listComments(db, p.id)]);
    out.posts.push({
      id: p.id,
      guildId: p.guildId,
      feedUrl: feeds.get(p.feedId)?.url ?? '',
      guid: p.guid,
      url: p.url,
      title: p.title,
      author: p.author,
      publishedAt: p.publishedAt,
      publishState: p.publishState,
      failureReason: p.failureReason,
      discord: { channelId: p.channelId, messageId: p.messageId, threadId: p.threadId },
      rating: summaries.get(p.id)!,
      ratings: ratings.map((r) => ({ userId: r.userId, stars: r.stars, updatedAt: r.updatedAt })),
      comments: comments.map((c) => {
        const live = c.deletedAt === null;
        return {
          id: c.id,
          authorId: live ? c.authorId : null,
          authorName: live ? c.authorName : null,
          content: live ? c.content : null,
          replyToId: c.replyToId,
          createdAt: c.createdAt,
          editedAt: live ? c.editedAt : null,
          deletedAt: c.deletedAt,
          attachments: live ? c.attachments.map((a) => ({ url: a.url, name: a.name })) : [],
        };
      }),
    });
  }
  out.digests = (await listDigests(db, { guildId: opts.guildId, states: ['posted'] })).map((d) => ({
    guildId: d.guildId,
    periodKey: d.periodKey,
    channelId: d.channelId,
    messageId: d.messageId,
    postedAt: d.postedAt,
    state: d.state,
  }));
  return out;
}
