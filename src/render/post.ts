import type { APIEmbed, APIEmbedField, RESTPostAPIChannelMessageJSONBody } from 'discord-api-types/v10';
import { collapseWhitespace, httpUrl } from '../feeds/html.ts';
import {
  EMBED_AUTHOR_NAME_MAX,
  EMBED_FOOTER_TEXT_MAX,
  EMBED_TITLE_MAX,
  MESSAGE_CONTENT_MAX,
  THREAD_NAME_MAX,
  URL_MAX,
  validateMessagePayload,
} from './limits.ts';
import { escapeMarkdown, htmlToDiscordMarkdown, neutraliseMentions, stripBidi } from './markdown.ts';

export { stripBidi } from './markdown.ts';
import type { RatingSummary } from '../domain/rating.ts';
import { formatRating } from './rating.ts';

/** What an announcement needs of a post (a PostDraft or a stored post both fit). */
export interface AnnouncedPost {
  title: string;
  url: string | null;
  author: string | null;
  publishedAt: string | null;
  summaryHtml: string | null;
  contentHtml: string | null;
  imageUrl: string | null;
  feedTitle?: string | null;
}

export interface PostStats {
  rating: Pick<RatingSummary, 'average' | 'count'>;
  replies: number;
}

/** Where the discussion appears outside Discord: set only when the server put the post's feed on the web. */
export interface WebNotice {
  /** The blog's host name, as readers know it (example.com). */
  host: string;
}

/** The announcement's line when its feed is on the web; the announcement is also the thread's first message. */
export function webNoticeLine(web: WebNotice): string {
  return `Replies in this thread appear on ${escapeMarkdown(cutText(web.host, 100))}. \`/privacy\` chooses how you appear there.`;
}

/** The blog's host name of a post (its link, else its feed's), for the web notice; null when neither is a web URL. */
export function webHost(...urls: Array<string | null | undefined>): string | null {
  for (const u of urls) {
    const url = httpUrl(u);
    if (url) return new URL(url).hostname.replace(/^www\./, '');
  }
  return null;
}

/** Target length of the embed description (Discord allows 4096; ~1500 keeps announcements readable). */
export const DESCRIPTION_BUDGET = 1500;
export const RATE_THIS_POST = 'Rate this post: react 1️⃣–5️⃣';
const FALLBACK_THREAD_NAME = 'Untitled post';
/** Embed accent colour (blogcord orange). */
export const EMBED_COLOR = 0xf28c28;

const NO_MENTIONS = { parse: [] } as const satisfies RESTPostAPIChannelMessageJSONBody['allowed_mentions'];

/**
 * A URL to show in a reply: `<url>` (a link without a preview) when it is at most `max` characters, else cut
 * as code, so a feed URL of Discord's 2,000 allowed characters cannot push a reply over the message limit.
 */
export function shownUrl(url: string, max = 300): string {
  return url.length <= max ? `<${url}>` : `\`${cutText(url.replaceAll('`', ''), max)}\``;
}

/** Cut plain text to max characters at a word boundary with "…"; whitespace collapsed, bidi overrides removed. */
export function cutText(text: string, max: number): string {
  return cutCollapsed(collapseWhitespace(stripBidi(text)), max);
}

/**
 * Text for a field with a length limit where mentions must not ping (embed title, author name): bidi overrides
 * removed, whitespace collapsed (a title of only invisible characters becomes empty), mentions neutralised, and only then cut, so the zero-width spaces that
 * neutralise a mention count towards the limit.
 */
export function cutNeutralised(text: string, max: number): string {
  return cutCollapsed(neutraliseMentions(collapseWhitespace(stripBidi(text))), max);
}

function cutCollapsed(t: string, max: number): string {
  if (t.length <= max) return t;
  if (max <= 1) return t.slice(0, Math.max(0, max));
  const room = t.slice(0, max - 1);
  const space = room.lastIndexOf(' ');
  const head = space >= Math.floor(max / 2) ? room.slice(0, space) : room;
  return `${head.replace(/[\s,;:.–—-]+$/, '')}…`;
}

export function formatReplies(replies: number): string {
  if (!replies || replies <= 0) return 'No replies yet';
  return `💬 ${replies} ${replies === 1 ? 'reply' : 'replies'}`;
}

/** A thread name of 1–100 characters: the title cut at a word boundary with "…", never empty. */
export function threadName(title: string | null | undefined): string {
  const name = cutText(title ?? '', THREAD_NAME_MAX);
  return name || FALLBACK_THREAD_NAME;
}

function safeUrl(url: string | null | undefined): string | undefined {
  const u = httpUrl(url);
  return u && u.length <= URL_MAX ? u : undefined;
}

/** The announcement: one embed with title → post, author, date, description with Read more, image, rating and replies. */
export function renderAnnouncement(post: AnnouncedPost, stats: PostStats, web: WebNotice | null = null): RESTPostAPIChannelMessageJSONBody {
  const url = safeUrl(post.url);
  const title = cutNeutralised(post.title ?? '', EMBED_TITLE_MAX) || cutNeutralised(url ?? '', EMBED_TITLE_MAX) || FALLBACK_THREAD_NAME;
  const sourceHtml = post.summaryHtml?.trim() ? post.summaryHtml : post.contentHtml;
  const body = htmlToDiscordMarkdown(sourceHtml, { maxLength: DESCRIPTION_BUDGET, readMoreUrl: url ?? null, baseUrl: url ?? null });
  // The image: the feed's own, else the first image of the summary, else of the full content.
  const image =
    safeUrl(post.imageUrl) ??
    safeUrl(body.imageUrl) ??
    (post.contentHtml && sourceHtml !== post.contentHtml ? safeUrl(htmlToDiscordMarkdown(post.contentHtml, { maxLength: 1 }).imageUrl) : undefined);

  const fields: APIEmbedField[] = [
    { name: 'Rating', value: formatRating(stats.rating), inline: true },
    { name: 'Discussion', value: formatReplies(stats.replies), inline: true },
  ];
  if (web) fields.push({ name: 'On the web', value: webNoticeLine(web), inline: false });
  const footerParts = [post.feedTitle ? cutNeutralised(post.feedTitle, 200) : null, RATE_THIS_POST].filter(Boolean);
  const embed: APIEmbed = {
    title,
    color: EMBED_COLOR,
    fields,
    footer: { text: cutNeutralised(footerParts.join(' · '), EMBED_FOOTER_TEXT_MAX) },
  };
  if (url) embed.url = url;
  if (body.markdown) embed.description = body.markdown;
  const author = post.author ? cutNeutralised(post.author, EMBED_AUTHOR_NAME_MAX) : '';
  if (author) embed.author = { name: author };
  if (post.publishedAt && !Number.isNaN(Date.parse(post.publishedAt))) embed.timestamp = new Date(post.publishedAt).toISOString();
  if (image) embed.image = { url: image };
  return { embeds: [embed], allowed_mentions: NO_MENTIONS };
}

/** The minimal message: the title and the link, nothing that can break Discord's limits. */
export function renderFallback(post: Pick<AnnouncedPost, 'title' | 'url'>, web: WebNotice | null = null): RESTPostAPIChannelMessageJSONBody {
  const url = safeUrl(post.url);
  const title = escapeMarkdown(cutText(post.title || FALLBACK_THREAD_NAME, EMBED_TITLE_MAX));
  const notice = web ? `\n${webNoticeLine(web)}` : '';
  let content = url ? `**${title}**\n${url}${notice}` : `**${title}**${notice}`;
  if (content.length > MESSAGE_CONTENT_MAX) content = `**${title}**${notice}`;
  return { content, allowed_mentions: NO_MENTIONS };
}

/** The announcement, or the fallback when the announcement would break a Discord limit. */
export function renderPostMessage(post: AnnouncedPost, stats: PostStats, web: WebNotice | null = null): RESTPostAPIChannelMessageJSONBody {
  let payload: RESTPostAPIChannelMessageJSONBody;
  try {
    payload = renderAnnouncement(post, stats, web);
  } catch {
    // Rendering one item must never fail its publishing or refresh: the minimal message goes out instead.
    return renderFallback(post, web);
  }
  return validateMessagePayload(payload).length === 0 ? payload : renderFallback(post, web);
}
