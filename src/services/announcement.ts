import type { RESTPostAPIChannelMessageJSONBody } from 'discord-api-types/v10';
import type { AppContext } from '../context.ts';
import type { Db } from '../db/index.ts';
import { renderPostMessage, threadName, webHost } from '../render/post.ts';
import { countReplies } from '../repositories/comments.ts';
import { getFeed } from '../repositories/feeds.ts';
import { closeDiscussions, getPost, type Post } from '../repositories/posts.ts';
import { getRatingSummary } from '../repositories/ratings.ts';
import { isGone } from './discord-port.ts';

/**
 * The announcement of a stored post as it should look now: its content, rating and reply count, and, while its feed
 * is on the web (`/web enable`), the line saying where the replies appear and that `/privacy` chooses how.
 */
export async function announcementPayload(db: Db, post: Post): Promise<RESTPostAPIChannelMessageJSONBody> {
  const [rating, replies, feed] = await Promise.all([getRatingSummary(db, post.id), countReplies(db, [post.id]), getFeed(db, post.feedId)]);
  const host = feed?.webEnabled ? webHost(post.url, feed.url) : null;
  return renderPostMessage(
    {
      title: post.title,
      url: post.url,
      author: post.author,
      publishedAt: post.publishedAt,
      summaryHtml: post.summaryHtml,
      contentHtml: null,
      imageUrl: post.imageUrl,
      feedTitle: feed?.title ?? null,
    },
    { rating, replies: replies.get(post.id) ?? 0 },
    host ? { host } : null,
  );
}

export type RefreshResult = 'edited' | 'not-announced' | 'gone';

/**
 * Edits a post's announcement to match the database (rating, replies, an edited title or summary) and
 * renames its thread when the title changed. Safe to run any number of times.
 */
export async function refreshAnnouncement(ctx: Pick<AppContext, 'db' | 'discord' | 'log'>, postId: string): Promise<RefreshResult> {
  const post = await getPost(ctx.db, postId);
  if (!post?.messageId || !post.channelId) return 'not-announced';
  const payload = await announcementPayload(ctx.db, post);
  try {
    await ctx.discord.editMessage(post.channelId, post.messageId, {
      content: payload.content ?? null,
      embeds: payload.embeds ?? [],
      allowed_mentions: { parse: [] },
    });
  } catch (error) {
    if (isGone(error)) {
      ctx.log.warn({ postId, messageId: post.messageId }, 'the announcement was deleted in Discord; not refreshing it, its discussion is closed on the web');
      await closeDiscussions(ctx.db, { messageIds: [post.messageId] }, new Date().toISOString());
      return 'gone';
    }
    throw error;
  }
  if (post.threadId) {
    const thread = await ctx.discord.getChannel(post.threadId);
    const name = threadName(post.title);
    if (thread && 'name' in thread && thread.name !== name) await ctx.discord.editThread(post.threadId, { name });
  }
  return 'edited';
}
