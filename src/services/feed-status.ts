// /feed status: one feed's health as structured sections (the last poll, the next one, push, failures, its posts by
// state, identity and options), rendered by src/render/feed-status.ts. Other parts add their own section here
// (push: src/services/push.ts) without touching the rendering.
export type { FeedStatus };
import { UserError } from '../errors.ts';
import type { FeedStatus } from '../render/feed-status.ts';
import { getFeed, type Feed } from '../repositories/feeds.ts';
import { countFeedPostsByState, listFailedFeedPosts } from '../repositories/posts.ts';
import { backoffMs } from './feed-poll.ts';
import { findGuildFeed } from './feeds.ts';
import { pushStatus, type PushStatus } from './push.ts';
import type { FeedContext } from './feed-source.ts';

/** A server's feed by URL or id for the commands naming one; an unknown one is a clear error. */
export async function requireGuildFeed(ctx: Pick<FeedContext, 'db'>, guildId: string, ref: string): Promise<Feed> {
  const feed = await findGuildFeed(ctx, guildId, ref);
  if (!feed || feed.state === 'removed') throw new UserError(`This server does not follow ${ref}. /feed list shows the feeds it follows.`, 'unknown-feed');
  return feed;
}

/** When the feed's next poll is due: the scheduler ticks every interval, and a failing feed skips ticks until its backoff passed. */
export function nextPoll(
  feed: Pick<Feed, 'state' | 'lastPolledAt' | 'consecutiveFailures'>,
  intervalSeconds: number,
  at = new Date(),
): { at: string | null; note: string | null } {
  if (feed.state === 'paused') return { at: null, note: 'paused after failed polls: `/feed add` with the same URL resumes it' };
  if (feed.state === 'removed') return { at: null, note: 'not followed' };
  if (!feed.lastPolledAt) return { at: at.toISOString(), note: 'not polled yet' };
  const wait = Math.max(intervalSeconds * 1000, backoffMs(intervalSeconds, feed.consecutiveFailures));
  const due = Math.max(Date.parse(feed.lastPolledAt) + wait, at.getTime());
  const note =
    feed.consecutiveFailures > 0 ? `backing off after ${feed.consecutiveFailures} failed ${feed.consecutiveFailures === 1 ? 'poll' : 'polls'}` : null;
  return { at: new Date(due).toISOString(), note };
}

export async function feedStatus(ctx: Pick<FeedContext, 'db' | 'config'>, guildId: string, ref: string, at = new Date()): Promise<FeedStatus> {
  const found = await requireGuildFeed(ctx, guildId, ref);
  const feed = (await getFeed(ctx.db, found.id))!;
  const [counts, failed] = await Promise.all([countFeedPostsByState(ctx.db, [feed.id]), listFailedFeedPosts(ctx.db, feed.id, 3)]);
  const push = await pushStatus(ctx, feed.id, at);
  // While a push subscription is active, polls come at the slower safety-net interval.
  const interval = push.pollIntervalSeconds;
  const next = nextPoll(feed, interval, at);
  return {
    feed,
    lastPoll: feed.lastPoll && feed.lastPolledAt ? { ...feed.lastPoll, at: feed.lastPolledAt } : null,
    nextPollAt: next.at,
    nextPollNote: next.note,
    push: {
      on: push.state === 'active',
      detail: pushDetail(push),
      lastDeliveryAt: push.lastDeliveryAt,
      hook: push.hookToken ? { url: push.hookUrl, token: push.hookToken, lastCallAt: push.lastHookCallAt } : null,
    },
    failures: { consecutive: feed.consecutiveFailures, lastError: feed.lastError },
    counts: counts.get(feed.id) ?? {},
    failed,
    identity: { on: feed.identity, webhook: feed.webhookId !== null, note: feed.identityNote },
    options: { channelId: feed.channelId, web: feed.webEnabled, intervalSeconds: interval },
  };
}

/** One line of the push state: active until when through which hub, pending, denied with the hub's reason, or off and why. */
function pushDetail(p: PushStatus): string {
  switch (p.state) {
    case 'active':
      return `subscribed at ${p.hubUrl}${p.activeUntil ? ` until <t:${Math.floor(Date.parse(p.activeUntil) / 1000)}:f>` : ''}`;
    case 'pending':
      return `waiting for ${p.hubUrl} to verify the subscription${p.reason ? ` (last error: ${p.reason})` : ''}`;
    case 'denied':
      return `${p.hubUrl} denied the subscription${p.reason ? `: ${p.reason}` : ''}; polling as usual${p.nextAttemptAt ? `, next try <t:${Math.floor(Date.parse(p.nextAttemptAt) / 1000)}:R>` : ''}`;
    case 'unsubscribed':
    case 'off':
      return p.off ?? 'off';
  }
}
