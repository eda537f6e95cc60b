import type { Generated, Selectable } from 'kysely';

// Snowflakes are text; timestamps are ISO-8601 text (UTC, `toISOString()`), so they sort and
// compare the same on SQLite and PostgreSQL; booleans are integers 0/1 for the same reason.

export interface GuildSettingsTable {
  guild_id: string;
  publish_channel_id: string | null;
  digest_channel_id: string | null;
  /** ISO weekday: 1 = Monday … 7 = Sunday. */
  digest_day: number;
  digest_hour: number;
  digest_timezone: string;
  digest_enabled: number;
  /** What an empty week does: 'skip' (record it, post nothing) or 'post'. */
  digest_empty: string;
  created_at: string;
  updated_at: string;
}

export interface FeedsTable {
  id: string;
  guild_id: string;
  url: string;
  channel_id: string;
  title: string | null;
  etag: string | null;
  last_modified: string | null;
  /** 'active' | 'paused' */
  state: string;
  consecutive_failures: number;
  last_error: string | null;
  last_polled_at: string | null;
  last_success_at: string | null;
  /** 1 when the server put this feed's discussion and ratings on the web (`/web enable`; migration 007), else 0. */
  web_enabled: Generated<number>;
  /** Migration 009: the role pinged by new announcements (null: none). */
  ping_role_id: string | null;
  /** Migration 009: the announcement's content line with {placeholders} (null: the default, no content line). */
  template: string | null;
  /** Migration 009: comma-separated filter terms (null: none). */
  include_filter: string | null;
  exclude_filter: string | null;
  /** Migration 009: 1 when a forum post gets the forum tags matching its categories. */
  forum_tags: Generated<number>;
  /** The last poll (migration 010): 'ok' | 'not-modified' | 'failed', its HTTP status, duration and items seen. */
  last_poll_outcome: string | null;
  last_poll_status: number | null;
  last_poll_ms: number | null;
  last_poll_items: number | null;
  /** 1: post through a channel webhook named after the blog (migration 010). */
  identity: Generated<number>;
  /** The webhook in use for the feed's identity (its token is in `webhooks`). */
  webhook_id: string | null;
  /** Why the feed posts with the bot's identity although `identity` is on (Manage Webhooks missing…). */
  identity_note: string | null;
  created_at: string;
  updated_at: string;
}

export interface PostsTable {
  id: string;
  feed_id: string;
  guild_id: string;
  /**
   * Identity within the feed: guid, else link, else a hash of title and date. When a blog changes its guids,
   * an item matched to the post by canonical_link moves it to the new guid (the post id stays).
   */
  guid: string;
  url: string | null;
  /** canonicalLink(url) (src/feeds/canonical-link.ts), kept by every write: what lookups by URL and link matching compare. */
  canonical_link: string | null;
  title: string;
  author: string | null;
  published_at: string | null;
  /** The summary as HTML (links kept for rendering). */
  summary: string | null;
  /** Title and summary as plain text, for search. */
  search_text: string;
  image_url: string | null;
  content_hash: string;
  /** The channel holding the announcement message: the text channel, or the thread itself for a forum post. */
  channel_id: string | null;
  message_id: string | null;
  thread_id: string | null;
  /**
   * 'known' (seen, never to be published) | 'skipped' (new, but a filter of the feed kept it out: skip_reason) |
   * 'pending' | 'announced' | 'threaded' | 'published' | 'failed'
   */
  publish_state: string;
  /** Migration 009: why a 'skipped' post was not published, e.g. 'exclude: title:release'. */
  skip_reason: Generated<string | null>;
  /** Migration 009: the item's categories, a JSON array of strings. */
  categories: Generated<string>;
  failure_reason: string | null;
  publish_attempts: number;
  /** When the announcement or thread was deleted in Discord (migration 007): the web shows "discussion closed". */
  discussion_closed_at: string | null;
  /** Why a post is known without being announced (migration 010): 'flood' | 'added' | 'removed'; and since when. */
  known_reason: string | null;
  known_at: string | null;
  /** When its announcement was created (migration 010). */
  announced_at: string | null;
  /** The webhook that posted its announcement (per-feed identity): edits go through it. */
  webhook_id: string | null;
  /** Set just before the webhook is executed: a retry looks for that message before creating one. */
  webhook_intent_at: string | null;
  discovered_at: string;
  updated_at: string;
}

export interface CommentsTable {
  /** The Discord message id. */
  id: string;
  post_id: string;
  /** The post's server, copied on every write (migration 004; the digest scans a server's week by it). */
  guild_id: string | null;
  thread_id: string;
  /** '' once deleted (author id and name, content and attachments are erased with the message; migration 007). */
  author_id: string;
  author_name: string;
  content: string;
  reply_to_id: string | null;
  /** JSON array of { url, name, contentType }. */
  attachments: string;
  created_at: string;
  edited_at: string | null;
  deleted_at: string | null;
  /** Migration 017: the author's avatar hash, 'g:<hash>' (server avatar) or 'u:<hash>' (user avatar); null: default/unknown. */
  author_avatar: Generated<string | null>;
}

export interface RatingsTable {
  post_id: string;
  /** The post's server, copied on every write (migration 004). */
  guild_id: string | null;
  user_id: string;
  stars: number;
  updated_at: string;
}

export interface DigestsTable {
  guild_id: string;
  /** e.g. 2026-W48: unique per guild, so a period is claimed once. */
  period_key: string;
  period_start: string;
  period_end: string;
  channel_id: string | null;
  message_id: string | null;
  nonce: string;
  /** 'claimed' | 'posted' | 'skipped' | 'failed' */
  state: string;
  error: string | null;
  posted_at: string | null;
  created_at: string;
  updated_at: string;
}

export interface SyncCursorsTable {
  thread_id: string;
  post_id: string;
  last_message_id: string | null;
  updated_at: string;
}

/** How a member appears on the web in one server (migration 008); no row = 'named'. */
export interface MemberPrivacyTable {
  guild_id: string;
  user_id: string;
  /** 'named' | 'anonymous' | 'hidden' */
  show: string;
  updated_at: string;
}

/** A member who ran `/privacy forget` in a server, as a keyed hash of guild and user id, never the id (migration 008). */
export interface ForgottenMembersTable {
  guild_id: string;
  /** HMAC-SHA256(privacy_secrets 'member-hash', `${guild_id}:${user_id}`), hex. */
  user_hash: string;
  forgotten_at: string;
}

/** Generated secrets (migration 008): 'member-hash' keys the forgotten members' hashes and anonymous pseudonyms. */
export interface PrivacySecretsTable {
  name: string;
  secret: string;
  created_at: string;
}

/** A server's live comments and ratings (by stars) in one quarter hour of UTC (migration 012, kept by triggers). */
export interface DigestBucketsTable {
  guild_id: string;
  /** 'YYYY-MM-DDTHH:MM', minutes 00/15/30/45 (UTC). */
  bucket: string;
  replies: number;
  ratings: number;
  s1: number;
  s2: number;
  s3: number;
  s4: number;
  s5: number;
}

/** A post's live comments, ratings and their stars' sum on one UTC day (migration 012, kept by triggers). */
export interface DigestPostDaysTable {
  post_id: string;
  /** 'YYYY-MM-DD' (UTC). */
  day: string;
  guild_id: string;
  replies: number;
  ratings: number;
  star_sum: number;
}

/** When a person first commented (live) or rated in a server (migration 012, kept by triggers). */
export interface DigestFirstActivityTable {
  guild_id: string;
  user_id: string;
  first_at: string | null;
}

/** What the web shows of a post, versioned (migration 017, kept by triggers): any change bumps it. */
export interface WebPostVersionsTable {
  post_id: string;
  /** bigint: a string on PostgreSQL. */
  version: number | string;
}

/** What the web shows of a whole server (privacy choices, forget, web consent), versioned (migration 017). */
export interface WebGuildVersionsTable {
  guild_id: string;
  version: number | string;
}

/** How many live comments and ratings a person has in a server on one UTC day (migration 015, kept by triggers). */
export interface DigestPersonDaysTable {
  guild_id: string;
  /** 'YYYY-MM-DD' (UTC). */
  day: string;
  user_id: string;
  n: number;
}

/** A post's live comments, ratings and their stars' sum of all time (migration 015, kept by triggers). */
export interface DigestPostTotalsTable {
  guild_id: string;
  post_id: string;
  replies: number;
  ratings: number;
  star_sum: number;
}

/** Channel webhooks blogcord created for per-feed identity (migration 010). The token is a secret. */
export interface WebhooksTable {
  id: string;
  guild_id: string;
  channel_id: string;
  token: string;
  created_at: string;
}

/** A feed's WebSub subscription (migration 011). */
export interface PushSubscriptionsTable {
  feed_id: string;
  hub_url: string;
  topic_url: string;
  callback_id: string;
  secret: string;
  /** 'pending' | 'active' | 'denied' | 'unsubscribed' */
  state: string;
  /** The request the hub has yet to verify: 'subscribe' | 'unsubscribe' | null. */
  pending_mode: string | null;
  lease_seconds: number | null;
  lease_expires_at: string | null;
  verified_at: string | null;
  last_error: string | null;
  attempts: Generated<number>;
  next_attempt_at: string | null;
  last_delivery_at: string | null;
  created_at: string;
  updated_at: string;
}

/** A feed's publish hook (migration 011). */
export interface FeedHooksTable {
  feed_id: string;
  token: string;
  /** sha256(token), hex: what a hook call is looked up by. */
  token_hash: string;
  last_called_at: string | null;
  created_at: string;
}

export interface Database {
  push_subscriptions: PushSubscriptionsTable;
  feed_hooks: FeedHooksTable;
  guild_settings: GuildSettingsTable;
  feeds: FeedsTable;
  posts: PostsTable;
  comments: CommentsTable;
  ratings: RatingsTable;
  digests: DigestsTable;
  sync_cursors: SyncCursorsTable;
  member_privacy: MemberPrivacyTable;
  forgotten_members: ForgottenMembersTable;
  privacy_secrets: PrivacySecretsTable;
  digest_buckets: DigestBucketsTable;
  digest_post_days: DigestPostDaysTable;
  digest_first_activity: DigestFirstActivityTable;
  digest_person_days: DigestPersonDaysTable;
  digest_post_totals: DigestPostTotalsTable;
  webhooks: WebhooksTable;
  web_post_versions: WebPostVersionsTable;
  web_guild_versions: WebGuildVersionsTable;
}

export type FeedRow = Selectable<FeedsTable>;
export type PostRow = Selectable<PostsTable>;
export type CommentRow = Selectable<CommentsTable>;
export type DigestRow = Selectable<DigestsTable>;
// Generated<> is not used: every key is chosen by the application (snowflakes, deterministic ids).
export type { Generated };
