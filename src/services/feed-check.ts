import type { RESTPostAPIChannelMessageJSONBody } from 'discord-api-types/v10';
import { fetchFeed } from '../feeds/fetch.ts';
import { FeedError } from '../feeds/errors.ts';
import { parseFeed } from '../feeds/parse.ts';
import type { FetchFeedOptions, ParsedFeed, PostDraft } from '../feeds/types.ts';
import { validateMessagePayload, validateThreadName } from '../render/limits.ts';
import { renderAnnouncement, renderPostMessage, threadName } from '../render/post.ts';

export interface FeedCheckPreview {
  draft: PostDraft;
  /** What would be posted (the fallback if the announcement breaks a limit). */
  payload: RESTPostAPIChannelMessageJSONBody;
  threadName: string;
  /** Limit problems of the full announcement (empty = posted as is). */
  problems: string[];
}

export interface FeedCheckResult {
  url: string;
  finalUrl: string;
  feed: ParsedFeed;
  previews: FeedCheckPreview[];
}

const EMPTY_STATS = { rating: { average: 0, count: 0 }, replies: 0 };

/** Render every item of an already parsed feed as blogcord would post it. Pure. */
export function previewFeed(feed: ParsedFeed): FeedCheckPreview[] {
  return feed.items.map((draft) => {
    const post = { ...draft, feedTitle: feed.title };
    const name = threadName(draft.title);
    let problems: string[];
    try {
      problems = validateMessagePayload(renderAnnouncement(post, EMPTY_STATS));
    } catch (error) {
      problems = [`the announcement could not be rendered (${oneLine(error)})`];
    }
    return { draft, payload: renderPostMessage(post, EMPTY_STATS), threadName: name, problems: [...problems, ...validateThreadName(name)] };
  });
}

/** Fetch + parse + render a feed, without Discord (`blogcord feed check URL`). Throws FeedError. */
export async function checkFeed(url: string, fetchOpts: FetchFeedOptions): Promise<FeedCheckResult> {
  const fetched = await fetchFeed(url, {}, fetchOpts);
  if (fetched.status !== 'ok') throw new FeedError('http-status', `${url} answered 304 Not Modified to an unconditional request`, { url, status: 304 });
  const feed = parseFeed(fetched.body, fetched.finalUrl);
  return { url, finalUrl: fetched.finalUrl, feed, previews: previewFeed(feed) };
}

/** An error as one short line (no stack, no line breaks). */
function oneLine(error: unknown): string {
  const text = error instanceof Error ? (error instanceof FeedError ? error.message : `${error.name}: ${error.message}`) : String(error);
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > 300 ? `${line.slice(0, 299)}…` : line;
}

/** Why `feed check` failed, as the one line it prints: a FeedError's message, else what went wrong. */
export function feedCheckFailure(error: unknown): string {
  return error instanceof FeedError ? oneLine(error) : `blogcord could not check the feed: ${oneLine(error)}`;
}

/**
 * `blogcord feed check URL` as text and a status: the report (ok), or one line saying why not (never a stack
 * trace, whatever failed).
 */
export async function feedCheckReport(url: string, fetchOpts: FetchFeedOptions, count = 3): Promise<{ ok: boolean; text: string }> {
  try {
    return { ok: true, text: formatFeedCheck(await checkFeed(url, fetchOpts), count) };
  } catch (error) {
    return { ok: false, text: feedCheckFailure(error) };
  }
}

function newestFirst(previews: FeedCheckPreview[]): FeedCheckPreview[] {
  const dated = previews.map((p, i) => ({ p, i, t: p.draft.publishedAt ? Date.parse(p.draft.publishedAt) : NaN }));
  // Items without dates keep feed order (feeds list newest first).
  if (dated.every((d) => Number.isNaN(d.t))) return previews;
  return dated.sort((a, b) => (Number.isNaN(b.t) ? -1 : Number.isNaN(a.t) ? 1 : b.t - a.t) || a.i - b.i).map((d) => d.p);
}

function indent(text: string, prefix = '    '): string {
  return text
    .split('\n')
    .map((line) => `${prefix}${line}`)
    .join('\n');
}

/** Human-readable report for the terminal: the feed, then the newest 3 items as they would be posted. */
export function formatFeedCheck(result: Pick<FeedCheckResult, 'feed' | 'previews'> & { finalUrl?: string }, count = 3): string {
  const { feed } = result;
  const lines: string[] = [];
  lines.push(`Feed:    ${feed.title ?? '(untitled)'}`);
  if (feed.link) lines.push(`Site:    ${feed.link}`);
  if (result.finalUrl) lines.push(`URL:     ${result.finalUrl}`);
  lines.push(`Format:  ${feed.format}`);
  lines.push(`Items:   ${feed.items.length}`);
  const shown = newestFirst(result.previews).slice(0, count);
  if (shown.length === 0) lines.push('', 'The feed has no items yet: nothing would be posted.');
  shown.forEach((preview, i) => {
    const { draft, payload } = preview;
    const embed = payload.embeds?.[0];
    lines.push('', `── ${i + 1}. ${draft.title}`);
    lines.push(`  Link:    ${draft.url ?? '(none)'}`);
    lines.push(`  Date:    ${draft.publishedAt ?? '(none)'}`);
    if (draft.author) lines.push(`  Author:  ${draft.author}`);
    lines.push(`  Key:     ${draft.key} (${draft.keySource})`);
    lines.push(`  Thread:  ${preview.threadName}`);
    if (embed?.image) lines.push(`  Image:   ${embed.image.url}`);
    if (preview.problems.length > 0) lines.push(`  Problems (posted as title + link instead): ${preview.problems.join('; ')}`);
    const description = embed?.description ?? payload.content ?? '';
    lines.push('  Message:');
    lines.push(indent(description || '(no text)'));
  });
  return lines.join('\n');
}
