import { EmbedBuilder, MessageFlags, SlashCommandBuilder } from 'discord.js';
import type { Command } from '../src/discord/command.ts';
import { serverStatus } from '../src/services/status.ts';

export default {
  data: new SlashCommandBuilder().setName('status').setDescription('Show blogcord’s health and what it follows in this server').toJSON(),
  async execute(interaction, ctx) {
    await interaction.deferReply({ flags: MessageFlags.Ephemeral });
    const s = await serverStatus(ctx, interaction.guildId!);
    const embed = new EmbedBuilder()
      .setTitle('blogcord status')
      .addFields(
        { name: 'Version', value: s.version, inline: true },
        { name: 'Database', value: s.database.ok ? `✅ ${s.database.dialect}` : `❌ ${s.database.dialect}: ${s.database.error}`, inline: true },
        { name: 'Redis', value: s.redis.ok ? '✅ connected' : `❌ ${s.redis.error}`, inline: true },
        { name: 'Feeds', value: String(s.feeds ?? 'unknown'), inline: true },
        { name: 'Posts', value: String(s.posts ?? 'unknown'), inline: true },
      );
    await interaction.editReply({ embeds: [embed] });
  },
} satisfies Command;
