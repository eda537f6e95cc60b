// Per-feed identity: a feed's announcements go out through a channel webhook named after the blog, with the blog's
// name and icon on every message, instead of as blogcord. Without Manage Webhooks (or in a forum) blogcord posts as
// itself and says why in /feed status. Webhooks take no nonce, so exactly-once is kept another way: the intent is
// recorded before the webhook is executed, and a retry looks for the message it may have made before making one.
import { ChannelType, RESTJSONErrorCodes, type APIMessage, type RESTPostAPIChannelMessageJSONBody } from 'discord-api-types/v10';
import type { AppContext } from '../context.ts';
import { UserError } from '../errors.ts';
import { cutText } from '../render/post.ts';
import { getFeed, getWebhook, saveWebhook, setFeedIdentity as setFeedIdentityRow, setFeedWebhook, type Feed } from '../repositories/feeds.ts';
import { markWebhookIntent, type Post } from '../repositories/posts.ts';
import { DiscordRequestError, type WebhookCredentials } from './discord-port.ts';
import { snowflakeAt } from '../domain/snowflake.ts';

export type IdentityContext = Pick<AppContext, 'db' | 'discord' | 'log'>;

/** How far before the recorded intent a retry looks (clocks of the worker and Discord differ a little). */
const INTENT_MARGIN_MS = 60_000;
/** Pages of 100 messages a retry reads after the intent before concluding the webhook never posted. */
const LOOKUP_PAGES = 10;

/**
 * A webhook's or a per-message name: 1–80 characters, without "clyde" or "discord" (Discord refuses them), never
 * empty. The blog's title, else its host.
 */
export function webhookName(feed: Pick<Feed, 'title' | 'url'>): string {
  let host = 'blog';
  try {
    host = new URL(feed.url).hostname;
  } catch {
    // keep 'blog'
  }
  const raw = (feed.title ?? '').trim() || host;
  const clean = raw.replace(/[\u0000-\u001f\u007f]/g, '').replace(/clyde|discord/gi, (w) => `${w[0]}\u2024${w.slice(1)}`);
  return cutText(clean.trim() || 'blog', 80);
}

/** The blog's icon: its site's favicon (Discord fetches it; nothing about the server leaves Discord). */
export function blogAvatarUrl(feed: Pick<Feed, 'url'>, post?: Pick<Post, 'url'> | null): string | undefined {
  for (const candidate of [post?.url, feed.url]) {
    try {
      if (!candidate) continue;
      const u = new URL(candidate);
      if (u.protocol === 'https:' || u.protocol === 'http:') return `${u.origin}/favicon.ico`;
    } catch {
      // the next one
    }
  }
  return undefined;
}

/**
 * Turns a feed's identity on or off (the service `/feed add identity:` and `/feed edit identity:` call). On, it
 * makes the webhook now when it can, so the answer can say whether the blog's identity is in use. Returns the line
 * to tell the admin.
 */
export async function setFeedIdentity(ctx: IdentityContext, feedId: string, on: boolean): Promise<string> {
  const feed = await getFeed(ctx.db, feedId);
  if (!feed || feed.state === 'removed') throw new UserError('This server does not follow that feed.', 'unknown-feed');
  await setFeedIdentityRow(ctx.db, feed.id, on);
  if (!on) return '🪪 Identity: posts go out as blogcord.';
  const hook = await feedWebhook(ctx, (await getFeed(ctx.db, feed.id))!);
  if (hook) return `🪪 Identity: posts go out as **${webhookName(feed).replace(/[*_~`|]/g, '\\$&')}**, through a webhook of <#${feed.channelId}>.`;
  const now = (await getFeed(ctx.db, feed.id))!;
  return `⚠️ Identity: posts go out as blogcord for now: ${now.identityNote ?? 'the webhook could not be made'}.`;
}

/**
 * The webhook a feed posts through, made when missing; null when the feed posts as blogcord (identity off, a forum,
 * Manage Webhooks missing, the channel's webhooks all taken: the reason is recorded for /feed status). A failure that
 * may heal (rate limit, Discord down) is thrown, so the publish job retries.
 */
export async function feedWebhook(ctx: IdentityContext, feed: Feed): Promise<WebhookCredentials | null> {
  if (!feed.identity) return null;
  if (feed.webhookId) {
    const stored = await getWebhook(ctx.db, feed.webhookId);
    if (stored && stored.channelId === feed.channelId) return { id: stored.id, token: stored.token };
  }
  const channel = await ctx.discord.getChannel(feed.channelId);
  if (channel && (channel.type === ChannelType.GuildForum || channel.type === ChannelType.GuildMedia)) {
    await setFeedWebhook(ctx.db, feed.id, { note: 'the channel is a forum: forum posts go out as blogcord' });
    return null;
  }
  try {
    const hook = await ctx.discord.createWebhook(feed.channelId, webhookName(feed));
    await saveWebhook(ctx.db, { ...hook, guildId: feed.guildId, channelId: feed.channelId });
    await setFeedWebhook(ctx.db, feed.id, { webhookId: hook.id });
    ctx.log.info({ feedId: feed.id, channelId: feed.channelId, webhookId: hook.id }, 'webhook made for the feed’s identity');
    return hook;
  } catch (error) {
    if (!(error instanceof DiscordRequestError) || error.status === 429 || error.status >= 500 || error.status === 0) throw error;
    const note =
      error.code === RESTJSONErrorCodes.MissingPermissions || error.code === RESTJSONErrorCodes.MissingAccess
        ? `blogcord lacks Manage Webhooks in <#${feed.channelId}> (give it that permission there, then the next post uses the blog’s identity)`
        : error.code === RESTJSONErrorCodes.MaximumNumberOfWebhooksReached
          ? `<#${feed.channelId}> has the most webhooks Discord allows (15)`
          : `Discord refused the webhook (${cutText(error.message, 200)})`;
    await setFeedWebhook(ctx.db, feed.id, { note });
    ctx.log.warn({ feedId: feed.id, channelId: feed.channelId, code: error.code }, 'no webhook for the feed’s identity; posting as blogcord');
    return null;
  }
}

/** Whether a message is this post's announcement made by this webhook. */
function isAnnouncementOf(m: APIMessage, hook: WebhookCredentials, payload: RESTPostAPIChannelMessageJSONBody): boolean {
  if (m.webhook_id !== hook.id) return false;
  const want = payload.embeds?.[0];
  if (want) return m.embeds?.[0]?.title === want.title && (m.embeds[0]?.url ?? null) === (want.url ?? null);
  return m.content === (payload.content ?? '');
}

/**
 * Announces a post through its feed's webhook exactly once. The intent is recorded first; a retry (the job crashed or
 * lost the answer after Discord made the message) reads the channel after the intent for this webhook's message of
 * this post and takes it instead of making another.
 */
export async function announceThroughWebhook(
  ctx: IdentityContext,
  post: Post,
  feed: Feed,
  hook: WebhookCredentials,
  channelId: string,
  payload: RESTPostAPIChannelMessageJSONBody,
): Promise<APIMessage> {
  if (post.webhookIntentAt) {
    let after = snowflakeAt(Date.parse(post.webhookIntentAt) - INTENT_MARGIN_MS);
    for (let page = 0; page < LOOKUP_PAGES; page++) {
      const batch = await ctx.discord.listMessages(channelId, { after, limit: 100 });
      const found = batch.find((m) => isAnnouncementOf(m, hook, payload));
      if (found) {
        ctx.log.info({ postId: post.id, messageId: found.id }, 'the webhook had posted the announcement before: taking it, not posting again');
        return found;
      }
      if (batch.length < 100) break;
      after = batch.reduce((max, m) => (BigInt(m.id) > BigInt(max) ? m.id : max), after);
    }
  }
  await markWebhookIntent(ctx.db, post.id);
  const { nonce: _n, enforce_nonce: _e, message_reference: _r, sticker_ids: _s, ...body } = payload;
  const avatar = blogAvatarUrl(feed, post);
  return ctx.discord.executeWebhook(hook, {
    ...body,
    allowed_mentions: payload.allowed_mentions ?? { parse: [] },
    username: webhookName(feed),
    ...(avatar ? { avatar_url: avatar } : {}),
  });
}
