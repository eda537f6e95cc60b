// WebSub subscriptions and publish hooks of feeds (migration 011).
import type { Db } from '../db/index.ts';
import type { Selectable } from 'kysely';
import type { PushSubscriptionsTable } from '../db/schema.ts';
import { now } from './ids.ts';

export type PushState = 'pending' | 'active' | 'denied' | 'unsubscribed';
export type PushMode = 'subscribe' | 'unsubscribe';

export interface PushSubscription {
  feedId: string;
  hubUrl: string;
  topicUrl: string;
  callbackId: string;
  secret: string;
  state: PushState;
  /** The request the hub has yet to verify. */
  pendingMode: PushMode | null;
  leaseSeconds: number | null;
  leaseExpiresAt: string | null;
  verifiedAt: string | null;
  lastError: string | null;
  attempts: number;
  nextAttemptAt: string | null;
  lastDeliveryAt: string | null;
  updatedAt: string;
}

function toSubscription(r: Selectable<PushSubscriptionsTable>): PushSubscription {
  return {
    feedId: r.feed_id,
    hubUrl: r.hub_url,
    topicUrl: r.topic_url,
    callbackId: r.callback_id,
    secret: r.secret,
    state: r.state as PushState,
    pendingMode: (r.pending_mode as PushMode | null) ?? null,
    leaseSeconds: r.lease_seconds === null ? null : Number(r.lease_seconds),
    leaseExpiresAt: r.lease_expires_at,
    verifiedAt: r.verified_at,
    lastError: r.last_error,
    attempts: Number(r.attempts),
    nextAttemptAt: r.next_attempt_at,
    lastDeliveryAt: r.last_delivery_at,
    updatedAt: r.updated_at,
  };
}

export async function getPushSubscription(db: Db, feedId: string): Promise<PushSubscription | null> {
  const row = await db.kysely.selectFrom('push_subscriptions').selectAll().where('feed_id', '=', feedId).executeTakeFirst();
  return row ? toSubscription(row) : null;
}

export async function findPushSubscriptionByCallback(db: Db, callbackId: string): Promise<PushSubscription | null> {
  const row = await db.kysely.selectFrom('push_subscriptions').selectAll().where('callback_id', '=', callbackId).executeTakeFirst();
  return row ? toSubscription(row) : null;
}

export async function listPushSubscriptions(db: Db): Promise<PushSubscription[]> {
  const rows = await db.kysely.selectFrom('push_subscriptions').selectAll().orderBy('feed_id').execute();
  return rows.map(toSubscription);
}

/**
 * A new subscription request of a feed (replacing any earlier one: another hub or topic gets a new callback id and
 * secret): pending until the hub verifies it.
 */
export async function savePushRequest(
  db: Db,
  s: { feedId: string; hubUrl: string; topicUrl: string; callbackId: string; secret: string; leaseSeconds: number; attempts: number },
): Promise<PushSubscription> {
  const at = now();
  const values = {
    hub_url: s.hubUrl,
    topic_url: s.topicUrl,
    callback_id: s.callbackId,
    secret: s.secret,
    pending_mode: 'subscribe',
    lease_seconds: s.leaseSeconds,
    attempts: s.attempts,
    next_attempt_at: null,
    updated_at: at,
  };
  await db.kysely
    .insertInto('push_subscriptions')
    .values({ feed_id: s.feedId, state: 'pending', created_at: at, ...values })
    .onConflict((oc) => oc.column('feed_id').doUpdateSet(values))
    .execute();
  return (await getPushSubscription(db, s.feedId))!;
}

/** Changes of a subscription's state; only the given fields are written. */
export async function updatePushSubscription(
  db: Db,
  feedId: string,
  patch: Partial<
    Pick<PushSubscription, 'state' | 'pendingMode' | 'leaseSeconds' | 'leaseExpiresAt' | 'verifiedAt' | 'lastError' | 'attempts' | 'nextAttemptAt'>
  >,
  where: { callbackId?: string; pendingMode?: PushMode } = {},
): Promise<boolean> {
  const set: Record<string, unknown> = { updated_at: now() };
  if (patch.state !== undefined) set.state = patch.state;
  if (patch.pendingMode !== undefined) set.pending_mode = patch.pendingMode;
  if (patch.leaseSeconds !== undefined) set.lease_seconds = patch.leaseSeconds;
  if (patch.leaseExpiresAt !== undefined) set.lease_expires_at = patch.leaseExpiresAt;
  if (patch.verifiedAt !== undefined) set.verified_at = patch.verifiedAt;
  if (patch.lastError !== undefined) set.last_error = patch.lastError;
  if (patch.attempts !== undefined) set.attempts = patch.attempts;
  if (patch.nextAttemptAt !== undefined) set.next_attempt_at = patch.nextAttemptAt;
  let q = db.kysely.updateTable('push_subscriptions').set(set).where('feed_id', '=', feedId);
  if (where.callbackId !== undefined) q = q.where('callback_id', '=', where.callbackId);
  if (where.pendingMode !== undefined) q = q.where('pending_mode', '=', where.pendingMode);
  const res = await q.executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}

export async function recordPushDelivery(db: Db, feedId: string, at: string): Promise<void> {
  await db.kysely.updateTable('push_subscriptions').set({ last_delivery_at: at }).where('feed_id', '=', feedId).execute();
}

export interface FeedHook {
  feedId: string;
  token: string;
  tokenHash: string;
  lastCalledAt: string | null;
}

export async function getFeedHook(db: Db, feedId: string): Promise<FeedHook | null> {
  const r = await db.kysely.selectFrom('feed_hooks').selectAll().where('feed_id', '=', feedId).executeTakeFirst();
  return r ? { feedId: r.feed_id, token: r.token, tokenHash: r.token_hash, lastCalledAt: r.last_called_at } : null;
}

export async function findFeedHookByHash(db: Db, tokenHash: string): Promise<FeedHook | null> {
  const r = await db.kysely.selectFrom('feed_hooks').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst();
  return r ? { feedId: r.feed_id, token: r.token, tokenHash: r.token_hash, lastCalledAt: r.last_called_at } : null;
}

/** Sets the feed's hook token: `replace` rotates an existing one, else an existing token is kept. */
export async function saveFeedHook(db: Db, feedId: string, token: string, tokenHash: string, replace: boolean): Promise<FeedHook> {
  await db.kysely
    .insertInto('feed_hooks')
    .values({ feed_id: feedId, token, token_hash: tokenHash, created_at: now(), last_called_at: null })
    .onConflict((oc) => (replace ? oc.column('feed_id').doUpdateSet({ token, token_hash: tokenHash, created_at: now() }) : oc.column('feed_id').doNothing()))
    .execute();
  return (await getFeedHook(db, feedId))!;
}

/** Records a hook call unless one was accepted after `notBefore` (the per-feed rate limit): true when accepted. */
export async function claimHookCall(db: Db, feedId: string, at: string, notBefore: string): Promise<boolean> {
  const res = await db.kysely
    .updateTable('feed_hooks')
    .set({ last_called_at: at })
    .where('feed_id', '=', feedId)
    .where((eb) => eb.or([eb('last_called_at', 'is', null), eb('last_called_at', '<=', notBefore)]))
    .executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}
