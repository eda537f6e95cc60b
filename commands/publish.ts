import { MessageFlags, SlashCommandBuilder } from 'discord.js';
import type { Command } from '../src/discord/command.ts';
import { currentPost } from '../src/services/feeds.ts';
import { escapeMarkdown } from '../src/render/markdown.ts';
import { announcementLink, publishNow } from '../src/services/publish.ts';

/** How long /publish waits for the worker before answering "queued". */
const WAIT_MS = 12_000;

export default {
  admin: true,
  data: new SlashCommandBuilder()
    .setName('publish')
    .setDescription('Publish one post of a followed feed now (also one that was skipped)')
    .addStringOption((o) => o.setName('url').setDescription('The post’s link, as it appears in the feed').setRequired(true).setMaxLength(2000))
    .toJSON(),

  async execute(interaction, ctx) {
    await interaction.deferReply({ flags: MessageFlags.Ephemeral });
    const guildId = interaction.guildId!;
    const r = await publishNow(ctx, guildId, interaction.options.getString('url', true));
    if (r.status === 'already-published') {
      await interaction.editReply({ content: `That post is already published: ${r.link ?? `<#${r.post.channelId}>`}`, allowedMentions: { parse: [] } });
      return;
    }
    // The worker usually finishes within seconds: wait a little so the answer can link to it.
    const end = Date.now() + WAIT_MS;
    let post = r.post;
    while (Date.now() < end && post.publishState !== 'published' && post.publishState !== 'failed') {
      await new Promise((resolve) => setTimeout(resolve, 250));
      post = (await currentPost(ctx, post.id)) ?? post;
    }
    const content =
      post.publishState === 'published'
        ? `Published: ${announcementLink(guildId, post)}`
        : post.publishState === 'failed'
          ? `Publishing **${escapeMarkdown(post.title)}** failed: ${post.failureReason ?? 'unknown reason'}`
          : `**${escapeMarkdown(post.title)}** is queued and will appear shortly.`;
    await interaction.editReply({ content: content.slice(0, 2000), allowedMentions: { parse: [] } });
  },
} satisfies Command;
