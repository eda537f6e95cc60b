// Publishing one post: a state machine kept in the database (posts.publish_state), so every step is
// idempotent and a retried job (or a restarted worker) continues where the last attempt stopped.
//
//   text channel:  pending ─create announcement (nonce)→ announced ─start thread→ threaded ─5 reactions→ published
//   forum channel: pending ─create forum post (starter = announcement)→ threaded ─5 reactions→ published
//
// A Discord error that will not heal by retrying (missing access or permission, unknown channel or message,
// invalid form body) or the last attempt failing → 'failed' with a readable reason; never dropped.
import { discordLink } from '../render/discord-link.ts';
import { KEYCAPS } from '../domain/rating.ts';
import { ChannelType, RESTJSONErrorCodes, type APIChannel } from 'discord-api-types/v10';
import type { AppContext } from '../context.ts';
import { UserError } from '../errors.ts';
import { canonicalLink } from '../feeds/canonical-link.ts';
import { FeedError } from '../feeds/errors.ts';
import type { ParsedFeed } from '../feeds/types.ts';
import { threadName } from '../render/post.ts';
import { deleteWebhook, getFeed, listFeeds } from '../repositories/feeds.ts';
import { stableId } from '../repositories/ids.ts';
import {
  countPublishAttempt,
  findGuildPostsByUrl,
  getPost,
  resetPublishing,
  setPublishState,
  upsertPostFromFeed,
  type Post,
  type PublishState,
} from '../repositories/posts.ts';
import { fetchAndParse, postContent, type FeedContext } from './feed-source.ts';
import { announcementPayload, pingMentions } from './announcement.ts';
import { announceThroughWebhook, feedWebhook } from './feed-identity.ts';
import { forumTagsFor } from './forum-tags.ts';
import { DiscordRequestError } from './discord-port.ts';

export type PublishContext = Pick<AppContext, 'db' | 'discord' | 'log'>;

/** The nonce of a post's announcement: the same on every retry (Discord returns the first message), ≤ 25 characters. */
export const announcementNonce = (postId: string): string => `bc${stableId('announce', postId).slice(0, 20)}`;

/** A step's failure, classified: `permanent` failures are not retried. */
export interface PublishFailure {
  permanent: boolean;
  reason: string;
}

const PERMANENT_CODES: Record<number, string> = {
  [RESTJSONErrorCodes.UnknownChannel]: 'the channel no longer exists (Unknown Channel)',
  [RESTJSONErrorCodes.UnknownMessage]: 'the announcement message was deleted in Discord before it was finished (Unknown Message)',
  [RESTJSONErrorCodes.MissingAccess]: 'blogcord cannot see the channel (Missing Access): give it View Channel and Send Messages there',
  [RESTJSONErrorCodes.MissingPermissions]:
    'blogcord lacks a permission in the channel (Missing Permissions): it needs Send Messages, Embed Links, Create Public Threads (Create Posts in a forum), Send Messages in Threads and Add Reactions',
  [RESTJSONErrorCodes.InvalidFormBodyOrContentType]: 'Discord refused the announcement as invalid (Invalid Form Body)',
  [RESTJSONErrorCodes.CannotSendMessagesInNonTextChannel]: 'the channel does not accept messages (Cannot send messages in a non-text channel)',
  [RESTJSONErrorCodes.TagRequiredToCreateAForumPostInThisChannel]:
    'the forum requires a tag on every post: turn on `tags` for the feed (`/feed edit tags:True`) and give the forum tags named like the blog’s categories, or remove the requirement',
};

/** Whether a failed step can heal by retrying, and what to tell an admin. */
export function classifyPublishError(error: unknown, step = 'publishing'): PublishFailure {
  if (error instanceof DiscordRequestError) {
    const known = PERMANENT_CODES[error.code];
    if (known)
      return { permanent: true, reason: `${step}: ${known}${error.code === RESTJSONErrorCodes.InvalidFormBodyOrContentType ? `: ${error.message}` : ''}` };
    // Rate limits and server errors heal; any other 4xx is a request Discord will refuse again.
    if (error.status === 429 || error.status >= 500 || error.status === 0)
      return { permanent: false, reason: `${step}: Discord answered ${error.status || 'nothing'} (${error.message})` };
    if (error.status >= 400) return { permanent: true, reason: `${step}: Discord refused the request (${error.status}: ${error.message})` };
  }
  if (error instanceof PublishRefusal) return { permanent: true, reason: `${step}: ${error.message}` };
  return { permanent: false, reason: `${step}: ${error instanceof Error ? error.message : String(error)}` };
}

/** A reason to stop publishing that is not a Discord error (a channel of the wrong type). */
export class PublishRefusal extends Error {
  override name = 'PublishRefusal';
}

type Target = { kind: 'text' | 'forum'; channelId: string };

const TEXT_TYPES = new Set<number>([ChannelType.GuildText, ChannelType.GuildAnnouncement]);
const FORUM_TYPES = new Set<number>([ChannelType.GuildForum, ChannelType.GuildMedia]);

/** Where a feed's posts go: a text channel (message + thread) or a forum (forum post). Null when it is gone. */
export function publishTarget(channel: APIChannel | null): Target | null {
  if (!channel) return null;
  if (TEXT_TYPES.has(channel.type)) return { kind: 'text', channelId: channel.id };
  if (FORUM_TYPES.has(channel.type)) return { kind: 'forum', channelId: channel.id };
  throw new PublishRefusal(`the channel <#${channel.id}> is neither a text channel nor a forum`);
}

export interface PublishResult {
  state: PublishState | 'missing' | 'skipped';
  post: Post | null;
  /** Set when the post failed for good in this run, or when a retryable step failed. */
  reason?: string;
}

const FINISHED = new Set<PublishState>(['known', 'skipped', 'published', 'failed']);

/**
 * Runs the post's remaining publishing steps. Resolves with the state it reached; a step that fails
 * for good (or any failure on the last attempt) marks the post failed with its reason and resolves;
 * a failure worth retrying rejects so BullMQ retries the job with backoff.
 */
export async function publishPost(ctx: PublishContext, postId: string, { lastAttempt = false }: { lastAttempt?: boolean } = {}): Promise<PublishResult> {
  let post = await getPost(ctx.db, postId);
  if (!post) return { state: 'missing', post: null };
  if (FINISHED.has(post.publishState)) return { state: post.publishState, post };
  const feed = await getFeed(ctx.db, post.feedId);
  if (post.publishState === 'pending' && feed?.state === 'removed') {
    // The server stopped following the feed before this post went out: nothing is posted (/publish still can).
    await setPublishState(ctx.db, post.id, { state: 'known', knownReason: 'removed' });
    ctx.log.info({ postId }, 'feed removed before the post was announced; not publishing it');
    return { state: 'skipped', post: await getPost(ctx.db, postId) };
  }
  await countPublishAttempt(ctx.db, post.id);
  const log = ctx.log.child({ postId, feedId: post.feedId });
  let step = 'announcing';
  try {
    for (;;) {
      switch (post.publishState) {
        case 'pending': {
          step = 'announcing';
          const channelId = feed?.channelId;
          const target = channelId ? publishTarget(await ctx.discord.getChannel(channelId)) : null;
          if (!target) throw new DiscordRequestError('Unknown Channel', RESTJSONErrorCodes.UnknownChannel, 404);
          const payload = await announcementPayload(ctx.db, post);
          if (target.kind === 'text') {
            // Per-feed identity: through the feed's webhook (as the blog) when there is one, else as blogcord.
            const hook = feed?.identity ? await feedWebhook(ctx, feed) : null;
            const message = hook
              ? await announceThroughWebhook(ctx, post, feed!, hook, target.channelId, { ...payload, allowed_mentions: pingMentions(feed, payload) }).catch(
                  async (error: unknown) => {
                    // The webhook was deleted in Discord: forget it; the retry makes a new one (or posts as blogcord).
                    if (error instanceof DiscordRequestError && error.code === RESTJSONErrorCodes.UnknownWebhook) {
                      await deleteWebhook(ctx.db, hook.id);
                      throw new Error('the feed’s webhook was deleted in Discord; a new one is made on the next attempt');
                    }
                    throw error;
                  },
                )
              : await ctx.discord.createMessage(target.channelId, {
                  ...payload,
                  allowed_mentions: pingMentions(feed, payload),
                  nonce: announcementNonce(post.id),
                  enforce_nonce: true,
                });
            await setPublishState(ctx.db, post.id, {
              state: 'announced',
              channelId: target.channelId,
              messageId: message.id,
              failureReason: null,
              announcedAt: new Date().toISOString(),
              webhookId: hook ? hook.id : null,
            });
            log.info({ channelId: target.channelId, messageId: message.id, webhook: Boolean(hook) }, 'announced');
          } else {
            // A forum post: the thread and its starter message (the announcement) come into being together.
            // The message lives in the thread, so the post's channel is the thread.
            const tags = forumTagsFor(await ctx.discord.getChannel(target.channelId), feed, post);
            if (tags.refusal) throw new PublishRefusal(tags.refusal);
            const created = await ctx.discord.createForumPost(
              target.channelId,
              threadName(post.title),
              { ...payload, allowed_mentions: pingMentions(feed, payload) },
              tags.ids.length ? { appliedTags: tags.ids } : {},
            );
            await setPublishState(ctx.db, post.id, {
              state: 'threaded',
              channelId: created.threadId,
              messageId: created.messageId,
              threadId: created.threadId,
              failureReason: null,
              announcedAt: new Date().toISOString(),
            });
            log.info({ forumId: target.channelId, threadId: created.threadId }, 'forum post created');
          }
          break;
        }
        case 'announced': {
          step = 'starting the thread';
          const threadId = await ctx.discord.startThread(post.channelId!, post.messageId!, threadName(post.title));
          await setPublishState(ctx.db, post.id, { state: 'threaded', threadId });
          log.info({ threadId }, 'thread started');
          break;
        }
        case 'threaded': {
          step = 'adding the rating reactions';
          // Each PUT of the bot's own reaction is idempotent: a retry adds only what is missing.
          for (const emoji of KEYCAPS) await ctx.discord.addReaction(post.channelId!, post.messageId!, emoji);
          await setPublishState(ctx.db, post.id, { state: 'published', failureReason: null });
          log.info('published');
          return { state: 'published', post: await getPost(ctx.db, postId) };
        }
        default:
          return { state: post.publishState, post };
      }
      post = (await getPost(ctx.db, postId))!;
    }
  } catch (error) {
    const failure = classifyPublishError(error, step);
    if (failure.permanent || lastAttempt) {
      const reason = failure.permanent ? failure.reason : `${failure.reason} (gave up after the last attempt)`;
      await setPublishState(ctx.db, postId, { state: 'failed', failureReason: reason });
      log.warn({ reason }, 'publishing failed for good');
      return { state: 'failed', post: await getPost(ctx.db, postId), reason };
    }
    log.warn({ reason: failure.reason }, 'publishing step failed; it will be retried');
    throw error;
  }
}

/** A link to a post's announcement in Discord. */
export function announcementLink(guildId: string, post: Pick<Post, 'channelId' | 'messageId' | 'threadId'>): string | null {
  if (!post.channelId) return null;
  return discordLink(guildId, post.channelId, post.messageId);
}

export type PublishNowResult = { status: 'already-published'; post: Post; link: string | null } | { status: 'queued'; post: Post };

/**
 * /publish URL: publishes one item of a followed feed now, even one that was only `known` (or failed). The URL
 * may name the post any way its canonical link allows (`canonicalLink`: with tracking parameters, a #fragment,
 * http for https …). An item not stored yet is looked up in the server's feeds (fetched now).
 */
export async function publishNow(ctx: FeedContext, guildId: string, rawUrl: string): Promise<PublishNowResult> {
  const url = rawUrl.trim();
  if (!/^https?:\/\//i.test(url)) throw new UserError(`"${rawUrl}" is not a post URL (it should start with https://).`, 'bad-url');
  // The same post may be in several feeds of the server (RSS and Atom of one blog): a published copy wins, then one of a followed feed.
  const candidates = await findGuildPostsByUrl(ctx.db, guildId, url);
  const followed = new Set((await listFeeds(ctx.db, guildId)).map((f) => f.id));
  let post: Post | null = candidates.find((p) => p.publishState === 'published') ?? candidates.find((p) => followed.has(p.feedId)) ?? candidates[0] ?? null;
  if (!post) post = await findInFeeds(ctx, guildId, url);
  if (!post) {
    throw new UserError(
      `${url} is not a post of any feed this server follows. /publish takes the link of a post as it appears in the feed; /feed add follows a new feed.`,
      'unknown-post',
    );
  }
  if (post.publishState === 'published') return { status: 'already-published', post, link: announcementLink(guildId, post) };
  const feed = await getFeed(ctx.db, post.feedId);
  if (!feed || feed.state === 'removed') {
    throw new UserError(
      `That post belongs to ${feed?.url ?? 'a feed'} which this server no longer follows. Follow it again with /feed add (backfill 0 posts nothing old), then /publish the post.`,
      'feed-removed',
    );
  }
  if (post.publishState === 'known' || post.publishState === 'skipped' || post.publishState === 'failed') {
    // Continue from what exists in Discord: a failed post keeps a message it made unless that is gone.
    let from: 'pending' | 'announced' | 'threaded' = 'pending';
    let clear = true;
    if (post.messageId && post.channelId && (await ctx.discord.getMessage(post.channelId, post.messageId).catch(() => null))) {
      from = post.threadId ? 'threaded' : 'announced';
      clear = false;
    }
    await resetPublishing(ctx.db, post.id, from, { clearDiscord: clear });
  }
  await ctx.jobs.enqueuePublish(post.id);
  return { status: 'queued', post: (await getPost(ctx.db, post.id))! };
}

async function findInFeeds(ctx: FeedContext, guildId: string, url: string): Promise<Post | null> {
  const link = canonicalLink(url);
  const same = (a: string | null) => link !== null && canonicalLink(a) === link;
  const errors: string[] = [];
  for (const feed of await listFeeds(ctx.db, guildId)) {
    let parsed: ParsedFeed;
    try {
      const r = await fetchAndParse(ctx, feed.url);
      if (r.status !== 'ok') continue;
      parsed = r.feed;
    } catch (error) {
      if (!(error instanceof FeedError)) throw error;
      errors.push(`${feed.url}: ${error.message}`);
      continue;
    }
    const draft = parsed.items.find((d) => same(d.url) || d.key === url);
    if (draft) return (await upsertPostFromFeed(ctx.db, feed, postContent(draft), 'known')).post;
  }
  if (errors.length) ctx.log.info({ guildId, errors }, '/publish could not read some feeds');
  return null;
}
