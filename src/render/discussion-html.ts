// The discussion as an HTML fragment: what `GET /embed/posts/:id` serves (readers without JavaScript, search
// engines, static sites that include it at build time) and what the widget inserts and enhances, so there is one
// markup. Every piece of text is escaped here; comment bodies come from renderDiscordMarkdown (already sanitized).
// The structured data is schema.org's DiscussionForumPosting with Comment items; aggregateRating only when asked
// (search engines treat self-served ratings of articles as ineligible).
import { escapeHtml } from './discord-markdown.ts';
import { formatAverage } from './rating.ts';

/** The UI strings of one language (src/http/widget/i18n/*.json). */
export type Strings = Record<
  | 'heading'
  | 'reply'
  | 'replies'
  | 'rating'
  | 'ratings'
  | 'noRatings'
  | 'starsLabel'
  | 'join'
  | 'rate'
  | 'noReplies'
  | 'closed'
  | 'deleted'
  | 'hidden'
  | 'edited'
  | 'member'
  | 'showMore'
  | 'attachments'
  | 'thread'
  | 'repliesTo'
  | 'repliesToDeleted'
  | 'notFound'
  | 'error',
  string
>;

export type FragmentComment =
  | {
      id: string;
      deleted: false;
      anonymous?: true;
      author: string;
      /** The API's avatar URL (named authors with an avatar only). */
      avatar?: string;
      content: string;
      html: string;
      createdAt: string;
      editedAt: string | null;
      attachments: ReadonlyArray<{ url: string; name: string; contentType: string | null }>;
      replies: readonly FragmentComment[];
    }
  | { id: string; deleted: true; hidden?: true; createdAt: string; replies: readonly FragmentComment[] };

export interface FragmentPost {
  id: string;
  title: string;
  url: string | null;
  author: string | null;
  publishedAt: string | null;
  summary: string;
  replies: number;
  discussion: 'open' | 'closed';
  rating: { average: number; count: number };
  discord: { threadUrl: string | null; messageUrl: string | null };
  comments: readonly FragmentComment[];
  page: { order: 'oldest' | 'newest'; limit: number; next: string | null };
}

export interface FragmentOptions {
  strings: Strings;
  lang: string;
  /** Where the API is reachable (absolute), for the "Show more" link and the stylesheet. */
  apiBase: string;
  theme: 'auto' | 'light' | 'dark';
  /** Heading level of the fragment's heading (2–6). */
  headingLevel: number;
  /** Emit schema.org aggregateRating (off by default). */
  aggregateRating: boolean;
  /** Link the built-in stylesheet (`/widget.css`); false for `style=none`. */
  stylesheet: boolean;
}

export const fill = (template: string, values: Record<string, string | number>): string =>
  template.replace(/\{(\w+)\}/g, (m, k: string) => (k in values ? String(values[k]) : m));

// Made at the first page that shows a time, not when the module loads: the first time-zoned formatter loads ~6.5 MB of
// ICU data, which a `web` process that has not rendered a discussion yet need not hold.
let EXACT: Intl.DateTimeFormat | undefined;
function exact(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  EXACT ??= new Intl.DateTimeFormat('en', { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' });
  return `${EXACT.format(d)} UTC`;
}

function timeHtml(iso: string, cls: string): string {
  const e = escapeHtml(exact(iso));
  return `<time class="${cls}" datetime="${escapeHtml(iso)}" title="${e}">${e}</time>`;
}

/** Filled stars for the average (a star counts from .75 of it: 4.5 shows four, not five), the rest "☆"; aria-hidden, the numbers say it. */
function stars(average: number): string {
  const full = Math.max(0, Math.min(5, Math.floor(average + 0.25)));
  return '★'.repeat(full) + '☆'.repeat(5 - full);
}

function headerHtml(post: FragmentPost, t: Strings): string {
  const r = post.rating;
  const rating =
    r.count > 0
      ? `<span class="blogcord-rating" role="img" aria-label="${escapeHtml(fill(t.starsLabel, { avg: formatAverage(r.average) }))}, ${escapeHtml(fill(r.count === 1 ? t.rating : t.ratings, { n: r.count }))}">` +
        `<span class="blogcord-stars" aria-hidden="true">${stars(r.average)}</span> <span aria-hidden="true">${formatAverage(r.average)}/5 · ${escapeHtml(fill(r.count === 1 ? t.rating : t.ratings, { n: r.count }))}</span></span>`
      : `<span class="blogcord-rating">${escapeHtml(t.noRatings)}</span>`;
  const replies = `<span class="blogcord-count">${escapeHtml(fill(post.replies === 1 ? t.reply : t.replies, { n: post.replies }))}</span>`;
  return `<p class="blogcord-stats">${rating} · ${replies}</p>`;
}

function actionsHtml(post: FragmentPost, t: Strings): string {
  const links: string[] = [];
  if (post.discord.threadUrl) links.push(`<a class="blogcord-join" href="${escapeHtml(post.discord.threadUrl)}" rel="noopener">${escapeHtml(t.join)}</a>`);
  if (post.discord.messageUrl) links.push(`<a class="blogcord-rate" href="${escapeHtml(post.discord.messageUrl)}" rel="noopener">${escapeHtml(t.rate)}</a>`);
  return links.length ? `<p class="blogcord-actions">${links.join(' ')}</p>` : '';
}

/**
 * The avatar: a neutral placeholder with the first letter of the shown name (anonymous members: none at all), and
 * over it the member's image from the API's avatar route when they have one (never Discord's URL, which carries
 * the user's id). An image that fails to load shows nothing (empty alt), so the letter shows through; the widget
 * also removes it.
 */
function avatarHtml(c: Extract<FragmentComment, { deleted: false }>): string {
  const letter = c.anonymous ? '' : (/[\p{L}\p{N}]/u.exec(c.author)?.[0] ?? '').toUpperCase();
  const img =
    c.avatar && !c.anonymous
      ? `<img class="blogcord-avatar-img" src="${escapeHtml(c.avatar)}" alt="" width="28" height="28" loading="lazy" decoding="async">`
      : '';
  return `<span class="blogcord-avatar blogcord-avatar--none" aria-hidden="true">${escapeHtml(letter)}${img}</span>`;
}

function filesHtml(c: Extract<FragmentComment, { deleted: false }>, t: Strings): string {
  if (!c.attachments.length) return '';
  const items = c.attachments.map((a) => {
    const href = escapeHtml(a.url);
    const name = escapeHtml(a.name || 'attachment');
    return a.contentType?.startsWith('image/')
      ? `<li class="blogcord-file blogcord-file--image"><a href="${href}" rel="nofollow ugc noopener"><img src="${href}" alt="${name}" loading="lazy" decoding="async"></a></li>`
      : `<li class="blogcord-file"><a href="${href}" rel="nofollow ugc noopener">${name}</a></li>`;
  });
  return `<ul class="blogcord-files" aria-label="${escapeHtml(t.attachments)}">${items.join('')}</ul>`;
}

/** The `<li>` items of replies (what a "Show more" page appends to the thread's list). */
export function commentsHtml(nodes: readonly FragmentComment[], t: Strings, depth = 0): string {
  let out = '';
  for (const c of nodes) {
    let body: string;
    let label: string;
    if (c.deleted) {
      body = `<p class="blogcord-deleted">${escapeHtml(c.hidden ? t.hidden : t.deleted)}</p>`;
      label = t.repliesToDeleted;
    } else {
      const author = c.anonymous ? t.member : c.author;
      const edited = c.editedAt ? ` <span class="blogcord-edited" title="${escapeHtml(exact(c.editedAt))}">(${escapeHtml(t.edited)})</span>` : '';
      body =
        `<article class="blogcord-comment">` +
        `<p class="blogcord-meta">${avatarHtml(c)}<span class="blogcord-author">${escapeHtml(author)}</span> · ${timeHtml(c.createdAt, 'blogcord-date')}${edited}</p>` +
        (c.html ? `<div class="blogcord-text">${c.html}</div>` : '') +
        filesHtml(c, t) +
        `</article>`;
      label = fill(t.repliesTo, { name: author });
    }
    const replies = c.replies.length
      ? `<ol class="blogcord-list blogcord-replies" aria-label="${escapeHtml(label)}">${commentsHtml(c.replies, t, depth + 1)}</ol>`
      : '';
    out += `<li class="blogcord-reply${c.deleted ? ' blogcord-reply--deleted' : ''}" id="blogcord-c${escapeHtml(c.id)}" data-depth="${depth}">${body}${replies}</li>`;
  }
  return out;
}

/** The "Show more" control: a link to the next page (works without JavaScript), which the widget turns into a fetch. */
export function moreHtml(post: Pick<FragmentPost, 'id' | 'page'>, opts: Pick<FragmentOptions, 'apiBase' | 'strings' | 'lang'>): string {
  if (!post.page.next) return '';
  const href = `${opts.apiBase}/embed/posts/${encodeURIComponent(post.id)}/comments?cursor=${encodeURIComponent(post.page.next)}&order=${post.page.order}&limit=${post.page.limit}&lang=${encodeURIComponent(opts.lang)}`;
  return `<p class="blogcord-more-wrap"><a class="blogcord-more" href="${escapeHtml(href)}" data-cursor="${escapeHtml(post.page.next)}">${escapeHtml(opts.strings.showMore)}</a></p>`;
}

/** JSON for a <script> element: "<" escaped so no "</script>" or "<!--" can close or change it. */
export const scriptJson = (value: unknown): string =>
  JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');

type LdComment = Record<string, unknown>;

function ldComments(nodes: readonly FragmentComment[], t: Strings): LdComment[] {
  const out: LdComment[] = [];
  for (const c of nodes) {
    // A tombstone has no author nor text: its replies take its place.
    if (c.deleted) {
      out.push(...ldComments(c.replies, t));
      continue;
    }
    const replies = ldComments(c.replies, t);
    out.push({
      '@type': 'Comment',
      '@id': `#blogcord-c${c.id}`,
      author: { '@type': 'Person', name: c.anonymous ? t.member : c.author },
      datePublished: c.createdAt,
      ...(c.editedAt ? { dateModified: c.editedAt } : {}),
      text: c.content,
      ...(replies.length ? { comment: replies } : {}),
    });
  }
  return out;
}

/** schema.org DiscussionForumPosting of the post with its (shown) comments. */
export function discussionJsonLd(post: FragmentPost, opts: Pick<FragmentOptions, 'aggregateRating' | 'strings'>): Record<string, unknown> {
  return {
    '@context': 'https://schema.org',
    '@type': 'DiscussionForumPosting',
    headline: post.title,
    ...(post.url ? { url: post.url, mainEntityOfPage: post.url } : {}),
    ...(post.author ? { author: { '@type': 'Person', name: post.author } } : {}),
    ...(post.publishedAt ? { datePublished: post.publishedAt } : {}),
    ...(post.summary ? { text: post.summary } : {}),
    ...(post.discord.threadUrl ? { discussionUrl: post.discord.threadUrl } : {}),
    commentCount: post.replies,
    interactionStatistic: [{ '@type': 'InteractionCounter', interactionType: 'https://schema.org/CommentAction', userInteractionCount: post.replies }],
    ...(opts.aggregateRating && post.rating.count > 0
      ? { aggregateRating: { '@type': 'AggregateRating', ratingValue: post.rating.average, ratingCount: post.rating.count, bestRating: 5, worstRating: 1 } }
      : {}),
    comment: ldComments(post.comments, opts.strings),
  };
}

/** The whole fragment: a <section> with heading, header, reply tree, "Show more", calls to action and JSON-LD. */
export function discussionFragment(post: FragmentPost, opts: FragmentOptions): string {
  const t = opts.strings;
  const level = Math.min(6, Math.max(2, Math.floor(opts.headingLevel) || 2));
  const hid = `blogcord-h-${escapeHtml(post.id)}`;
  let body: string;
  if (post.discussion === 'closed') body = `<p class="blogcord-note">${escapeHtml(t.closed)}</p>`;
  else if (post.comments.length)
    body = `<ol class="blogcord-list blogcord-thread" aria-label="${escapeHtml(t.thread)}">${commentsHtml(post.comments, t)}</ol>${moreHtml(post, opts)}`;
  else body = `<p class="blogcord-note">${escapeHtml(t.noReplies)}</p>`;
  const css = opts.stylesheet ? `<link rel="stylesheet" href="${escapeHtml(opts.apiBase)}/widget.css">` : '';
  return (
    `${css}<section class="blogcord" lang="${escapeHtml(opts.lang)}" data-theme="${opts.theme}" data-post="${escapeHtml(post.id)}" data-order="${post.page.order}" aria-labelledby="${hid}">` +
    `<h${level} class="blogcord-heading" id="${hid}">${escapeHtml(t.heading)}</h${level}>` +
    headerHtml(post, t) +
    body +
    actionsHtml(post, t) +
    `<script type="application/ld+json">${scriptJson(discussionJsonLd(post, opts))}</script>` +
    `</section>`
  );
}
