// Pure: a server's week → one Discord message (one embed) within Discord's limits.
import { discordLink } from './discord-link.ts';
import type { APIEmbed, APIEmbedField, RESTPostAPIChannelMessageJSONBody } from 'discord-api-types/v10';
import { DateTime } from 'luxon';
import { hasChartData, renderDigestChart, type DigestChart, type DigestDay } from './digest-chart.ts';
import { EMBED_DESCRIPTION_MAX, EMBED_FIELD_VALUE_MAX, EMBED_TOTAL_MAX, validateMessagePayload } from './limits.ts';
import { escapeMarkdown, markdownUrl } from './markdown.ts';
import { cutText, EMBED_COLOR } from './post.ts';
import { formatRating } from './rating.ts';

export interface DigestEntry {
  id: string;
  title: string;
  url: string | null;
  channelId: string | null;
  messageId: string | null;
  threadId: string | null;
  ratingSum: number;
  ratingCount: number;
  replies: number;
}

export interface DigestView {
  guildId: string;
  /** The recorded key (`2026-W48`, `2026-W48-now`, `2026-W48-now-r2`): carried in the footer. */
  periodKey: string;
  period: { start: string; end: string; timezone: string; partial: boolean };
  newPosts: DigestEntry[];
  /** All posts of the period (more than `newPosts` when the list was capped). */
  newPostsTotal: number;
  topRated: DigestEntry[];
  mostDiscussed: Array<DigestEntry & { newComments: number }>;
  totals: { newComments: number; newRatings: number; participants: number };
  /** The chart's figures: replies and ratings per local day, the period's ratings by stars (index 0 = 1 star). */
  activity: { days: DigestDay[]; stars: [number, number, number, number, number] };
  /** Posts of the last 30 days whose thread waits for an answer (the first few; `waitingTotal` in all). */
  waiting: Array<DigestEntry & { unansweredSince: string | null }>;
  waitingTotal: number;
  /** People who replied or rated for the first time: how many (hidden members left out), and the ids of those who chose to be named. */
  newVoices: { count: number; named: string[] };
  /** The previous week's figures (for a period so far: the same part of last week). */
  previous: { newComments: number; newRatings: number; participants: number };
}

/** What a digest message is made of: the JSON body and, when the period has activity, the chart it shows. */
export interface DigestMessage {
  body: RESTPostAPIChannelMessageJSONBody;
  chart: DigestChart | null;
}

export const DIGEST_FOOTER_PREFIX = 'blogcord digest · ';
const TITLE_MAX = 90;
const URL_IN_LINK_MAX = 300;
/** Room kept for "…and N more" when a list is cut. */
const MORE_RESERVE = 24;

/** The footer that marks a digest message, so a crashed poster's message can be recognised. */
export function digestFooter(periodKey: string): string {
  return `${DIGEST_FOOTER_PREFIX}${periodKey}`;
}

/** The period key of a digest message's footer, or null when the text is not a digest footer. */
export function periodKeyFromFooter(text: string | null | undefined): string | null {
  if (!text?.startsWith(DIGEST_FOOTER_PREFIX)) return null;
  const key = text.slice(DIGEST_FOOTER_PREFIX.length).trim();
  return /^\d{4}-W\d{2}(-[a-z0-9-]+)?$/.test(key) ? key : null;
}

/** A link to the post's discussion: its thread, else its announcement. */
export function discussionUrl(guildId: string, e: Pick<DigestEntry, 'channelId' | 'messageId' | 'threadId'>): string | null {
  if (e.threadId) return discordLink(guildId, e.threadId);
  if (e.channelId && e.messageId) return discordLink(guildId, e.channelId, e.messageId);
  return null;
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** "23–30 Nov 2026", "28 Dec 2026 – 4 Jan 2027" in the server's zone. */
export function periodName(p: DigestView['period']): string {
  const start = DateTime.fromISO(p.start, { zone: p.timezone, locale: 'en-GB' });
  const end = DateTime.fromISO(p.end, { zone: p.timezone, locale: 'en-GB' });
  if (p.partial) return `${start.toFormat('ccc d LLL yyyy, HH:mm')} – now`;
  if (start.year !== end.year) return `${start.toFormat('d LLL yyyy')} – ${end.toFormat('d LLL yyyy')}`;
  if (start.month !== end.month) return `${start.toFormat('d LLL')} – ${end.toFormat('d LLL yyyy')}`;
  return `${start.toFormat('d')}–${end.toFormat('d LLL yyyy')}`;
}

/** `[Title](post) ([discussion](thread))`: the title is escaped and cut; an unusable post URL leaves the title plain. */
function entryHead(guildId: string, e: DigestEntry): string {
  const title = escapeMarkdown(cutText(e.title || 'Untitled post', TITLE_MAX)) || 'Untitled post';
  const url = e.url && /^https?:\/\//i.test(e.url) && e.url.length <= URL_IN_LINK_MAX ? markdownUrl(e.url) : null;
  const thread = discussionUrl(guildId, e);
  const head = url ? `[${title}](${url})` : `**${title}**`;
  return thread ? `${head} ([discussion](${thread}))` : head;
}

function ratingText(e: DigestEntry): string {
  return formatRating({ average: e.ratingCount ? e.ratingSum / e.ratingCount : 0, count: e.ratingCount });
}

function repliesText(n: number): string {
  return `💬 ${plural(n, 'reply', 'replies')}`;
}

/** As many lines as fit in `max` characters, then "…and N more". */
export function fitLines(lines: readonly string[], max: number, extra = 0): string {
  const kept: string[] = [];
  let length = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const add = (kept.length ? 1 : 0) + line.length;
    const reserve = i < lines.length - 1 || extra > 0 ? MORE_RESERVE : 0;
    if (length + add + reserve > max) break;
    kept.push(line);
    length += add;
  }
  const more = lines.length - kept.length + extra;
  if (more > 0) kept.push(`…and ${more} more`);
  return kept.join('\n');
}

/** "+12 %", "−3 %", "±0 %"; "new" when the previous figure was 0. */
export function percentChange(now: number, before: number): string {
  if (before === 0) return now === 0 ? '±0 %' : 'new';
  const p = Math.round(((now - before) / before) * 100);
  return p > 0 ? `+${p} %` : p < 0 ? `−${-p} %` : '±0 %';
}

/** "Mon 23 Nov, 14:05" in the server's zone. */
function localTime(iso: string, zone: string): string {
  return DateTime.fromISO(iso, { zone, locale: 'en-GB' }).toFormat('ccc d LLL, HH:mm');
}

const MENTIONS_SHOWN = 20;

export function isEmptyDigest(v: DigestView): boolean {
  return v.newPostsTotal === 0 && v.totals.newComments === 0 && v.totals.newRatings === 0;
}

/** The chart of a view, or null for a period without replies or ratings. */
export function digestChart(v: DigestView): DigestChart | null {
  if (!hasChartData(v.activity)) return null;
  return renderDigestChart({ periodName: periodName(v.period), timezone: v.period.timezone, days: v.activity.days, stars: v.activity.stars });
}

/** The message and its chart (attached as `digest.png`, shown as the embed's image, described in its alt text). */
export function renderDigestMessage(v: DigestView): DigestMessage {
  const chart = digestChart(v);
  return { body: renderDigest(v, chart), chart };
}

/**
 * One message with one embed: new posts, top rated, most discussed, waiting for an answer, new voices, the trend
 * and the totals, each section only when it has entries; the footer carries the period key. With a chart, the embed
 * shows it (`attachment://digest.png`) and the body declares the attachment with its alt text.
 */
export function renderDigest(v: DigestView, chart: Pick<DigestChart, 'filename' | 'description'> | null = null): RESTPostAPIChannelMessageJSONBody {
  const title = `${v.period.partial ? 'Digest so far' : 'Weekly digest'} · ${periodName(v.period)}`;
  const footer = digestFooter(v.periodKey);
  const fields: APIEmbedField[] = [];
  if (v.topRated.length) {
    const lines = v.topRated.map((e, i) => `${i + 1}. ${entryHead(v.guildId, e)} — ${ratingText(e)} · ${repliesText(e.replies)}`);
    fields.push({ name: '⭐ Top rated', value: fitLines(lines, EMBED_FIELD_VALUE_MAX) });
  }
  if (v.mostDiscussed.length) {
    const lines = v.mostDiscussed.map(
      (e, i) =>
        `${i + 1}. ${entryHead(v.guildId, e)} — ${plural(e.newComments, 'new comment', 'new comments')} (${plural(e.replies, 'reply', 'replies')} in all)`,
    );
    fields.push({ name: '💬 Most discussed', value: fitLines(lines, EMBED_FIELD_VALUE_MAX) });
  }
  if (v.waiting.length) {
    const lines = v.waiting.map(
      (e) => `• ${entryHead(v.guildId, e)} — ${e.unansweredSince ? `a reply waits since ${localTime(e.unansweredSince, v.period.timezone)}` : 'no reply yet'}`,
    );
    fields.push({ name: '⏳ Waiting for an answer', value: fitLines(lines, EMBED_FIELD_VALUE_MAX, v.waitingTotal - v.waiting.length) });
  }
  if (v.newVoices.count > 0) {
    const n = v.newVoices.count;
    const shown = v.newVoices.named.slice(0, MENTIONS_SHOWN).map((id) => `<@${id}>`);
    const others = n - shown.length;
    const who = shown.length ? `: ${shown.join(', ')}${others > 0 ? ` and ${plural(others, 'other', 'others')}` : ''}` : '';
    const head = `${plural(n, 'person', 'people')} replied or rated for the first time${who}. Welcome!`;
    fields.push({
      name: '👋 New voices',
      value: head.length <= EMBED_FIELD_VALUE_MAX ? head : `${plural(n, 'person', 'people')} replied or rated for the first time. Welcome!`,
    });
  }
  const p = v.previous;
  if (p.newComments + p.newRatings > 0) {
    const t = v.totals;
    fields.push({
      name: v.period.partial ? '📈 Against the same time last week' : '📈 Against last week',
      value: `Replies ${t.newComments.toLocaleString('en-US')} (${percentChange(t.newComments, p.newComments)}) · Ratings ${t.newRatings.toLocaleString('en-US')} (${percentChange(t.newRatings, p.newRatings)}) · Active members ${t.participants.toLocaleString('en-US')} (${percentChange(t.participants, p.participants)})`,
    });
  }
  const t = v.totals;
  fields.push({
    name: v.period.partial ? 'So far' : 'This week',
    value: `${plural(v.newPostsTotal, 'new post', 'new posts')} · ${plural(t.newComments, 'new comment', 'new comments')} · ${plural(t.newRatings, 'rating', 'ratings')} · ${plural(t.participants, 'person', 'people')} taking part`,
  });

  let description: string;
  if (isEmptyDigest(v)) {
    description = v.period.partial ? 'Nothing new yet: no new posts, comments or ratings so far.' : 'A quiet week: no new posts, comments or ratings.';
  } else if (v.newPostsTotal === 0) {
    description = v.period.partial ? 'No new posts so far.' : 'No new posts this week.';
  } else {
    const heading = `**📰 New posts (${v.newPostsTotal})**`;
    const others = title.length + footer.length + fields.reduce((n, f) => n + f.name.length + f.value.length, 0);
    const budget = Math.min(EMBED_DESCRIPTION_MAX, EMBED_TOTAL_MAX - others - 16) - heading.length - 1;
    const lines = v.newPosts.map((e) => `• ${entryHead(v.guildId, e)} — ${ratingText(e)} · ${repliesText(e.replies)}`);
    description = `${heading}\n${fitLines(lines, budget, v.newPostsTotal - v.newPosts.length)}`;
  }

  const embed: APIEmbed = {
    title,
    description,
    color: EMBED_COLOR,
    fields,
    footer: { text: footer },
    timestamp: new Date(v.period.end).toISOString(),
    ...(chart ? { image: { url: `attachment://${chart.filename}` } } : {}),
  };
  const body: RESTPostAPIChannelMessageJSONBody = {
    embeds: [embed],
    allowed_mentions: { parse: [] },
    ...(chart ? { attachments: [{ id: '0', filename: chart.filename, description: chart.description }] } : {}),
  };
  const problems = validateMessagePayload(body);
  if (problems.length) throw new RangeError(`the digest does not fit in a Discord message: ${problems.join('; ')}`);
  return body;
}
