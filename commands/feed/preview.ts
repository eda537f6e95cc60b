// `/feed preview`: an item rendered exactly as it would be posted, with Post it and Cancel buttons (issue 18).
import {
  ButtonStyle,
  ComponentType,
  PermissionFlagsBits,
  type APIActionRowComponent,
  type APIButtonComponent,
  type APIEmbed,
  type AutocompleteInteraction,
  type ButtonInteraction,
  type ChatInputCommandInteraction,
} from 'discord.js';
import type { AppContext } from '../../src/context.ts';
import { UserError } from '../../src/errors.ts';
import { validateMessagePayload } from '../../src/render/limits.ts';
import { cutText } from '../../src/render/post.ts';
import { newestFeedPosts, postPreviewedItem, previewFeedItem, type Preview } from '../../src/services/feed-options.ts';
import { findGuildFeed } from '../../src/services/feeds.ts';
import { announcementLink } from '../../src/services/publish.ts';

export const POST_IT = 'feed:post:';
export const CANCEL = 'feed:cancel';

function buttons(postId: string): APIActionRowComponent<APIButtonComponent> {
  return {
    type: ComponentType.ActionRow,
    components: [
      { type: ComponentType.Button, style: ButtonStyle.Primary, custom_id: `${POST_IT}${postId}`, label: 'Post it' },
      { type: ComponentType.Button, style: ButtonStyle.Secondary, custom_id: CANCEL, label: 'Cancel' },
    ],
  };
}

/** The note under the preview: where it would go, whom it would ping, its forum tags, its state now. */
export function previewNote(p: Preview): APIEmbed {
  const lines = [`Would be posted in <#${p.feed.channelId}>${p.forum ? ' as a forum post' : ''}.`];
  lines.push(p.pings ? `Would ping <@&${p.pings}> (not pinged by this preview).` : 'Pings no one.');
  if (p.forum)
    lines.push(p.forum.refusal ? `❌ Would fail: ${cutText(p.forum.refusal, 600)}` : `Forum tags: ${p.forum.tags.length ? p.forum.tags.join(', ') : 'none'}`);
  const state =
    p.post.publishState === 'published'
      ? 'It is already published.'
      : p.post.publishState === 'skipped'
        ? `A filter skipped it (${cutText(p.post.skipReason ?? 'filter', 200)}); Post it publishes it anyway.`
        : p.post.publishState === 'known'
          ? 'It was known before the feed was followed (or held back); Post it publishes it.'
          : p.post.publishState === 'failed'
            ? `It failed: ${cutText(p.post.failureReason ?? 'unknown reason', 300)}.`
            : 'It is on its way.';
  lines.push(state);
  return { title: 'Preview (only you see this)', description: lines.join('\n'), color: 0x5865f2 };
}

export async function runPreview(interaction: ChatInputCommandInteraction, ctx: AppContext): Promise<void> {
  const p = await previewFeedItem(ctx, interaction.guildId!, interaction.options.getString('feed', true), interaction.options.getString('item'));
  const canPost = !['published', 'pending', 'announced', 'threaded'].includes(p.post.publishState);
  const body = {
    content: p.payload.content ?? '',
    embeds: [...(p.payload.embeds ?? []), previewNote(p)],
    components: canPost ? [buttons(p.post.id)] : [],
  };
  const problems = validateMessagePayload(body);
  if (problems.length) body.embeds = [previewNote(p)];
  await interaction.editReply({ ...body, allowedMentions: { parse: [] } });
}

export async function pressPreviewButton(interaction: ButtonInteraction, ctx: AppContext): Promise<void> {
  const id = interaction.customId;
  if (id !== CANCEL && !id.startsWith(POST_IT))
    throw new UserError('This button is not known to this version of blogcord. Run `/feed preview` again.', 'feed-unknown-button');
  if (!interaction.memberPermissions?.has(PermissionFlagsBits.ManageGuild)) {
    throw new UserError('You need the Manage Server permission to publish a post.', 'missing-permission');
  }
  await interaction.deferUpdate();
  if (id === CANCEL) {
    await interaction.editReply({ content: 'Cancelled: nothing was posted.', embeds: [], components: [], allowedMentions: { parse: [] } });
    return;
  }
  const r = await postPreviewedItem(ctx, interaction.guildId!, id.slice(POST_IT.length));
  const title = cutText(r.post.title, 150).replace(/[*_~`|]/g, '\\$&');
  const link = announcementLink(interaction.guildId!, r.post);
  const content =
    r.status === 'queued'
      ? `**${title}** is being published now.`
      : r.post.publishState === 'published'
        ? `**${title}** is already published${link ? `: ${link}` : '.'}`
        : `**${title}** is already on its way (someone pressed Post it first).`;
  await interaction.editReply({ content, embeds: [], components: [], allowedMentions: { parse: [] } });
}

/** Autocomplete of `item:`: the chosen feed's newest posts. */
export async function previewItemChoices(interaction: AutocompleteInteraction, ctx: AppContext): Promise<Array<{ name: string; value: string }>> {
  const feedRef = interaction.options.getString('feed');
  if (!feedRef) return [];
  const feed = await findGuildFeed(ctx, interaction.guildId!, feedRef);
  if (!feed) return [];
  const typed = interaction.options.getFocused().toLowerCase();
  return (await newestFeedPosts(ctx, feed.id, 100))
    .filter((p) => p.title.toLowerCase().includes(typed))
    .slice(0, 25)
    .map((p) => ({ name: cutText(`${p.title}${p.publishState === 'skipped' ? ' (skipped)' : ''}`, 100), value: p.id }));
}
