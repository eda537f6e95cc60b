// A followed feed's options (issue 18): the ping role, the template, the include/exclude filters and forum tags,
// checked when set (`/feed add`, `/feed edit`), changed in place (`/feed edit`: nothing reposted), and the preview
// of an item exactly as it would be posted (`/feed preview`) with its "Post it" that publishes it once.
import { ChannelType, type APIChannel, type RESTPostAPIChannelMessageJSONBody } from 'discord-api-types/v10';
import { UserError } from '../errors.ts';
import { cutText } from '../render/post.ts';
import { getFeed, updateFeedOptions, type Feed } from '../repositories/feeds.ts';
import { claimForPublishing, getPost, listFeedPosts, type Post } from '../repositories/posts.ts';
import { getRatingSummary } from '../repositories/ratings.ts';
import { countReplies } from '../repositories/comments.ts';
import { composeAnnouncement, pingMentions } from './announcement.ts';
import { findGuildFeed } from './feeds.ts';
import { forumTagsFor, matchForumTags, requiresTag } from './forum-tags.ts';
import type { FeedContext } from './feed-source.ts';
import { checkFeedChannel, checkFeedOptions, withKeptPing, withMentionRightIn, type FeedOptionsInput } from './feed-option-checks.ts';

export type { FeedOptionsInput, PingRole } from './feed-option-checks.ts';
export type { FeedOptions } from '../repositories/feeds.ts';

export interface EditFeedResult {
  before: Feed;
  feed: Feed;
  /** Names of what changed: channel, ping, template, include, exclude, tags. */
  changed: string[];
  /** With tags on and a forum channel: the forum requires a tag (and the feed's posts need categories naming one). */
  forumRequiresTag: boolean;
}

/** `/feed edit`: changes a followed feed in place. Nothing is reposted or re-filtered; a new channel takes the next posts. */
export async function editFeed(ctx: FeedContext, guildId: string, ref: string, input: FeedOptionsInput & { channelId?: string }): Promise<EditFeedResult> {
  const before = await findGuildFeed(ctx, guildId, ref);
  if (!before || before.state === 'removed')
    throw new UserError(`This server does not follow ${cutText(ref, 200)}. /feed list shows the feeds it follows.`, 'unknown-feed');
  let channel: APIChannel | null = null;
  if (input.channelId !== undefined) channel = checkFeedChannel(await ctx.discord.getChannel(input.channelId), guildId, input.channelId);
  const [newest] = await listFeedPosts(ctx.db, before.id, 1);
  // A ping is checked against the channel the feed's posts will go to: the new one, or the one it has. Moving a feed
  // that pings a role checks that role in the new channel, as if it were given again.
  const goesTo = channel?.id ?? before.channelId;
  const patch = checkFeedOptions(guildId, await withMentionRightIn(await withKeptPing(input, before, goesTo), goesTo), newest ?? null, before.title);
  const feed = (await updateFeedOptions(ctx.db, before.id, { ...patch, ...(channel ? { channelId: channel.id } : {}) }))!;
  const changed: string[] = [];
  if (feed.channelId !== before.channelId) changed.push('channel');
  const o = feed.options;
  const b = before.options;
  if (o.pingRoleId !== b.pingRoleId) changed.push('ping');
  if (o.template !== b.template) changed.push('template');
  if (o.include !== b.include) changed.push('include');
  if (o.exclude !== b.exclude) changed.push('exclude');
  if (o.forumTags !== b.forumTags) changed.push('tags');
  const target = channel ?? (await ctx.discord.getChannel(feed.channelId).catch(() => null));
  ctx.log.info({ feedId: feed.id, changed }, 'feed edited');
  return { before, feed, changed, forumRequiresTag: o.forumTags && requiresTag(target) };
}

/** The newest posts of a feed (for the autocomplete of `/feed preview item:`). */
export async function newestFeedPosts(ctx: Pick<FeedContext, 'db'>, feedId: string, limit = 25): Promise<Post[]> {
  return listFeedPosts(ctx.db, feedId, limit);
}

export interface Preview {
  feed: Feed;
  post: Post;
  /** The message as it would be posted (the content line, the embed); it pings nothing when shown. */
  payload: RESTPostAPIChannelMessageJSONBody;
  /** Whom the real announcement would ping: the role id, or null. */
  pings: string | null;
  /** In a forum: the thread name and the tags it would get, or the reason it would fail. */
  forum: { tags: string[]; refusal: string | null } | null;
}

/** `/feed preview`: an item of the feed (its newest, or the one named by id or link) rendered exactly as it would be posted. */
export async function previewFeedItem(ctx: FeedContext, guildId: string, feedRef: string, itemRef?: string | null): Promise<Preview> {
  const feed = await findGuildFeed(ctx, guildId, feedRef);
  if (!feed || feed.state === 'removed')
    throw new UserError(`This server does not follow ${cutText(feedRef, 200)}. /feed list shows the feeds it follows.`, 'unknown-feed');
  const posts = await listFeedPosts(ctx.db, feed.id, 200);
  const post = itemRef ? posts.find((p) => p.id === itemRef || p.url === itemRef || p.guid === itemRef) : posts[0];
  if (!post) {
    throw new UserError(
      itemRef
        ? `${cutText(itemRef, 200)} is not one of the newest posts of this feed: choose one from the list.`
        : 'This feed has no posts yet: nothing to preview.',
      'unknown-item',
    );
  }
  const [rating, replies] = await Promise.all([getRatingSummary(ctx.db, post.id), countReplies(ctx.db, [post.id])]);
  const payload = composeAnnouncement(post, feed, { rating, replies: replies.get(post.id) ?? 0 });
  const mentions = pingMentions(feed, payload);
  const channel = await ctx.discord.getChannel(feed.channelId).catch(() => null);
  const forum = channel && (channel.type === ChannelType.GuildForum || channel.type === ChannelType.GuildMedia) ? channel : null;
  let forumInfo: Preview['forum'] = null;
  if (forum) {
    const { refusal } = forumTagsFor(forum, feed, post);
    forumInfo = { tags: feed.options.forumTags ? matchForumTags(forum, post.categories).map((t) => t.name) : [], refusal };
  }
  return { feed, post, payload, pings: mentions.roles?.[0] ?? null, forum: forumInfo };
}

export type PostItResult = { status: 'queued'; post: Post } | { status: 'already'; post: Post };

/**
 * The preview's "Post it": puts the post in line through the normal state machine, exactly once. The claim is one
 * conditional update (only a post that is not published nor on its way moves to pending), so two presses, or two
 * admins, publish it once; the second is told it is already on its way or published.
 */
export async function postPreviewedItem(ctx: FeedContext, guildId: string, postId: string): Promise<PostItResult> {
  const post = await getPost(ctx.db, postId);
  if (!post || post.guildId !== guildId) throw new UserError('That post is no longer known to blogcord. Run `/feed preview` again.', 'unknown-item');
  const feed = await getFeed(ctx.db, post.feedId);
  if (!feed || feed.state === 'removed')
    throw new UserError('This server no longer follows the feed of that post. Follow it again with `/feed add`.', 'feed-removed');
  if (post.publishState === 'failed' && post.messageId) {
    throw new UserError('That post failed part-way, after its announcement was made: `/publish url` finishes it.', 'use-publish');
  }
  if (!(await claimForPublishing(ctx.db, post.id))) return { status: 'already', post: (await getPost(ctx.db, post.id))! };
  await ctx.jobs.enqueuePublish(post.id);
  ctx.log.info({ postId: post.id, feedId: feed.id }, 'previewed post queued for publishing');
  return { status: 'queued', post: (await getPost(ctx.db, post.id))! };
}
