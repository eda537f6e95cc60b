// Push instead of polling (issue 19): the WebSub subscriber (subscribe, verification of intent, signed content
// distribution, renewal, unsubscription, denial with backoff) and the per-feed publish hook. Polling stays the
// safety net: while a subscription is verified and active, polls slow to FEED_PUSH_POLL_INTERVAL_SECONDS.
// docs/push.md is the operator's side.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Db } from '../db/index.ts';
import { decodeFeedBytes } from '../feeds/charset.ts';
import { FeedError } from '../feeds/errors.ts';
import { requestHub, verifyHubSignature } from '../feeds/websub.ts';
import type { PushLinks } from '../feeds/websub-discovery.ts';
import { getFeed } from '../repositories/feeds.ts';
import {
  claimHookCall,
  findFeedHookByHash,
  findPushSubscriptionByCallback,
  getFeedHook,
  getPushSubscription,
  listPushSubscriptions,
  recordPushDelivery,
  saveFeedHook,
  savePushRequest,
  updatePushSubscription,
  type PushSubscription,
} from '../repositories/push.ts';
import { pollFeed, type PollResult } from './feed-poll.ts';
import { fetchOptions, type FeedContext } from './feed-source.ts';

/** The lease blogcord asks hubs for (hubs may grant another). */
export const REQUESTED_LEASE_SECONDS = 10 * 24 * 3600;
/** Longest wait between two subscription attempts of a failing or denying hub. */
export const MAX_RETRY_SECONDS = 24 * 3600;
/** First wait after a failed or denied subscription attempt; doubles with each further one. */
export const FIRST_RETRY_SECONDS = 60;
/** How long a hub has to verify a subscription request before blogcord asks again (with backoff). */
export const VERIFY_WITHIN_SECONDS = 600;
/** Least time between two accepted publish hook calls of one feed. */
export const HOOK_MIN_INTERVAL_SECONDS = 10;

const WEBSUB_PATH = '/websub';
const HOOK_PATH = '/hooks/feeds';

export const callbackUrl = (publicUrl: string, callbackId: string): string => `${publicUrl}${WEBSUB_PATH}/${callbackId}`;
export const hookUrl = (publicUrl: string, token: string): string => `${publicUrl}${HOOK_PATH}/${token}`;
const token = (bytes: number): string => randomBytes(bytes).toString('base64url');
const sha256 = (value: string): string => createHash('sha256').update(value).digest('hex');
const iso = (ms: number): string => new Date(ms).toISOString();

/** Why push is off for the whole installation, or null when it is on. */
export function pushOffReason(ctx: Pick<FeedContext, 'config'>): string | null {
  return ctx.config.publicUrl ? null : 'PUBLIC_URL is not set, so hubs cannot reach blogcord: the feed is polled';
}

/** The wait before attempt number `attempts + 1` after `attempts` failed or denied ones. */
export function retryDelaySeconds(attempts: number): number {
  return Math.min(FIRST_RETRY_SECONDS * 2 ** Math.max(0, attempts - 1), MAX_RETRY_SECONDS);
}

/** How often a subscription's maintenance job runs: an eighth of the lease (renewal at half of it), 10 s to 1 h. */
export function maintenanceEverySeconds(sub: Pick<PushSubscription, 'leaseSeconds'>): number {
  return Math.max(10, Math.min(3600, Math.floor((sub.leaseSeconds ?? REQUESTED_LEASE_SECONDS) / 8)));
}

/** Whether the subscription is verified and its lease runs at `at`. */
export function isPushActive(sub: PushSubscription | null, at = new Date()): boolean {
  return !!sub && sub.state === 'active' && !!sub.leaseExpiresAt && Date.parse(sub.leaseExpiresAt) > at.getTime();
}

/** The poll interval of a feed now: the safety net while its push subscription is active, else the normal one. */
export async function pollIntervalOf(ctx: Pick<FeedContext, 'db' | 'config'>, feedId: string, at = new Date()): Promise<number> {
  if (!ctx.config.publicUrl) return ctx.config.feedPollIntervalSeconds;
  return isPushActive(await getPushSubscription(ctx.db, feedId), at) ? ctx.config.feedPushPollIntervalSeconds : ctx.config.feedPollIntervalSeconds;
}

/** What the HTTP side of push (callbacks, hooks) needs: no Discord, so a `web` process can take it. */
export type PushEdgeContext = Pick<FeedContext, 'db' | 'log' | 'config'> & { jobs: PushEdgeJobs };
/** The queue work the HTTP side of push asks for. */
export type PushEdgeJobs = Pick<FeedContext['jobs'], 'enqueuePushDelivery' | 'requestPoll' | 'schedulePolls' | 'schedulePushMaintenance'>;

async function reschedulePolls(ctx: PushEdgeContext, feedId: string): Promise<void> {
  const feed = await getFeed(ctx.db, feedId);
  if (!feed || feed.state !== 'active') return;
  await ctx.jobs
    .schedulePolls(feed, await pollIntervalOf(ctx, feedId))
    .catch((err) => ctx.log.warn({ err, feedId }, 'could not change the poll interval (the next worker start does)'));
}

/**
 * Asks the hub for a subscription (or its renewal: same callback and secret) and records the request as pending
 * verification. A failure (the hub refuses, cannot be reached, or is a private address) is recorded with the next
 * attempt's time (backoff); nothing is thrown.
 */
async function subscribe(
  ctx: FeedContext,
  feedId: string,
  hubUrl: string,
  topicUrl: string,
  at: Date,
  renew: PushSubscription | null,
): Promise<PushSubscription> {
  const publicUrl = ctx.config.publicUrl!;
  const previous = await getPushSubscription(ctx.db, feedId);
  const attempts = (previous?.attempts ?? 0) + 1;
  const sub = await savePushRequest(ctx.db, {
    feedId,
    hubUrl,
    topicUrl,
    callbackId: renew?.callbackId ?? token(24),
    secret: renew?.secret ?? token(32),
    leaseSeconds: renew?.leaseSeconds ?? REQUESTED_LEASE_SECONDS,
    attempts,
  });
  if (!renew && sub.state !== 'pending') await updatePushSubscription(ctx.db, feedId, { state: 'pending', leaseExpiresAt: null, verifiedAt: null });
  const log = ctx.log.child({ feedId, hub: hubUrl });
  const waiting = { callbackId: sub.callbackId, pendingMode: 'subscribe' } as const;
  try {
    await requestHub(
      hubUrl,
      { mode: 'subscribe', topic: topicUrl, callback: callbackUrl(publicUrl, sub.callbackId), secret: sub.secret, leaseSeconds: REQUESTED_LEASE_SECONDS },
      fetchOptions(ctx.config),
    );
    // Until the hub verifies: asked again after VERIFY_WITHIN_SECONDS (with backoff) if it never does.
    // Only while this request waits: a hub that verified before answering (or meanwhile) leaves nothing to retry.
    await updatePushSubscription(
      ctx.db,
      feedId,
      { nextAttemptAt: iso(at.getTime() + Math.max(VERIFY_WITHIN_SECONDS, retryDelaySeconds(attempts)) * 1000) },
      waiting,
    );
    log.info({ renew: !!renew }, 'websub subscription requested');
  } catch (error) {
    const message = error instanceof FeedError ? error.message : error instanceof Error ? error.message : String(error);
    await updatePushSubscription(ctx.db, feedId, { lastError: message, nextAttemptAt: iso(at.getTime() + retryDelaySeconds(attempts) * 1000) }, waiting);
    log.warn({ error: message, attempts }, 'websub subscription request failed; retried with backoff');
  }
  await ctx.jobs
    .schedulePushMaintenance(feedId, maintenanceEverySeconds(sub))
    .catch((err) => ctx.log.warn({ err, feedId }, 'could not schedule the websub maintenance (the next worker start does)'));
  return (await getPushSubscription(ctx.db, feedId))!;
}

/** Asks the hub to end the subscription; the row stays (state unsubscribed) so late deliveries are refused. */
async function unsubscribe(ctx: FeedContext, sub: PushSubscription, why: string): Promise<void> {
  await updatePushSubscription(ctx.db, sub.feedId, {
    state: 'unsubscribed',
    pendingMode: 'unsubscribe',
    lastError: why,
    leaseExpiresAt: null,
    nextAttemptAt: null,
  });
  await ctx.jobs.unschedulePushMaintenance(sub.feedId).catch(() => {});
  if (!ctx.config.publicUrl) return;
  try {
    await requestHub(
      sub.hubUrl,
      { mode: 'unsubscribe', topic: sub.topicUrl, callback: callbackUrl(ctx.config.publicUrl, sub.callbackId) },
      fetchOptions(ctx.config),
    );
    ctx.log.info({ feedId: sub.feedId, hub: sub.hubUrl, why }, 'websub unsubscription requested');
  } catch (error) {
    // The lease runs out by itself, and deliveries to this callback are refused meanwhile.
    ctx.log.warn(
      { feedId: sub.feedId, hub: sub.hubUrl, error: error instanceof Error ? error.message : String(error) },
      'websub unsubscription request failed',
    );
  }
}

/**
 * After a feed was added or polled: what its hub links say. A feed with a hub (and PUBLIC_URL set) is subscribed
 * (the first hub; the self link is the topic, else the feed's URL); one whose hub or topic changed (a feed that
 * moved) is unsubscribed from the old one and subscribed to the new; one that no longer names a hub is unsubscribed.
 */
export async function syncPush(ctx: FeedContext, feedId: string, links: PushLinks, at = new Date()): Promise<PushSubscription | null> {
  if (!ctx.config.publicUrl) return null;
  const feed = await getFeed(ctx.db, feedId);
  if (!feed || feed.state !== 'active') return null;
  const current = await getPushSubscription(ctx.db, feedId);
  const hub = links.hubs[0];
  if (!hub) {
    if (current && current.state !== 'unsubscribed') {
      await unsubscribe(ctx, current, 'the feed no longer names a hub');
      await reschedulePolls(ctx, feedId);
    }
    return current ? getPushSubscription(ctx.db, feedId) : null;
  }
  const topic = links.self ?? feed.url;
  if (current && current.hubUrl === hub && current.topicUrl === topic && current.state !== 'unsubscribed') return current;
  if (current && current.state !== 'unsubscribed') await unsubscribe(ctx, current, 'the feed moved to another hub or topic');
  const sub = await subscribe(ctx, feedId, hub, topic, at, null);
  await reschedulePolls(ctx, feedId);
  return sub;
}

/** A feed removed: its subscription ended at the hub. */
export async function unsubscribeFeed(ctx: FeedContext, feedId: string): Promise<void> {
  const sub = await getPushSubscription(ctx.db, feedId);
  if (sub && sub.state !== 'unsubscribed') await unsubscribe(ctx, sub, 'the feed was removed');
}

/**
 * The maintenance tick of one subscription (its BullMQ job scheduler): renews an active one once half of its lease
 * has passed; an expired one lapses (polling back to normal at once) and is asked for again; a pending or denied one
 * is asked for again once its backoff has passed; a removed feed's one is ended.
 */
export async function maintainPush(ctx: FeedContext, feedId: string, at = new Date()): Promise<string> {
  const sub = await getPushSubscription(ctx.db, feedId);
  if (!sub || sub.state === 'unsubscribed') {
    await ctx.jobs.unschedulePushMaintenance(feedId).catch(() => {});
    return 'none';
  }
  const feed = await getFeed(ctx.db, feedId);
  if (!feed || feed.state !== 'active' || !ctx.config.publicUrl) {
    await unsubscribe(ctx, sub, !ctx.config.publicUrl ? 'PUBLIC_URL is no longer set' : 'the feed is not active');
    return 'unsubscribed';
  }
  const now = at.getTime();
  if (sub.state === 'active' && sub.leaseExpiresAt) {
    const expires = Date.parse(sub.leaseExpiresAt);
    const lease = (sub.leaseSeconds ?? REQUESTED_LEASE_SECONDS) * 1000;
    if (expires <= now) {
      await updatePushSubscription(ctx.db, feedId, { state: 'pending', lastError: 'the lease ran out before it was renewed', leaseExpiresAt: null });
      await reschedulePolls(ctx, feedId);
      ctx.log.warn({ feedId, hub: sub.hubUrl }, 'websub lease lapsed: polling at the normal interval until the hub verifies again');
      await subscribe(ctx, feedId, sub.hubUrl, sub.topicUrl, at, null);
      return 'lapsed';
    }
    if (expires - now <= lease / 2 && (sub.pendingMode !== 'subscribe' || !sub.nextAttemptAt || Date.parse(sub.nextAttemptAt) <= now)) {
      await subscribe(ctx, feedId, sub.hubUrl, sub.topicUrl, at, sub);
      return 'renewed';
    }
    return 'active';
  }
  if (sub.nextAttemptAt && Date.parse(sub.nextAttemptAt) <= now) {
    await subscribe(ctx, feedId, sub.hubUrl, sub.topicUrl, at, null);
    return 'retried';
  }
  return sub.state;
}

export type CallbackAnswer = { status: 200; body: string } | { status: 404 | 410; body: string } | { status: 202; body: '' };

/**
 * The hub's GET at a callback URL (W3C WebSub §5.3): a verification of intent is answered with the challenge only
 * when it is for the request this callback awaits (same mode and topic) and grants a lease of at least 1 s, else 404;
 * a denial (hub.mode=denied) of
 * the subscription is recorded and polling goes on as normal, the subscription asked for again with backoff.
 */
export async function answerHubCallback(
  ctx: PushEdgeContext,
  callbackId: string,
  query: Record<string, string | undefined>,
  at = new Date(),
): Promise<CallbackAnswer> {
  const notFound = { status: 404, body: 'unknown subscription' } as const;
  const sub = await findPushSubscriptionByCallback(ctx.db, callbackId);
  if (!sub) return notFound;
  const mode = query['hub.mode'];
  const topic = query['hub.topic'];
  if (topic !== sub.topicUrl) return notFound;
  const log = ctx.log.child({ feedId: sub.feedId, hub: sub.hubUrl });
  if (mode === 'denied') {
    if (sub.state === 'unsubscribed') return notFound;
    const reason = (query['hub.reason'] ?? 'no reason given').slice(0, 300).replace(/[\u0000-\u001f]+/g, ' ');
    const attempts = sub.attempts || 1;
    await updatePushSubscription(
      ctx.db,
      sub.feedId,
      {
        state: 'denied',
        pendingMode: null,
        leaseExpiresAt: null,
        lastError: `the hub denied the subscription: ${reason}`,
        nextAttemptAt: iso(at.getTime() + retryDelaySeconds(attempts) * 1000),
      },
      { callbackId },
    );
    await reschedulePolls(ctx, sub.feedId);
    log.warn({ reason }, 'websub subscription denied by the hub; polling as normal, asked again with backoff');
    return { status: 200, body: '' };
  }
  const challenge = query['hub.challenge'];
  if ((mode !== 'subscribe' && mode !== 'unsubscribe') || mode !== sub.pendingMode || !challenge) return notFound;
  if (mode === 'unsubscribe') {
    await updatePushSubscription(ctx.db, sub.feedId, { pendingMode: null }, { callbackId, pendingMode: 'unsubscribe' });
    log.info('websub unsubscription verified');
    return { status: 200, body: challenge };
  }
  // A hub that names no lease leaves the one asked for; one that grants 0 s (or no number) grants nothing usable:
  // not confirmed, so polling stays normal and the request is made again after VERIFY_WITHIN_SECONDS (with backoff).
  const offered = query['hub.lease_seconds'];
  const granted = offered === undefined ? null : Number(offered);
  if (granted !== null && !(Number.isSafeInteger(granted) && granted > 0)) {
    const shown = String(offered)
      .slice(0, 20)
      .replace(/[\u0000-\u001f]+/g, ' ');
    await updatePushSubscription(
      ctx.db,
      sub.feedId,
      { lastError: `the hub granted no usable lease (hub.lease_seconds=${shown}); asked again later` },
      { callbackId, pendingMode: 'subscribe' },
    );
    log.warn({ leaseSeconds: shown }, 'websub verification refused: the hub granted no usable lease');
    return notFound;
  }
  const lease = granted ?? sub.leaseSeconds ?? REQUESTED_LEASE_SECONDS;
  const ok = await updatePushSubscription(
    ctx.db,
    sub.feedId,
    {
      state: 'active',
      pendingMode: null,
      leaseSeconds: lease,
      leaseExpiresAt: iso(at.getTime() + lease * 1000),
      verifiedAt: at.toISOString(),
      lastError: null,
      attempts: 0,
      nextAttemptAt: null,
    },
    { callbackId, pendingMode: 'subscribe' },
  );
  if (!ok) return notFound;
  await reschedulePolls(ctx, sub.feedId);
  await ctx.jobs.schedulePushMaintenance(sub.feedId, maintenanceEverySeconds({ leaseSeconds: lease })).catch(() => {});
  log.info({ leaseSeconds: lease }, 'websub subscription verified: polling slows to the safety-net interval');
  return { status: 200, body: challenge };
}

/**
 * A content distribution (hub POST at a callback URL): an unknown callback is 404, an ended subscription 410 (the
 * hub drops it). A delivery without a valid X-Hub-Signature of the subscription's secret is acknowledged (202,
 * as the recommendation asks) and dropped with a warning (never its body); a valid one is queued for the workers.
 */
export async function acceptDelivery(
  ctx: Pick<PushEdgeContext, 'db' | 'log' | 'jobs'>,
  callbackId: string,
  signature: string | undefined,
  body: Buffer,
  contentType: string | null,
): Promise<CallbackAnswer> {
  const sub = await findPushSubscriptionByCallback(ctx.db, callbackId);
  if (!sub) return { status: 404, body: 'unknown subscription' };
  if (sub.state === 'unsubscribed') return { status: 410, body: 'unsubscribed' };
  if (!verifyHubSignature(signature, sub.secret, body)) {
    ctx.log.warn(
      { feedId: sub.feedId, hub: sub.hubUrl, bytes: body.length, signature: signature ? 'wrong' : 'missing' },
      'websub delivery dropped: its X-Hub-Signature does not match the subscription secret',
    );
    return { status: 202, body: '' };
  }
  await ctx.jobs.enqueuePushDelivery(sub.feedId, decodeFeedBytes(body, contentType));
  return { status: 202, body: '' };
}

/** A queued content distribution processed exactly like a poll result of its feed. */
export async function processPushDelivery(ctx: FeedContext, feedId: string, body: string, at = new Date()): Promise<PollResult> {
  const result = await pollFeed(ctx, feedId, { delivered: { body } });
  if (result.status === 'ok') await recordPushDelivery(ctx.db, feedId, at.toISOString());
  return result;
}

/**
 * Gives the feed its publish hook token unless it has one (`/feed add`, inside the transaction that saves the feed;
 * feeds saved before that got theirs from migration 013). Returns the token in force.
 */
export async function ensureHookToken(ctx: { db: Db }, feedId: string): Promise<string> {
  const t = token(24);
  return (await saveFeedHook(ctx.db, feedId, t, sha256(t), false)).token;
}

/** A new publish hook token for the feed (`/feed edit rotate-hook:true`); the old one answers 404 from now on. */
export async function rotateHookToken(ctx: Pick<FeedContext, 'db' | 'config'>, feedId: string): Promise<{ token: string; url: string | null }> {
  const t = token(24);
  await saveFeedHook(ctx.db, feedId, t, sha256(t), true);
  return { token: t, url: ctx.config.publicUrl ? hookUrl(ctx.config.publicUrl, t) : null };
}

export type HookAnswer = { status: 'accepted' } | { status: 'not-found' } | { status: 'rate-limited'; retryAfterSeconds: number };

/**
 * `POST /hooks/feeds/:token`: the feed of the token (looked up by its SHA-256, then compared in constant time) is
 * polled now through the queue; HOOK_MIN_INTERVAL_SECONDS between accepted calls of one feed.
 */
export async function callHook(ctx: PushEdgeContext, given: string, at = new Date()): Promise<HookAnswer> {
  const hook = await findFeedHookByHash(ctx.db, sha256(given));
  if (!hook) return { status: 'not-found' };
  const a = Buffer.from(hook.token);
  const b = Buffer.from(given);
  if (a.length !== b.length || !timingSafeEqual(a, b)) return { status: 'not-found' };
  const feed = await getFeed(ctx.db, hook.feedId);
  if (!feed || feed.state !== 'active') return { status: 'not-found' };
  const notBefore = iso(at.getTime() - HOOK_MIN_INTERVAL_SECONDS * 1000);
  if (!(await claimHookCall(ctx.db, hook.feedId, at.toISOString(), notBefore))) {
    const last = hook.lastCalledAt ? Date.parse(hook.lastCalledAt) : at.getTime();
    return { status: 'rate-limited', retryAfterSeconds: Math.max(1, Math.ceil((last + HOOK_MIN_INTERVAL_SECONDS * 1000 - at.getTime()) / 1000)) };
  }
  await ctx.jobs.requestPoll(hook.feedId);
  ctx.log.info({ feedId: hook.feedId }, 'publish hook called: polling the feed now');
  return { status: 'accepted' };
}

export interface PushStatus {
  /** Why push is off for this feed (no PUBLIC_URL, no hub), or null. */
  off: string | null;
  hubUrl: string | null;
  topicUrl: string | null;
  state: 'off' | 'pending' | 'active' | 'denied' | 'unsubscribed';
  /** Active: until when the lease runs. */
  activeUntil: string | null;
  /** Denied: the hub's reason; pending: the last error, if any. */
  reason: string | null;
  nextAttemptAt: string | null;
  lastDeliveryAt: string | null;
  lastHookCallAt: string | null;
  /** The publish hook URL (null without PUBLIC_URL, or without a token; the token is then still shown). */
  hookUrl: string | null;
  /** The feed's publish hook token; null for a feed that has none (one saved without `/feed add`). */
  hookToken: string | null;
  /** The poll interval now, in seconds. */
  pollIntervalSeconds: number;
}

/** What `/feed status` shows of push for one feed (it only reads). */
export async function pushStatus(ctx: Pick<FeedContext, 'db' | 'config'>, feedId: string, at = new Date()): Promise<PushStatus> {
  const sub = await getPushSubscription(ctx.db, feedId);
  const hook = await getFeedHook(ctx.db, feedId);
  const hookToken = hook?.token ?? null;
  const offReason = pushOffReason(ctx);
  const active = isPushActive(sub, at);
  const state: PushStatus['state'] = offReason || !sub ? 'off' : active ? 'active' : sub.state === 'active' ? 'pending' : sub.state;
  return {
    off: offReason ?? (sub ? (sub.state === 'unsubscribed' ? (sub.lastError ?? 'unsubscribed') : null) : 'the feed names no WebSub hub: it is polled'),
    hubUrl: sub?.hubUrl ?? null,
    topicUrl: sub?.topicUrl ?? null,
    state,
    activeUntil: active ? sub!.leaseExpiresAt : null,
    reason: sub?.lastError ?? null,
    nextAttemptAt: sub && !active ? sub.nextAttemptAt : null,
    lastDeliveryAt: sub?.lastDeliveryAt ?? null,
    lastHookCallAt: hook?.lastCalledAt ?? null,
    hookUrl: ctx.config.publicUrl && hookToken ? hookUrl(ctx.config.publicUrl, hookToken) : null,
    hookToken,
    pollIntervalSeconds: await pollIntervalOf(ctx, feedId, at),
  };
}

/** Every subscription that still needs its maintenance scheduler (worker start). */
export async function subscriptionsToMaintain(ctx: Pick<FeedContext, 'db'>): Promise<Array<{ feedId: string; everySeconds: number }>> {
  return (await listPushSubscriptions(ctx.db))
    .filter((s) => s.state !== 'unsubscribed')
    .map((s) => ({ feedId: s.feedId, everySeconds: maintenanceEverySeconds(s) }));
}
