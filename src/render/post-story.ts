// The answer to /feed why: a post's story (first seen, announced or why not, what to do), or, for a link blogcord
// never saw, the closest posts it knows.
import type { Post } from '../repositories/posts.ts';
import { escapeMarkdown } from './markdown.ts';
import { cutText, shownUrl } from './post.ts';

export type PostStory =
  | {
      kind: 'found';
      post: Post;
      feed: { url: string; title: string | null; state: 'active' | 'paused' | 'removed' } | null;
      /** The announcement's link in Discord, when it has one. */
      link: string | null;
      /** Why a filter skipped it (a `skipped` post), when recorded. */
      skipReason: string | null;
    }
  | { kind: 'unknown'; input: string; closest: Array<{ post: Post; why: string }> };

const t = (iso: string) => `<t:${Math.floor(Date.parse(iso) / 1000)}:f>`;
const title = (p: Pick<Post, 'title'>) => `**${escapeMarkdown(cutText(p.title, 150))}**`;

/** The lines of a post's story, in the order things happened. */
export function postStoryLines(story: PostStory): string[] {
  if (story.kind === 'unknown') {
    const lines = [
      `${shownUrl(story.input, 300)} is not a post of any feed this server follows: blogcord never saw it in their polls.`,
      story.closest.length ? 'The closest posts blogcord knows:' : 'No post blogcord knows comes close to it.',
      ...story.closest.map(({ post, why }) => `• ${title(post)}${post.url ? ` <${post.url}>` : ''} (${why})`),
      'What to do: `/publish url:` with the post’s link fetches the server’s feeds and announces it if one holds it; `/feed add` follows the feed it belongs to.',
    ];
    return lines;
  }
  const { post, feed, link } = story;
  const lines = [`${title(post)}${post.url ? ` <${post.url}>` : ''}`];
  lines.push(`First seen ${t(post.discoveredAt)} in ${feed ? shownUrl(feed.url, 200) : 'a feed no longer stored'}.`);
  if (post.knownReason === 'flood')
    lines.push(
      `Held by the flood guard on ${t(post.knownAt ?? post.discoveredAt)}: that poll found too many new posts at once to announce them (a blog that changed how its feed names posts looks like that).`,
    );
  if (post.knownReason === 'added')
    lines.push(`Known when the feed was added (${t(post.knownAt ?? post.discoveredAt)}): only the newest posts asked for (backfill) are published then.`);
  if (post.knownReason === 'removed') lines.push(`Not announced: the feed was removed (${t(post.knownAt ?? post.updatedAt)}) before it went out.`);
  const publishHint = post.url ? `\`/publish url:${post.url}\`` : '`/publish url:` with its link';
  switch (post.publishState as string) {
    case 'published':
      lines.push(`Announced ${post.announcedAt ? t(post.announcedAt) : ''}${link ? ` · ${link}` : ''}${post.knownReason ? ' (by hand, with /publish)' : ''}.`);
      break;
    case 'announced':
    case 'threaded':
      lines.push(
        `Announced ${post.announcedAt ? t(post.announcedAt) : ''}${link ? ` · ${link}` : ''}; still finishing (${post.publishState === 'announced' ? 'the thread' : 'the rating reactions'}).`,
      );
      break;
    case 'pending':
      lines.push(`Waiting to be published (${post.publishAttempts} ${post.publishAttempts === 1 ? 'attempt' : 'attempts'} so far).`);
      break;
    case 'failed':
      lines.push(
        `Failed: ${escapeMarkdown(cutText(post.failureReason ?? 'no reason recorded', 400))} (${post.publishAttempts} ${post.publishAttempts === 1 ? 'attempt' : 'attempts'}).`,
      );
      lines.push(`What to do: fix the cause, then ${publishHint} tries again (it continues from what exists in Discord).`);
      break;
    case 'skipped':
      lines.push(`Skipped by filter ${story.skipReason ? `\`${cutText(story.skipReason, 200).replace(/`/g, "'")}\`` : '(its rule was not recorded)'}.`);
      lines.push(`What to do: ${publishHint} announces it anyway; \`/feed edit\` changes the filter for the next posts.`);
      break;
    case 'known':
      if (!post.knownReason) lines.push('Known without being announced (stored before blogcord recorded why).');
      lines.push(`What to do: ${publishHint} announces it now (exactly once).`);
      break;
    default:
      lines.push(`State: ${escapeMarkdown(post.publishState)}.`);
  }
  if (feed?.state === 'removed') lines.push('Its feed is no longer followed: `/feed add` follows it again (nothing old is reposted), then /publish.');
  else if (feed?.state === 'paused') lines.push('Its feed is paused after failed polls: `/feed status` says why; `/feed add` with its URL resumes it.');
  return lines;
}

/** The story as one message's content (≤ 2000 characters, cut between lines). */
export function renderPostStory(story: PostStory, max = 2000): string {
  let out = '';
  for (const line of postStoryLines(story)) {
    const next = out ? `${out}\n${line}` : line;
    if (next.length > max - 2) return out ? `${out}\n…` : cutText(line, max);
    out = next;
  }
  return out;
}
