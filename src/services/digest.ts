// The weekly digest: what a server published, liked and talked about in a period — posted exactly once.
//
// Exactly once, in order: (1) a (guild, period key) row is claimed before anything is posted (a unique key:
// one claimer wins); (2) the message is created with the row's nonce + enforce_nonce (Discord returns the
// first message for a repeated nonce); (3) the message id is recorded (state 'posted'). A retried or
// duplicated job finds the row: 'posted'/'skipped' → nothing to do; 'claimed'/'failed' without a message
// id (a crash or a failure between 2 and 3) → the bot's recent messages in the channel are searched for
// the footer with the period key; found → recorded; not found → posted again with the same nonce.
import { discordLink } from '../render/discord-link.ts';
import type { APIMessage, RESTPostAPIChannelMessageJSONBody } from 'discord-api-types/v10';
import type { AppContext } from '../context.ts';
import type { Db } from '../db/index.ts';
import type { DigestChart } from '../render/digest-chart.ts';
import { DIGEST_FOOTER_PREFIX, isEmptyDigest, periodKeyFromFooter, renderDigestMessage, type DigestView } from '../render/digest.ts';
import {
  countParticipants,
  getDigestPosts,
  listNewPosts,
  mostDiscussed,
  newVoices,
  waitingForAnswer,
  postTotals,
  windowActivity,
  windowCounts,
  windowPosts,
  type DigestWindow,
} from '../repositories/digest-window.ts';
import { checkDigestRollups, rebuildDigestRollups } from '../repositories/digest-rollups.ts';
import { claimDigest, getDigest, updateDigest, type Digest } from '../repositories/digest-runs.ts';
import { listFeeds } from '../repositories/feeds.ts';
import { getGuildSettings, upsertGuildSettings, type GuildSettings } from '../repositories/guilds.ts';
import { now, stableId } from '../repositories/ids.ts';
import { currentPeriodSoFar, periodDays, periodJustEnded, periodOfWeek, previousPeriod, scheduleOf, type DigestPeriod } from './digest-period.ts';

export { scheduleOf } from './digest-period.ts';
import { DiscordRequestError, type MessageFile } from './discord-port.ts';
import { bayesianAverage, DEFAULT_PRIOR_MEAN, PRIOR_WEIGHT, rankTopRated } from './ranking.ts';

/** How many entries the top-rated and most-discussed lists show; the new-posts list shows what fits. */
export const TOP_COUNT = 5;
export const NEW_POSTS_MAX = 25;
/** The prior C is the server's mean rating over this many days (DEFAULT_PRIOR_MEAN until there are ratings). */
export const PRIOR_DAYS = 90;
/** "Waiting for an answer" looks at the posts of this many days, and a top-level reply waits once it is this old. */
export const WAITING_DAYS = 30;
export const WAITING_QUIET_HOURS = 48;
/** How far back (messages) the crash repair looks for an unrecorded digest in the channel. */
const REPAIR_PAGES = 5;
/** A fresh claim without a message id may be another worker posting right now: wait this long for it first. */
const CLAIM_GRACE_MS = 5_000;

export type DigestStatus =
  /** Posted now. */
  | 'posted'
  /** A crashed poster's message was found in the channel and recorded (nothing posted). */
  | 'repaired'
  | 'already-posted'
  /** An empty period with `digestEmpty = 'skip'`: recorded, nothing posted. */
  | 'skipped'
  | 'already-skipped'
  /** `/digest now` in an empty period with `digestEmpty = 'skip'`: nothing posted, nothing recorded. */
  | 'empty'
  /** The server has no digest channel, no DIGEST_CHANNEL_ID and no feed: nothing posted, nothing recorded. */
  | 'no-channel';

export interface DigestOutcome {
  status: DigestStatus;
  periodKey: string;
  channelId: string | null;
  messageId: string | null;
  /** A link to the digest message, when there is one. */
  url: string | null;
  postedAt: string | null;
}

/** A digest that cannot be posted as things stand (missing access, unknown channel…); retrying will not help. */
export class DigestPostError extends Error {
  override name = 'DigestPostError';
  constructor(
    message: string,
    readonly permanent: boolean,
  ) {
    super(message);
  }
}

/** A server's digest settings (the defaults until /digest schedule changes them). */
export async function digestSettings(ctx: Pick<AppContext, 'db'>, guildId: string): Promise<GuildSettings> {
  return getGuildSettings(ctx.db, guildId);
}

/** Changes a server's digest settings and returns them whole. */
export async function saveDigestSettings(ctx: Pick<AppContext, 'db'>, guildId: string, patch: Partial<Omit<GuildSettings, 'guildId'>>): Promise<GuildSettings> {
  return upsertGuildSettings(ctx.db, guildId, patch);
}

/** The row key of a period: `2026-W48` for a week that ended, `2026-W48-now` for a week so far (`/digest now`). */
export function recordKey(period: DigestPeriod): string {
  return period.partial ? `${period.key}-now` : period.key;
}

/** The deterministic nonce of a digest row (Discord allows 25 characters). */
export function digestNonce(guildId: string, periodKey: string): string {
  return stableId('digest', guildId, periodKey);
}

/** The server's digest channel, else DIGEST_CHANNEL_ID, else the channel of its first feed; null when none. */
export async function resolveDigestChannel(ctx: Pick<AppContext, 'db' | 'config'>, settings: GuildSettings): Promise<string | null> {
  if (settings.digestChannelId) return settings.digestChannelId;
  if (ctx.config.digestChannelId) return ctx.config.digestChannelId;
  return (await listFeeds(ctx.db, settings.guildId))[0]?.channelId ?? null;
}

/**
 * The "top rated" posts: the candidates (rated in the window, in id order) ranked by rankTopRated, the first
 * `limit`. Its last tie-breaker, all-time replies, is read only for the candidates that can reach the list: the
 * first `limit` by (score, rating count) and every candidate tied with the last of them. Every other candidate
 * is below all of these on (score, count) alone, whatever its replies, so the result is rankTopRated's over all
 * the candidates. Scores come from the same bayesianAverage that rankTopRated uses.
 */
export async function topRated(
  db: Db,
  w: DigestWindow,
  candidates: ReadonlyArray<{ id: string; ratingSum: number; ratingCount: number }>,
  windowCommentCounts: ReadonlyMap<string, number>,
  priorMean: number,
  limit = TOP_COUNT,
  /** All-time live replies of (some of) the candidates, when the caller has them (windowPosts); the rest are read. */
  allReplies?: ReadonlyMap<string, number>,
): Promise<string[]> {
  const rated = candidates.filter((c) => c.ratingCount > 0);
  if (rated.length === 0 || limit <= 0) return [];
  const scores = rated.map((c) => bayesianAverage(c.ratingSum, c.ratingCount, priorMean, PRIOR_WEIGHT));
  // The `limit` best (score, count) keys, best first (a small sorted list: one pass over the candidates).
  const best: Array<{ score: number; count: number }> = [];
  const above = (a: { score: number; count: number }, b: { score: number; count: number }) => a.score > b.score || (a.score === b.score && a.count > b.count);
  rated.forEach((c, i) => {
    const key = { score: scores[i]!, count: c.ratingCount };
    if (best.length === limit && !above(key, best[limit - 1]!)) return;
    let at = best.length;
    while (at > 0 && above(key, best[at - 1]!)) at--;
    best.splice(at, 0, key);
    if (best.length > limit) best.pop();
  });
  const last = best[best.length - 1]!;
  const contenders = rated.filter((c, i) => scores[i]! > last.score || (scores[i] === last.score && c.ratingCount >= last.count));
  const totals = await postTotals(
    db,
    w.guildId,
    contenders.filter((c) => !allReplies?.has(c.id)).map((c) => c.id),
  );
  const withReplies = contenders.map((c) => ({
    id: c.id,
    ratingSum: c.ratingSum,
    ratingCount: c.ratingCount,
    replies: allReplies?.get(c.id) ?? totals.get(c.id)?.replies ?? 0,
  }));
  return rankTopRated(withReplies, priorMean, PRIOR_WEIGHT)
    .slice(0, limit)
    .map((r) => r.id);
}

/**
 * Everything a digest shows for [period.start, period.end): the window's comments and ratings are each read once
 * (per post, in SQL), together with new posts and participants; the rated candidates are ranked here by the
 * Bayesian average (prior C = the server's 90-day mean, summed in the same read as the ratings).
 */
export async function collectDigest(
  db: Db,
  guildId: string,
  period: Pick<DigestPeriod, 'start' | 'end' | 'timezone' | 'partial'>,
  periodKey: string,
): Promise<DigestView> {
  const w = { guildId, start: period.start, end: period.end };
  const endMs = Date.parse(period.end);
  const since = new Date(endMs - PRIOR_DAYS * 24 * 3600 * 1000).toISOString();
  const days = periodDays(period);
  const prev = { guildId, ...previousPeriod(period) };
  const [{ ratings, comments, replies }, news, participants, activity, waiting, voices, prevCounts, prevParticipants] = await Promise.all([
    windowPosts(db, w, since),
    listNewPosts(db, w, NEW_POSTS_MAX),
    countParticipants(db, w),
    windowActivity(
      db,
      w,
      days.map((d) => d.start),
    ),
    waitingForAnswer(
      db,
      {
        guildId,
        since: new Date(endMs - WAITING_DAYS * 24 * 3600 * 1000).toISOString(),
        end: period.end,
        quietBefore: new Date(endMs - WAITING_QUIET_HOURS * 3600 * 1000).toISOString(),
      },
      TOP_COUNT,
    ),
    newVoices(db, w),
    windowCounts(db, prev),
    countParticipants(db, prev),
  ]);
  const prior = ratings.prior && ratings.prior.count > 0 ? ratings.prior.sum / ratings.prior.count : DEFAULT_PRIOR_MEAN;
  const candidates = [...ratings.posts]
    .map(([id, r]) => ({ id, ratingSum: r.ratingSum, ratingCount: r.ratingCount }))
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const discussed = mostDiscussed(
    [...comments].map(([id, newComments]) => ({ id, newComments })),
    TOP_COUNT,
  );
  const ranked = await topRated(db, w, candidates, comments, prior, TOP_COUNT, replies);
  const details = await getDigestPosts(db, [...new Set([...ranked, ...discussed.map((d) => d.id), ...waiting.posts.map((p) => p.id)])]);
  let newComments = 0;
  for (const n of comments.values()) newComments += n;
  let newRatings = 0;
  for (const r of ratings.posts.values()) newRatings += r.newRatings;
  return {
    guildId,
    periodKey,
    period: { start: period.start, end: period.end, timezone: period.timezone, partial: period.partial },
    newPosts: news.posts,
    newPostsTotal: news.total,
    topRated: ranked.flatMap((id) => (details.has(id) ? [details.get(id)!] : [])),
    mostDiscussed: discussed.flatMap((d) => (details.has(d.id) ? [{ ...details.get(d.id)!, newComments: d.newComments }] : [])),
    totals: { newComments, newRatings, participants },
    activity: {
      days: days.map((d, i) => ({ date: d.date, label: d.label, replies: activity.replies[i] ?? 0, ratings: activity.ratings[i] ?? 0 })),
      stars: activity.stars,
    },
    waiting: waiting.posts.flatMap((p) => (details.has(p.id) ? [{ ...details.get(p.id)!, unansweredSince: p.unansweredSince }] : [])),
    waitingTotal: waiting.total,
    // Privacy (member_privacy): hidden members were left out by the query; anonymous ones are only counted.
    newVoices: { count: voices.length, named: voices.filter((v) => v.show === 'named').map((v) => v.userId) },
    previous: { newComments: prevCounts.comments, newRatings: prevCounts.ratings, participants: prevParticipants },
  };
}

/**
 * Checks the digest's rollups (one server's, or all) against a recount from the rows and rebuilds them from it:
 * `blogcord digest rebuild-rollups`. Returns how many rollup rows differed and how many there are now.
 */
export async function repairDigestRollups(
  db: Db,
  guildId?: string,
): Promise<{ drift: number; rows: { buckets: number; days: number; people: number; personDays: number; postTotals: number; postWaits?: number } }> {
  const opts = guildId === undefined ? {} : { guildId };
  const drift = await checkDigestRollups(db, opts);
  return { drift: drift.length, rows: await rebuildDigestRollups(db, opts) };
}

function outcome(status: DigestStatus, guildId: string, d: Pick<Digest, 'periodKey' | 'channelId' | 'messageId' | 'postedAt'>): DigestOutcome {
  return {
    status,
    periodKey: d.periodKey,
    channelId: d.channelId,
    messageId: d.messageId,
    url: d.channelId && d.messageId ? discordLink(guildId, d.channelId, d.messageId) : null,
    postedAt: d.postedAt,
  };
}

/** The bot's unrecorded digest message for this key among the channel's recent messages, if it made one. */
export async function findPostedDigest(ctx: Pick<AppContext, 'discord'>, channelId: string, periodKey: string, sinceIso: string): Promise<APIMessage | null> {
  const botId = await ctx.discord.botUserId();
  const since = Date.parse(sinceIso) - 10 * 60_000;
  let before: string | undefined;
  for (let page = 0; page < REPAIR_PAGES; page++) {
    const messages = await ctx.discord.listMessages(channelId, { limit: 100, ...(before ? { before } : {}) });
    for (const m of messages) {
      if (m.author?.id !== botId) continue;
      if (m.embeds?.some((e) => e.footer?.text?.startsWith(DIGEST_FOOTER_PREFIX) && periodKeyFromFooter(e.footer.text) === periodKey)) return m;
    }
    const oldest = messages[messages.length - 1];
    if (!oldest || messages.length < 100 || Date.parse(oldest.timestamp) < since) return null;
    before = oldest.id;
  }
  return null;
}

async function send(ctx: AppContext, digest: Digest, channelId: string, view: DigestView): Promise<DigestOutcome> {
  const rendered = renderDigestMessage(view);
  const body: RESTPostAPIChannelMessageJSONBody = {
    ...rendered.body,
    nonce: digest.nonce,
    enforce_nonce: true,
    allowed_mentions: { parse: [] },
  };
  const files: MessageFile[] = rendered.chart ? [{ name: rendered.chart.filename, data: rendered.chart.png, contentType: 'image/png' }] : [];
  let message: APIMessage;
  try {
    message = await ctx.discord.createMessage(channelId, body, files);
  } catch (error) {
    // A 4xx other than 429 will not change by retrying (missing access, unknown channel, invalid body): recorded as failed.
    // Anything else (5xx, timeouts) may have created the message: the row stays claimed and the retry repairs it.
    if (error instanceof DiscordRequestError && error.status >= 400 && error.status < 500 && error.status !== 429) {
      const reason = `Discord refused the digest in channel ${channelId}: ${error.message}`;
      await updateDigest(ctx.db, digest.guildId, digest.periodKey, { state: 'failed', channelId, error: reason.slice(0, 1000) });
      throw new DigestPostError(reason, true);
    }
    throw error;
  }
  const postedAt = now();
  await updateDigest(ctx.db, digest.guildId, digest.periodKey, { state: 'posted', channelId, messageId: message.id, error: null, postedAt });
  ctx.log.info({ guildId: digest.guildId, periodKey: digest.periodKey, channelId, messageId: message.id }, 'digest posted');
  return outcome('posted', digest.guildId, { periodKey: digest.periodKey, channelId, messageId: message.id, postedAt });
}

/** A row someone else claimed: done, or being posted right now, or left behind by a crash (repair it). */
async function resume(ctx: AppContext, row: Digest, settings: GuildSettings): Promise<DigestOutcome> {
  let d = row;
  if (d.state === 'claimed' && !d.messageId && Date.now() - Date.parse(d.createdAt) < CLAIM_GRACE_MS) {
    const until = Date.parse(d.createdAt) + CLAIM_GRACE_MS;
    while (Date.now() < until && d.state === 'claimed' && !d.messageId) {
      await new Promise((r) => setTimeout(r, 250));
      d = (await getDigest(ctx.db, d.guildId, d.periodKey)) ?? d;
    }
  }
  if (d.state === 'posted') return outcome('already-posted', d.guildId, d);
  if (d.state === 'skipped') return outcome('already-skipped', d.guildId, d);
  if (d.messageId) {
    await updateDigest(ctx.db, d.guildId, d.periodKey, { state: 'posted', postedAt: d.postedAt ?? now() });
    return outcome('already-posted', d.guildId, { ...d, postedAt: d.postedAt ?? now() });
  }
  // claimed or failed without a message: did the crashed poster get as far as Discord?
  const channelId = d.channelId ?? (await resolveDigestChannel(ctx, settings));
  if (!channelId) return outcome('no-channel', d.guildId, d);
  const found = await findPostedDigest(ctx, channelId, d.periodKey, d.createdAt);
  if (found) {
    const postedAt = found.timestamp ? new Date(found.timestamp).toISOString() : now();
    await updateDigest(ctx.db, d.guildId, d.periodKey, { state: 'posted', channelId, messageId: found.id, error: null, postedAt });
    ctx.log.info({ guildId: d.guildId, periodKey: d.periodKey, messageId: found.id }, 'digest repaired: the posted message was found and recorded');
    return outcome('repaired', d.guildId, { periodKey: d.periodKey, channelId, messageId: found.id, postedAt });
  }
  const partial = /-now(-r\d+)?$/.test(d.periodKey);
  const view = await collectDigest(ctx.db, d.guildId, { start: d.periodStart, end: d.periodEnd, timezone: settings.digestTimezone, partial }, d.periodKey);
  return send(ctx, d, channelId, view);
}

/**
 * Finishes a digest row left claimed (its job lost, its poster gone): found in the channel → recorded, else
 * posted with the row's nonce. Null when there is no such row.
 */
export async function resumeDigest(ctx: AppContext, guildId: string, periodKey: string): Promise<DigestOutcome | null> {
  const row = await getDigest(ctx.db, guildId, periodKey);
  if (!row) return null;
  return resume(ctx, row, await getGuildSettings(ctx.db, guildId));
}

/** Claims the first free key of `base`, `base-r2`, `base-r3`… (force: post again for the same period). */
async function claimFresh(ctx: AppContext, guildId: string, base: string, period: DigestPeriod, channelId: string): Promise<Digest> {
  for (let n = 1; n <= 1000; n++) {
    const key = n === 1 ? base : `${base}-r${n}`;
    const { digest, claimed } = await claimDigest(ctx.db, {
      guildId,
      periodKey: key,
      periodStart: period.start,
      periodEnd: period.end,
      channelId,
      nonce: digestNonce(guildId, key),
    });
    if (claimed) return digest;
  }
  throw new DigestPostError(`the digest of ${base} was already posted 1000 times`, true);
}

/**
 * Posts the digest of `period` for a server exactly once. `force` posts again for the same period under the
 * next free key (`2026-W48-r2`, …). A period so far (`partial`) is recorded as `2026-W48-now`, apart from the
 * scheduled digest of the whole week (`2026-W48`), which it never replaces.
 */
export async function postDigest(ctx: AppContext, guildId: string, opts: { period: DigestPeriod; force?: boolean }): Promise<DigestOutcome> {
  const { period } = opts;
  const base = recordKey(period);
  const settings = await getGuildSettings(ctx.db, guildId);
  if (!opts.force) {
    const existing = await getDigest(ctx.db, guildId, base);
    if (existing) return resume(ctx, existing, settings);
  }
  const view = await collectDigest(ctx.db, guildId, period, base);
  if (isEmptyDigest(view) && settings.digestEmpty === 'skip') {
    if (period.partial) return { status: 'empty', periodKey: base, channelId: null, messageId: null, url: null, postedAt: null };
    const { digest, claimed } = await claimDigest(ctx.db, {
      guildId,
      periodKey: base,
      periodStart: period.start,
      periodEnd: period.end,
      channelId: null,
      nonce: digestNonce(guildId, base),
    });
    if (!claimed) return resume(ctx, digest, settings);
    await updateDigest(ctx.db, guildId, base, { state: 'skipped' });
    ctx.log.info({ guildId, periodKey: base }, 'empty digest period skipped');
    return outcome('skipped', guildId, { ...digest, state: 'skipped' } as Digest);
  }
  const channelId = await resolveDigestChannel(ctx, settings);
  if (!channelId) {
    ctx.log.warn({ guildId, periodKey: base }, 'no digest channel: choose one with /digest schedule or set DIGEST_CHANNEL_ID');
    return { status: 'no-channel', periodKey: base, channelId: null, messageId: null, url: null, postedAt: null };
  }
  let digest: Digest;
  if (opts.force) {
    digest = await claimFresh(ctx, guildId, base, period, channelId);
  } else {
    const claim = await claimDigest(ctx.db, {
      guildId,
      periodKey: base,
      periodStart: period.start,
      periodEnd: period.end,
      channelId,
      nonce: digestNonce(guildId, base),
    });
    if (!claim.claimed) return resume(ctx, claim.digest, settings);
    digest = claim.digest;
  }
  return send(ctx, digest, channelId, { ...view, periodKey: digest.periodKey });
}

/** `/digest preview`: the digest of the current period so far, rendered by the same renderer, not recorded. */
export async function previewDigest(
  ctx: Pick<AppContext, 'db' | 'config'>,
  guildId: string,
  at: Date = new Date(),
): Promise<{
  body: RESTPostAPIChannelMessageJSONBody;
  chart: DigestChart | null;
  period: DigestPeriod;
  settings: GuildSettings;
  channelId: string | null;
  empty: boolean;
}> {
  const settings = await getGuildSettings(ctx.db, guildId);
  const period = currentPeriodSoFar(scheduleOf(settings), at);
  const view = await collectDigest(ctx.db, guildId, period, `${period.key}-preview`);
  const { body, chart } = renderDigestMessage(view);
  return { body, chart, period, settings, channelId: await resolveDigestChannel(ctx, settings), empty: isEmptyDigest(view) };
}

/**
 * `blogcord digest render`: the chart of a server's week (`2026-W48`; default: the week that ended last) without
 * Discord. Null when that week had no replies or ratings (no chart).
 */
export async function renderDigestImage(
  db: Db,
  guildId: string,
  week?: string,
  at: Date = new Date(),
): Promise<{ period: DigestPeriod; chart: DigestChart | null }> {
  const settings = await getGuildSettings(db, guildId);
  const schedule = scheduleOf(settings);
  const period = week ? periodOfWeek(schedule, week) : periodJustEnded(schedule, at);
  const view = await collectDigest(db, guildId, period, period.key);
  return { period, chart: renderDigestMessage(view).chart };
}

// ------------------------------------------------------------------ schedules

export interface DigestJobData {
  guildId: string;
}
