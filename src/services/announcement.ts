import type { RESTPostAPIChannelMessageJSONBody } from 'discord-api-types/v10';
import type { AppContext } from '../context.ts';
import type { Db } from '../db/index.ts';
import { renderPostMessage, threadName, webHost } from '../render/post.ts';
import { countReplies } from '../repositories/comments.ts';
import { getFeed, getWebhook } from '../repositories/feeds.ts';
import { closeDiscussions, getPost, type Post } from '../repositories/posts.ts';
import { getRatingSummary } from '../repositories/ratings.ts';
import { DiscordRequestError } from './discord-port.ts';

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

/** `uneditable`: posted through a webhook that was deleted since (the message stays as it is). */
export type RefreshResult = 'edited' | 'not-announced' | 'gone' | 'uneditable';

/**
 * Edits a post's announcement to match the database (rating, replies, an edited title or summary) and
 * renames its thread when the title changed. Safe to run any number of times.
 */
export async function refreshAnnouncement(ctx: Pick<AppContext, 'db' | 'discord' | 'log'>, postId: string): Promise<RefreshResult> {
  const post = await getPost(ctx.db, postId);
  if (!post?.messageId || !post.channelId) return 'not-announced';
  const payload = await announcementPayload(ctx.db, post);
  const body = { content: payload.content ?? null, embeds: payload.embeds ?? [], allowed_mentions: { parse: [] } };
  try {
    if (post.webhookId) {
      // Posted as the blog: only its webhook may edit it.
      const hook = await getWebhook(ctx.db, post.webhookId);
      if (!hook) {
        ctx.log.warn({ postId, webhookId: post.webhookId }, 'the webhook that posted this announcement is no longer known; it cannot be edited');
        return 'uneditable';
      }
      await ctx.discord.editWebhookMessage({ id: hook.id, token: hook.token }, post.messageId, body);
    } else {
      await ctx.discord.editMessage(post.channelId, post.messageId, body);
    }
  } catch (error) {
    if (error instanceof DiscordRequestError && error.code === 10015) {
      ctx.log.warn({ postId, webhookId: post.webhookId }, 'the webhook that posted this announcement was deleted in Discord; it cannot be edited');
      return 'uneditable';
    }
    if (error instanceof DiscordRequestError && (error.code === 10008 || error.code === 10003)) {
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
