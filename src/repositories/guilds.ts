import type { Db } from '../db/index.ts';
import { now } from './ids.ts';

export interface GuildSettings {
  guildId: string;
  publishChannelId: string | null;
  digestChannelId: string | null;
  /** ISO weekday, 1 = Monday. */
  digestDay: number;
  digestHour: number;
  digestTimezone: string;
  digestEnabled: boolean;
  digestEmpty: 'skip' | 'post';
}

export const DEFAULT_GUILD_SETTINGS: Omit<GuildSettings, 'guildId'> = Object.freeze({
  publishChannelId: null,
  digestChannelId: null,
  digestDay: 1,
  digestHour: 9,
  digestTimezone: 'UTC',
  digestEnabled: true,
  digestEmpty: 'skip',
});

/** The stored settings, or the defaults for a server that never changed them. */
export async function getGuildSettings(db: Db, guildId: string): Promise<GuildSettings> {
  const row = await db.kysely.selectFrom('guild_settings').selectAll().where('guild_id', '=', guildId).executeTakeFirst();
  if (!row) return { guildId, ...DEFAULT_GUILD_SETTINGS };
  return {
    guildId,
    publishChannelId: row.publish_channel_id,
    digestChannelId: row.digest_channel_id,
    digestDay: row.digest_day,
    digestHour: row.digest_hour,
    digestTimezone: row.digest_timezone,
    digestEnabled: row.digest_enabled === 1,
    digestEmpty: row.digest_empty === 'post' ? 'post' : 'skip',
  };
}

export async function upsertGuildSettings(db: Db, guildId: string, patch: Partial<Omit<GuildSettings, 'guildId'>>): Promise<GuildSettings> {
  const merged = { ...(await getGuildSettings(db, guildId)), ...patch };
  const at = now();
  const values = {
    publish_channel_id: merged.publishChannelId,
    digest_channel_id: merged.digestChannelId,
    digest_day: merged.digestDay,
    digest_hour: merged.digestHour,
    digest_timezone: merged.digestTimezone,
    digest_enabled: merged.digestEnabled ? 1 : 0,
    digest_empty: merged.digestEmpty,
    updated_at: at,
  };
  await db.kysely
    .insertInto('guild_settings')
    .values({ guild_id: guildId, created_at: at, ...values })
    .onConflict((oc) => oc.column('guild_id').doUpdateSet(values))
    .execute();
  return merged;
}

/** Every server that has a feed or stored settings: the candidates for a digest schedule. */
export async function listKnownGuildIds(db: Db): Promise<string[]> {
  const rows = await db.kysely.selectFrom('feeds').select('guild_id').union(db.kysely.selectFrom('guild_settings').select('guild_id')).execute();
  return rows.map((r) => r.guild_id).sort();
}
