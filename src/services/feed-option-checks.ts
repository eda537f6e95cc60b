// Checking a feed's options when an operator sets them (`/feed add`, `/feed edit`): the ping role, the template,
// the filters, the channel. Every problem is a UserError that says what to change; nothing is saved then.
import { ChannelType, type APIChannel } from 'discord-api-types/v10';
import { FilterError, normaliseFilter } from '../feeds/filter.ts';
import { UserError } from '../errors.ts';
import { cutText } from '../render/post.ts';
import { fitsContent, renderTemplate, TemplateError, type TemplateItem } from '../render/template.ts';
import type { Feed, FeedOptions } from '../repositories/feeds.ts';

/** A role as the command sees it, for the ping checks. */
export interface PingRole {
  id: string;
  name: string;
  mentionable: boolean;
}

/** The options as given to `/feed add` or `/feed edit`: absent = unchanged; `clearPing` removes the ping. */
export interface FeedOptionsInput {
  ping?: PingRole;
  clearPing?: boolean;
  /** Whether the bot has Mention Everyone (which lets it mention roles that are not mentionable) where the feed posts. */
  canMentionEveryone?: boolean;
  /**
   * How to learn `canMentionEveryone` for a channel: `/feed add` and `/feed edit` ask it for the feed's target channel
   * (where its posts go and where Discord checks the permission), never the channel the command ran in.
   */
  mentionEveryoneIn?: (channelId: string) => Promise<boolean>;
  /** The server's role by id (null when gone): `/feed edit channel:` checks the feed's ping role again in the new channel. */
  roleOf?: (roleId: string) => Promise<PingRole | null>;
  /** '' (or only spaces) removes the template. */
  template?: string;
  /** '' removes the filter. */
  include?: string;
  exclude?: string;
  tags?: boolean;
}

/** Checks the options given and returns the patch to store; every problem is a UserError saying what to change. */
export function checkFeedOptions(
  guildId: string,
  input: FeedOptionsInput,
  newest: Omit<TemplateItem, 'feedTitle'> | null,
  feedTitle: string | null,
): Partial<FeedOptions> {
  const patch: Partial<FeedOptions> = {};
  if (input.ping && input.clearPing) throw new UserError('Choose either a `ping` role or `clear-ping`, not both.', 'ping-conflict');
  if (input.clearPing) patch.pingRoleId = null;
  if (input.ping) {
    const role = input.ping;
    const name = cutText(role.name, 80).replace(/[*_~`|@]/g, '\\$&');
    if (role.id === guildId) {
      throw new UserError('blogcord never pings @everyone: choose a role for the people who want to hear about new posts.', 'ping-everyone');
    }
    if (!role.mentionable && !input.canMentionEveryone) {
      throw new UserError(
        `blogcord may not mention the role **${name}**: it is not mentionable and blogcord lacks the Mention Everyone permission in the channel the feed posts to. Turn on “Allow anyone to @mention this role” in the role's settings (or give blogcord Mention Everyone in that channel), then run the command again.`,
        'ping-not-mentionable',
      );
    }
    patch.pingRoleId = role.id;
  }
  if (input.template !== undefined) {
    const template = input.template.trim() ? input.template.trim() : null;
    if (template !== null) {
      let line: string | null;
      try {
        // Checked as the newest post would render, with the longest role mention a ping can make.
        const item = newest ?? { title: 'A post title', url: null, author: null, summaryHtml: null, categories: [], publishedAt: null };
        line = renderTemplate(template, { ...item, feedTitle }, '0'.repeat(20));
      } catch (error) {
        if (error instanceof TemplateError) throw new UserError(`The template is not valid: ${error.message}`, 'bad-template');
        throw error;
      }
      if (line !== null && !fitsContent(line)) {
        throw new UserError(
          `The template is too long: with the newest post (“${cutText(newest?.title ?? '', 80)}”) it makes ${line.length} characters, and a Discord message holds 2000. Use fewer or shorter placeholders ({summary} is the longest).`,
          'template-too-long',
        );
      }
    }
    patch.template = template;
  }
  for (const which of ['include', 'exclude'] as const) {
    const text = input[which];
    if (text === undefined) continue;
    try {
      patch[which] = normaliseFilter(text);
    } catch (error) {
      if (error instanceof FilterError) throw new UserError(`The ${which} filter is not valid: ${error.message}`, 'bad-filter');
      throw error;
    }
  }
  if (input.tags !== undefined) patch.forumTags = input.tags;
  return patch;
}

/**
 * The options with `canMentionEveryone` settled for `channelId`, the channel the feed's posts go to (asked only for a
 * ping role that is not mentionable, the one case where it matters).
 */
export async function withMentionRightIn(input: FeedOptionsInput, channelId: string): Promise<FeedOptionsInput> {
  const { mentionEveryoneIn, ...options } = input;
  if (!mentionEveryoneIn || !options.ping || options.ping.mentionable) return options;
  return { ...options, canMentionEveryone: await mentionEveryoneIn(channelId) };
}

/**
 * The options as they apply to a feed that goes to `channelId`: a feed moving there keeps pinging its role (unless a
 * new one or `clear-ping` is given), so that role is checked there as if it were given again.
 */
export async function withKeptPing(
  input: FeedOptionsInput,
  feed: Pick<Feed, 'channelId' | 'options' | 'state'> | null,
  channelId: string,
): Promise<FeedOptionsInput> {
  const kept = feed && feed.state !== 'removed' ? feed.options.pingRoleId : null;
  if (!kept || feed!.channelId === channelId || input.ping || input.clearPing || !input.roleOf) return input;
  const role = await input.roleOf(kept);
  return role ? { ...input, ping: role } : input;
}

/** Whether a channel can carry a feed's announcements (a text channel, an announcement channel or a forum of the server). */
export function checkFeedChannel(channel: APIChannel | null, guildId: string, channelId: string): APIChannel {
  if (!channel || !('guild_id' in channel) || channel.guild_id !== guildId) {
    throw new UserError(`blogcord cannot find the channel <#${channelId}> in this server (or cannot see it).`, 'bad-channel');
  }
  if (![ChannelType.GuildText, ChannelType.GuildAnnouncement, ChannelType.GuildForum].includes(channel.type)) {
    throw new UserError(`<#${channel.id}> is neither a text channel nor a forum: choose one of those for the announcements.`, 'bad-channel');
  }
  return channel;
}
