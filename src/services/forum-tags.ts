// Forum tags of a feed's forum posts (`/feed add|edit tags:True`): the post's categories matched by name to the
// forum's available tags (case- and accent-insensitive), at most Discord's 5, unknown categories ignored.
import { ChannelFlags, type APIChannel } from 'discord-api-types/v10';
import type { Feed } from '../repositories/feeds.ts';
import type { Post } from '../repositories/posts.ts';

/** Discord's limit of tags on one forum post. */
export const MAX_APPLIED_TAGS = 5;

/** A tag or category name compared: accents removed, case folded, whitespace collapsed. */
export function tagKey(name: string): string {
  return name.normalize('NFKD').replace(/\p{M}/gu, '').toLowerCase().replace(/\s+/g, ' ').trim();
}

interface ForumTag {
  id: string;
  name: string;
}

const tagsOf = (channel: APIChannel | null): ForumTag[] =>
  channel && 'available_tags' in channel && Array.isArray(channel.available_tags) ? channel.available_tags.map((t) => ({ id: t.id, name: t.name })) : [];

/** Whether a forum requires a tag on every post (REQUIRE_TAG). */
export const requiresTag = (channel: APIChannel | null): boolean => Boolean(channel && (channel.flags ?? 0) & ChannelFlags.RequireTag);

/** The forum's tags named like the post's categories, in the post's category order, at most 5 (names, for previews too). */
export function matchForumTags(channel: APIChannel | null, categories: readonly string[]): ForumTag[] {
  const byKey = new Map(tagsOf(channel).map((t) => [tagKey(t.name), t]));
  const out: ForumTag[] = [];
  for (const c of categories) {
    const tag = byKey.get(tagKey(c));
    if (tag && !out.some((t) => t.id === tag.id)) out.push(tag);
    if (out.length >= MAX_APPLIED_TAGS) break;
  }
  return out;
}

/**
 * The tags a post of the feed gets in this forum: none unless the feed has tags on. `refusal`: why the post cannot
 * go out (the forum requires a tag and none of its categories names one), as the post's failure reason.
 */
export function forumTagsFor(
  channel: APIChannel | null,
  feed: Pick<Feed, 'options'> | null,
  post: Pick<Post, 'categories'>,
): { ids: string[]; refusal: string | null } {
  if (!feed?.options.forumTags) return { ids: [], refusal: null };
  const tags = matchForumTags(channel, post.categories);
  if (tags.length === 0 && requiresTag(channel)) {
    const cats = post.categories.length ? post.categories.slice(0, 10).join(', ') : 'none';
    const available = tagsOf(channel)
      .map((t) => t.name)
      .slice(0, 20)
      .join(', ');
    return {
      ids: [],
      refusal: `the forum requires a tag, and none of the post's categories (${cats}) is the name of one of its tags (${available || 'it has none'}): add a tag named like one of them, or remove the requirement`,
    };
  }
  return { ids: tags.map((t) => t.id), refusal: null };
}
