// The answer to /feed status: one feed's health in sections, within Discord's 2000 characters of content.
import type { Feed, LastPoll } from '../repositories/feeds.ts';
import type { Post } from '../repositories/posts.ts';
import { escapeMarkdown } from './markdown.ts';
import { cutText, shownUrl } from './post.ts';

export interface FeedStatus {
  feed: Feed;
  lastPoll: (LastPoll & { at: string }) | null;
  /** When the next poll is due (ISO); null when the feed is not polled (paused, removed). */
  nextPollAt: string | null;
  /** Why there is no next poll, or why it is later than the interval (backoff). */
  nextPollNote: string | null;
  /**
   * Push (WebSub): `on` with a detail (the hub, until when), or `off` with the reason; the last delivery; the
   * feed's publish hook (its URL under PUBLIC_URL, else only its token) and its last accepted call.
   */
  push: { on: boolean; detail: string; lastDeliveryAt: string | null; hook: { url: string | null; token: string; lastCallAt: string | null } | null };
  failures: { consecutive: number; lastError: string | null };
  /**
   * The feed's posts by state, read generically: every publish state present is counted (a state added later too);
   * known posts split by why: `known:flood`, `known:added`, `known:removed`, plain `known` when no reason was recorded.
   */
  counts: Record<string, number>;
  /** The most recent failed posts with their reasons. */
  failed: Post[];
  identity: { on: boolean; webhook: boolean; note: string | null };
  options: { channelId: string; web: boolean; intervalSeconds: number };
}

/** A section of the status: a bold heading and its lines. */
export interface StatusSection {
  title: string;
  lines: string[];
}

const when = (iso: string) => `<t:${Math.floor(Date.parse(iso) / 1000)}:R>`;
const stamp = (iso: string) => `<t:${Math.floor(Date.parse(iso) / 1000)}:f>`;

/** Post states in the order an operator reads them; any other state (a newer one) follows under its own name. */
const STATE_LABELS: Array<[string, string]> = [
  ['published', 'published'],
  ['pending', 'waiting to be published'],
  ['announced', 'announced, thread to come'],
  ['threaded', 'thread made, reactions to come'],
  ['failed', 'failed'],
  ['skipped', 'skipped by a filter'],
  ['known:flood', 'held by the flood guard'],
  ['known:added', 'known before the feed was added'],
  ['known:removed', 'not announced: the feed was removed first'],
  ['known', 'known, never announced'],
];

export function pollLine(poll: (LastPoll & { at: string }) | null): string {
  if (!poll) return 'Last poll: never';
  const outcome = poll.outcome === 'ok' ? '✅ ok' : poll.outcome === 'not-modified' ? '✅ not modified' : '❌ failed';
  const parts = [outcome, poll.httpStatus !== null ? `HTTP ${poll.httpStatus}` : 'no HTTP answer'];
  if (poll.durationMs !== null) parts.push(`${poll.durationMs} ms`);
  if (poll.items !== null) parts.push(`${poll.items} ${poll.items === 1 ? 'item' : 'items'} seen`);
  return `Last poll: ${when(poll.at)} (${stamp(poll.at)}) · ${parts.join(' · ')}`;
}

export function feedStatusSections(s: FeedStatus): StatusSection[] {
  const poll: StatusSection = { title: 'Polling', lines: [pollLine(s.lastPoll)] };
  poll.lines.push(
    s.nextPollAt ? `Next poll: ${when(s.nextPollAt)}${s.nextPollNote ? ` (${s.nextPollNote})` : ''}` : `Next poll: none (${s.nextPollNote ?? 'not polled'})`,
  );
  poll.lines.push(`Push: ${s.push.on ? 'on' : 'off'} — ${s.push.detail}${s.push.lastDeliveryAt ? ` · last delivery ${when(s.push.lastDeliveryAt)}` : ''}`);
  if (s.push.hook)
    poll.lines.push(
      `Publish hook: ${s.push.hook.url ? `\`POST ${s.push.hook.url}\`` : `token \`${s.push.hook.token}\` (set PUBLIC_URL for its URL)`}` +
        (s.push.hook.lastCallAt ? ` · last call ${when(s.push.hook.lastCallAt)}` : ''),
    );
  const failures: StatusSection = {
    title: 'Failures',
    lines: [
      s.failures.consecutive
        ? `${s.failures.consecutive} failed ${s.failures.consecutive === 1 ? 'poll' : 'polls'} in a row`
        : 'No failed poll since the last success',
    ],
  };
  if (s.failures.lastError) failures.lines.push(`Last error: ${escapeMarkdown(cutText(s.failures.lastError, 300))}`);
  for (const p of s.failed)
    failures.lines.push(
      `❌ ${escapeMarkdown(cutText(p.title, 80))}: ${escapeMarkdown(cutText(p.failureReason ?? 'unknown reason', 200))} (${p.publishAttempts} attempts)`,
    );
  const known = new Set(STATE_LABELS.map(([k]) => k));
  const counts = [
    ...STATE_LABELS.filter(([k]) => (s.counts[k] ?? 0) > 0).map(([k, label]) => `${label}: ${s.counts[k]}`),
    ...Object.entries(s.counts)
      .filter(([k, n]) => !known.has(k) && n > 0)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, n]) => `${escapeMarkdown(k)}: ${n}`),
  ];
  const posts: StatusSection = { title: 'Posts', lines: counts.length ? counts : ['none yet'] };
  const identity = !s.identity.on
    ? 'Identity: the bot’s own'
    : s.identity.note
      ? `Identity: ⚠️ the bot’s own, not the blog’s: ${escapeMarkdown(cutText(s.identity.note, 300))}`
      : s.identity.webhook
        ? 'Identity: the blog’s (a channel webhook named after it)'
        : 'Identity: the blog’s (its webhook is made with the next post)';
  const options: StatusSection = {
    title: 'Options',
    lines: [
      `Channel: <#${s.options.channelId}> · ${s.feed.state === 'paused' ? '⏸️ paused' : '✅ active'}`,
      identity,
      `Web: ${s.options.web ? 'on (/web disable takes it off)' : 'off (only in Discord)'}`,
      `Poll interval: ${s.options.intervalSeconds} s`,
    ],
  };
  return [poll, failures, posts, options];
}

/** The status as one message's content, at most `max` characters (sections are cut from the end, never mid-line). */
export function renderFeedStatus(s: FeedStatus, max = 2000): string {
  const head = `**${escapeMarkdown(cutText(s.feed.title ?? s.feed.url, 150))}** · ${shownUrl(s.feed.url, 300)}`;
  let out = head;
  for (const section of feedStatusSections(s)) {
    for (const [i, line] of [`**${section.title}**`, ...section.lines].entries()) {
      const next = `${out}\n${i === 0 ? '\n' : ''}${line}`;
      if (next.length > max - 2) return `${out}\n…`;
      out = next;
    }
  }
  return out;
}
