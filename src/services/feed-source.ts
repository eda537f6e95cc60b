// Reading a feed for the feed services: fetch (SSRF guard, limits, conditional GET) and parse, items newest first,
// an item as the repository stores it, and a feed problem as an answer for the person who asked.
import type { AppContext } from '../context.ts';
import type { Jobs } from './jobs.ts';
import { FeedError } from '../feeds/errors.ts';
import { checkFeedUrl, fetchFeed } from '../feeds/fetch.ts';
import { parseFeed } from '../feeds/parse.ts';
import { mergeLinks } from '../feeds/websub-discovery.ts';
import type { FetchFeedOptions, PostDraft } from '../feeds/types.ts';
import { USER_AGENT } from '../feeds/user-agent.ts';
import { UserError } from '../errors.ts';
import { plainText } from '../render/markdown.ts';
import { cutText } from '../render/post.ts';
import type { PostContent } from '../repositories/posts.ts';

/** What the feed services need from the job queues. */
export type FeedJobs = Pick<
  Jobs,
  | 'enqueuePublish'
  | 'schedulePolls'
  | 'unschedulePolls'
  | 'refreshAnnouncement'
  | 'requestPoll'
  | 'enqueuePushDelivery'
  | 'schedulePushMaintenance'
  | 'unschedulePushMaintenance'
>;

/** The feed services' part of the AppContext; queue work goes through `jobs` (src/services/jobs.ts). */
export type FeedContext = Pick<AppContext, 'db' | 'discord' | 'log' | 'config'> & { jobs: FeedJobs };

export function fetchOptions(config: FeedContext['config']): FetchFeedOptions {
  return {
    allowPrivateNetwork: config.feedAllowPrivateNetwork,
    timeoutMs: config.feedTimeoutSeconds * 1000,
    maxBytes: config.feedMaxBytes,
    userAgent: USER_AGENT,
  };
}

/** A feed problem as an answer for the person who asked. */
export function feedUserError(error: FeedError): UserError {
  const unmentioned = error.suggestions.filter((u) => !error.message.includes(u));
  const tips = unmentioned.length ? `\nFeeds found on that page: ${unmentioned.slice(0, 3).join(' · ')}` : '';
  return new UserError(`${error.message}${tips}`, `feed-${error.code}`, { url: error.url });
}

/**
 * A failure that is not a FeedError (a bug, or a library throwing on one hostile item) as a one-line reason for
 * the person who asked and for /feed list: it is counted like any other failure, never swallowed.
 */
export function unexpectedReason(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return `blogcord could not process the feed (${cutText(text, 200)})`;
}

/**
 * The feed's items newest first: by date, the feed's order breaking ties. An undated item keeps its place in the
 * feed's order (newest first by convention): it counts as dated like the item above it, the newest when none is.
 */
export function newestFirst(items: readonly PostDraft[]): PostDraft[] {
  let above = Infinity;
  const dated = items.map((item, i) => {
    const t = item.publishedAt ? Date.parse(item.publishedAt) : NaN;
    if (!Number.isNaN(t)) above = t;
    return { item, i, t: Number.isNaN(t) ? above : t };
  });
  return dated.sort((a, b) => (a.t === b.t ? 0 : b.t - a.t) || a.i - b.i).map((d) => d.item);
}

/** A parsed item as the repository stores it (the summary, else the full content, is what gets rendered). */
export function postContent(draft: PostDraft): PostContent {
  const html = draft.summaryHtml?.trim() ? draft.summaryHtml : draft.contentHtml;
  return {
    key: draft.key,
    url: draft.url,
    title: draft.title,
    author: draft.author,
    publishedAt: draft.publishedAt,
    summaryHtml: html,
    searchText: `${draft.title}\n${plainText(html)}`,
    imageUrl: draft.imageUrl,
    contentHash: draft.contentHash,
    categories: draft.categories,
  };
}

export async function fetchAndParse(ctx: Pick<FeedContext, 'config'>, url: string, validators: { etag?: string | null; lastModified?: string | null } = {}) {
  const fetched = await fetchFeed(url, validators, fetchOptions(ctx.config));
  if (fetched.status === 'not-modified') return { status: 'not-modified' as const };
  const parsed = parseFeed(fetched.body, fetched.finalUrl);
  const feed = { ...parsed, push: mergeLinks(fetched.links, parsed.push) };
  return { status: 'ok' as const, httpStatus: fetched.httpStatus, feed, etag: fetched.etag, lastModified: fetched.lastModified };
}

export function normaliseUrl(ctx: Pick<FeedContext, 'config'>, input: string): string {
  try {
    return checkFeedUrl(input, ctx.config.feedAllowPrivateNetwork).toString();
  } catch (error) {
    if (error instanceof FeedError) throw feedUserError(error);
    throw error;
  }
}

export type FetchedFeed = Awaited<ReturnType<typeof fetchAndParse>>;
