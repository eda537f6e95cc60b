// /feed status feed:<autocomplete>: one feed's health (src/services/feed-status.ts, rendered by src/render/feed-status.ts).
import type { ChatInputCommandInteraction } from 'discord.js';
import type { AppContext } from '../../src/context.ts';
import { renderFeedStatus } from '../../src/render/feed-status.ts';
import { feedStatus } from '../../src/services/feed-status.ts';

export async function feedStatusCommand(interaction: ChatInputCommandInteraction, ctx: AppContext): Promise<void> {
  const status = await feedStatus(ctx, interaction.guildId!, interaction.options.getString('feed', true));
  await interaction.editReply({ content: renderFeedStatus(status), allowedMentions: { parse: [] } });
}
