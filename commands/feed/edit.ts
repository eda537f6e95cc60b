// `/feed edit`: changes a followed feed in place (issue 18).
import type { ChatInputCommandInteraction } from 'discord.js';
import type { AppContext } from '../../src/context.ts';
import { cutText, shownUrl } from '../../src/render/post.ts';
import { setFeedIdentity } from '../../src/services/feed-identity.ts';
import { rotateHookToken } from '../../src/services/push.ts';
import { editFeed, type EditFeedResult, type FeedOptions } from '../../src/services/feed-options.ts';
import { readOptionOptions } from './options.ts';

const code = (text: string) => `\`${cutText(text, 300).replaceAll('`', 'ˋ')}\``;

/** The options in force, one line each (for /feed edit, /feed add and /feed list). */
export function describeOptions(o: FeedOptions): string[] {
  const lines: string[] = [];
  if (o.pingRoleId) lines.push(`Ping: <@&${o.pingRoleId}>`);
  if (o.template) lines.push(`Template: ${code(o.template)}`);
  if (o.include) lines.push(`Include: ${code(o.include)}`);
  if (o.exclude) lines.push(`Exclude: ${code(o.exclude)}`);
  if (o.forumTags) lines.push('Forum tags: on');
  return lines;
}

export function editFeedReply(r: EditFeedResult): string {
  const name = cutText(r.feed.title ?? r.feed.url, 150).replace(/[*_~`|]/g, '\\$&');
  const lines = [
    r.changed.length
      ? `Changed ${r.changed.join(', ')} of **${name}** (${shownUrl(r.feed.url)}). Nothing was reposted; the changes apply to the next posts.`
      : `Nothing changed for **${name}** (${shownUrl(r.feed.url)}): give the options to change.`,
    `Channel: <#${r.feed.channelId}>`,
    ...describeOptions(r.feed.options),
  ];
  if (r.changed.includes('include') || r.changed.includes('exclude'))
    lines.push('Posts already seen stay as they are: `/publish url` publishes one a filter skipped.');
  if (r.forumRequiresTag)
    lines.push('⚠️ The forum requires a tag: a post none of whose categories names one of its tags fails, with the reason in `/feed list`.');
  return lines.join('\n');
}

export async function runEdit(interaction: ChatInputCommandInteraction, ctx: AppContext): Promise<void> {
  const channel = interaction.options.getChannel('channel');
  const r = await editFeed(ctx, interaction.guildId!, interaction.options.getString('feed', true), {
    ...readOptionOptions(interaction),
    ...(channel ? { channelId: channel.id } : {}),
  });
  // Identity after the channel: the webhook belongs to the channel the next posts go to.
  const identity = interaction.options.getBoolean('identity');
  const identityLine = identity === null ? null : await setFeedIdentity(ctx, r.feed.id, identity);
  const rotated = interaction.options.getBoolean('rotate-hook') ? await rotateHookToken(ctx, r.feed.id) : null;
  const hookLine = rotated
    ? `🔑 New publish hook: ${rotated.url ? `\`POST ${rotated.url}\`` : `token \`${rotated.token}\` (set PUBLIC_URL for its URL)`}; the old one no longer works.`
    : null;
  const content = [editFeedReply(r), identityLine, hookLine].filter(Boolean).join('\n');
  await interaction.editReply({ content: content.length > 2000 ? `${content.slice(0, 1999)}…` : content, allowedMentions: { parse: [] } });
}
