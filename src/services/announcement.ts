import { RESTJSONErrorCodes, type RESTPostAPIChannelMessageJSONBody } from 'discord-api-types/v10';
import type { AppContext } from '../context.ts';
import type { Db } from '../db/index.ts';
import { renderPostMessage, threadName, webHost, type PostStats } from '../render/post.ts';
import { fitsContent, renderTemplate } from '../render/template.ts';
import { countReplies } from '../repositories/comments.ts';
import { getFeed, getWebhook, type Feed } from '../repositories/feeds.ts';
import { closeDiscussions, getPost, type Post } from '../repositories/posts.ts';
import { getRatingSummary } from '../repositories/ratings.ts';
import { DiscordRequestError, isGone } from './discord-port.ts';

/**
 * The announcement of a stored post as it should look now: its content, rating and reply count, and, while its feed
 * is on the web (`/web enable`), the line saying where the replies appear and that `/privacy` chooses how.
 */
export async function announcementPayload(db: Db, post: Post): Promise<RESTPostAPIChannelMessageJSONBody> {
  const [rating, replies, feed] = await Promise.all([getRatingSummary(db, post.id), countReplies(db, [post.id]), getFeed(db, post.feedId)]);
  return composeAnnouncement(post, feed, { rating, replies: replies.get(post.id) ?? 0 });
}

/**
 * The announcement of a post of a feed: the embed (or the minimal fallback), and above it the content line of the
 * feed's template with its ping role. `allowed_mentions` pings nothing; `pingMentions` is what the first post of the
 * announcement may ping (only the feed's role, and only when the content mentions it); edits never ping again.
 */
export function composeAnnouncement(post: Post, feed: Feed | null, stats: PostStats): RESTPostAPIChannelMessageJSONBody {
  const host = feed?.webEnabled ? webHost(post.url, feed.url) : null;
  const payload = renderPostMessage(
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
    stats,
    host ? { host } : null,
  );
  const line = feed ? announcementLine(post, feed) : null;
  if (!line) return payload;
  const rest = payload.content ?? '';
  if (!rest) return { ...payload, content: line, allowed_mentions: { parse: [] } };
  // The fallback (title and link) already fills the content: the line gives way to the ping alone, then to nothing.
  const ping = feed ? renderTemplate(null, { ...post, feedTitle: null }, feed.options.pingRoleId) : null;
  const content = [line, ping].map((l) => (l ? `${l}\n${rest}` : rest)).find((c) => fitsContent(c)) ?? rest;
  return { ...payload, content, allowed_mentions: { parse: [] } };
}

/** The feed's content line for a post (template and ping), or null; a line that would not fit falls back to the ping alone. */
export function announcementLine(post: Pick<Post, 'title' | 'url' | 'author' | 'summaryHtml' | 'categories' | 'publishedAt'>, feed: Feed): string | null {
  const item = { ...post, feedTitle: feed.title };
  let line: string | null;
  try {
    line = renderTemplate(feed.options.template, item, feed.options.pingRoleId);
  } catch {
    // A stored template that no longer parses (it was checked when set): the default line, the ping alone.
    line = renderTemplate(null, item, feed.options.pingRoleId);
  }
  // A line beyond Discord's 2,000 characters falls back to the default line: the ping alone, or none.
  if (line !== null && !fitsContent(line)) line = renderTemplate(null, item, feed.options.pingRoleId);
  return line;
}

/** What a new announcement may ping: the feed's role when its mention is in the content; nothing else, ever. */
export function pingMentions(
  feed: Pick<Feed, 'options'> | null,
  payload: RESTPostAPIChannelMessageJSONBody,
): NonNullable<RESTPostAPIChannelMessageJSONBody['allowed_mentions']> {
  const role = feed?.options.pingRoleId;
  return role && payload.content?.includes(`<@&${role}>`) ? { parse: [], roles: [role] } : { parse: [] };
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
    if (error instanceof DiscordRequestError && error.code === RESTJSONErrorCodes.UnknownWebhook) {
      ctx.log.warn({ postId, webhookId: post.webhookId }, 'the webhook that posted this announcement was deleted in Discord; it cannot be edited');
      return 'uneditable';
    }
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
