// /feed why: the story of one post (found by its URL, any form of it, or by the autocomplete's id), or the closest
// posts blogcord knows when it never saw that link. Rendered by src/render/post-story.ts.
import { UserError } from '../errors.ts';
import { canonicalLink } from '../feeds/canonical-link.ts';
import type { PostStory } from '../render/post-story.ts';
import { getFeed } from '../repositories/feeds.ts';
import { findGuildPostsByUrl, getPost, listGuildPostCandidates, searchGuildPostsByTitle, type Post } from '../repositories/posts.ts';
import type { FeedContext } from './feed-source.ts';
import { announcementLink } from './publish.ts';

export type { PostStory };

/** The closest posts shown for a link blogcord never saw. */
const CLOSEST = 3;

function trigrams(text: string): Set<string> {
  const s = `  ${text.toLowerCase()} `;
  const out = new Set<string>();
  for (let i = 0; i + 3 <= s.length; i++) out.add(s.slice(i, i + 3));
  return out;
}

function jaccard<T>(a: Set<T>, b: Set<T>): number {
  if (a.size === 0 || b.size === 0) return 0;
  let both = 0;
  for (const x of a) if (b.has(x)) both++;
  return both / (a.size + b.size - both);
}

/** Words of two letters or more, and numbers of any length (a post's number tells posts apart). */
const words = (text: string): Set<string> => new Set((text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []).filter((w) => w.length > 1 || /\p{N}/u.test(w)));

/** The words a link's path says (its slug: `/2026/12/my-first-post.html` → my, first, post, html, 2026, 12). */
function slugWords(url: string): Set<string> {
  try {
    return words(decodeURIComponent(new URL(url).pathname).replace(/[-_/.]+/g, ' '));
  } catch {
    return words(url);
  }
}

/**
 * How close a stored post is to what was asked: by canonical link first (trigram similarity of the two links), then
 * by title (overlap of the link's slug words, or the typed words, with the title's words). Cheap: no index needed.
 */
export function similarity(input: string, post: Pick<Post, 'url' | 'title'>): { score: number; why: string } {
  const link = canonicalLink(input);
  const theirs = canonicalLink(post.url);
  const byLink = link && theirs ? jaccard(trigrams(link), trigrams(theirs)) : 0;
  const asked = link ? slugWords(input) : words(input);
  const title = words(post.title);
  const byTitle = asked.size && title.size ? [...asked].filter((w) => title.has(w)).length / Math.max(title.size, 1) : 0;
  // Both count: many posts of one blog share most of a link, and many share words of a title.
  const score = link && theirs ? (byLink + byTitle) / 2 : byTitle;
  const why = [link && theirs ? `link ${Math.round(byLink * 100)}% alike` : null, `title ${Math.round(byTitle * 100)}% alike`].filter(Boolean).join(', ');
  return { score, why };
}

export function closestPosts(input: string, candidates: readonly Post[], n = CLOSEST): Array<{ post: Post; why: string }> {
  return candidates
    .map((post) => ({ post, ...similarity(input, post) }))
    .filter((c) => c.score >= 0.2)
    .sort((a, b) => b.score - a.score || a.post.id.localeCompare(b.post.id))
    .slice(0, n)
    .map(({ post, why }) => ({ post, why }));
}

/** The post a /feed why names: the autocomplete's post id, else any form of its URL (a published copy wins). */
async function findPost(ctx: Pick<FeedContext, 'db'>, guildId: string, ref: string): Promise<Post | null> {
  const byId = await getPost(ctx.db, ref);
  if (byId && byId.guildId === guildId) return byId;
  const found = await findGuildPostsByUrl(ctx.db, guildId, ref);
  return found.find((p) => p.publishState === 'published') ?? found[0] ?? null;
}

export async function postStory(ctx: Pick<FeedContext, 'db'>, guildId: string, ref: string): Promise<PostStory> {
  const input = ref.trim();
  if (!input) throw new UserError('Name a post: its link, or pick one from the list as you type.', 'bad-post');
  const post = await findPost(ctx, guildId, input);
  if (!post) {
    return { kind: 'unknown', input, closest: closestPosts(input, await listGuildPostCandidates(ctx.db, guildId)) };
  }
  const feed = await getFeed(ctx.db, post.feedId);
  // A `skipped` post's rule (the filters' column) is read when the filters are there; until then there is none.
  const skipReason = (post as Post & { skipReason?: string | null }).skipReason ?? null;
  return {
    kind: 'found',
    post,
    feed: feed ? { url: feed.url, title: feed.title, state: feed.state } : null,
    link: post.messageId ? announcementLink(guildId, post) : null,
    skipReason,
  };
}

/** The autocomplete of /feed why: the server's posts whose title contains what is typed (every state). */
export async function postChoices(ctx: Pick<FeedContext, 'db'>, guildId: string, typed: string): Promise<Post[]> {
  return searchGuildPostsByTitle(ctx.db, guildId, typed, 25);
}
