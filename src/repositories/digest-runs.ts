import type { Db } from '../db/index.ts';
import type { DigestRow } from '../db/schema.ts';
import { now } from './ids.ts';

export type DigestState = 'claimed' | 'posted' | 'skipped' | 'failed';

export interface Digest {
  guildId: string;
  periodKey: string;
  periodStart: string;
  periodEnd: string;
  channelId: string | null;
  messageId: string | null;
  nonce: string;
  state: DigestState;
  error: string | null;
  postedAt: string | null;
  createdAt: string;
}

function toDigest(r: DigestRow): Digest {
  return {
    guildId: r.guild_id,
    periodKey: r.period_key,
    periodStart: r.period_start,
    periodEnd: r.period_end,
    channelId: r.channel_id,
    messageId: r.message_id,
    nonce: r.nonce,
    state: r.state as DigestState,
    error: r.error,
    postedAt: r.posted_at,
    createdAt: r.created_at,
  };
}

/**
 * Claims (guild, period) before anything is posted. Exactly one caller gets `claimed: true`;
 * everyone else gets the existing row (and its nonce, so a crashed poster's message can be found again).
 */
export async function claimDigest(
  db: Db,
  input: { guildId: string; periodKey: string; periodStart: string; periodEnd: string; channelId: string | null; nonce: string },
): Promise<{ digest: Digest; claimed: boolean }> {
  const at = now();
  const res = await db.kysely
    .insertInto('digests')
    .values({
      guild_id: input.guildId,
      period_key: input.periodKey,
      period_start: input.periodStart,
      period_end: input.periodEnd,
      channel_id: input.channelId,
      nonce: input.nonce,
      state: 'claimed',
      created_at: at,
      updated_at: at,
    })
    .onConflict((oc) => oc.columns(['guild_id', 'period_key']).doNothing())
    .executeTakeFirst();
  const digest = (await getDigest(db, input.guildId, input.periodKey))!;
  return { digest, claimed: Number(res.numInsertedOrUpdatedRows ?? 0) > 0 };
}

export async function getDigest(db: Db, guildId: string, periodKey: string): Promise<Digest | null> {
  const r = await db.kysely.selectFrom('digests').selectAll().where('guild_id', '=', guildId).where('period_key', '=', periodKey).executeTakeFirst();
  return r ? toDigest(r) : null;
}

export async function updateDigest(
  db: Db,
  guildId: string,
  periodKey: string,
  patch: { state: DigestState; channelId?: string | null; messageId?: string | null; error?: string | null; postedAt?: string | null },
): Promise<void> {
  await db.kysely
    .updateTable('digests')
    .set({
      state: patch.state,
      updated_at: now(),
      ...(patch.channelId !== undefined ? { channel_id: patch.channelId } : {}),
      ...(patch.messageId !== undefined ? { message_id: patch.messageId } : {}),
      ...(patch.error !== undefined ? { error: patch.error } : {}),
      ...(patch.postedAt !== undefined ? { posted_at: patch.postedAt } : {}),
    })
    .where('guild_id', '=', guildId)
    .where('period_key', '=', periodKey)
    .execute();
}

export async function listDigests(db: Db, opts: { guildId?: string; states?: DigestState[] } = {}): Promise<Digest[]> {
  let q = db.kysely.selectFrom('digests').selectAll();
  if (opts.guildId) q = q.where('guild_id', '=', opts.guildId);
  if (opts.states?.length) q = q.where('state', 'in', opts.states);
  return (await q.orderBy('guild_id').orderBy('period_key').execute()).map(toDigest);
}
