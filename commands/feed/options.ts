// The options `/feed add` and `/feed edit` share (issue 18), and reading them from an interaction.
import { PermissionFlagsBits, type ChatInputCommandInteraction, type SlashCommandSubcommandBuilder } from 'discord.js';
import type { FeedOptionsInput, PingRole } from '../../src/services/feed-options.ts';

/** Adds ping, template, include, exclude, tags and identity (and on edit, clear-ping and rotate-hook) to a subcommand. */
export function addOptionOptions(s: SlashCommandSubcommandBuilder, { edit = false } = {}): SlashCommandSubcommandBuilder {
  s.addRoleOption((o) => o.setName('ping').setDescription('A role to mention (ping) in each new announcement of this feed'));
  if (edit) s.addBooleanOption((o) => o.setName('clear-ping').setDescription('Stop pinging a role for this feed'));
  if (edit) s.addBooleanOption((o) => o.setName('rotate-hook').setDescription('Give the feed a new publish hook URL (the old one stops working)'));
  return s
    .addStringOption((o) =>
      o
        .setName('template')
        .setDescription('Line above each announcement: {title} {url} {author} {summary} {categories} {feed} {date} {ping}')
        .setMaxLength(1000),
    )
    .addStringOption((o) =>
      o.setName('include').setDescription('Only announce posts matching one of: category:news, title:release, author:ann, word (none: off)').setMaxLength(1000),
    )
    .addStringOption((o) =>
      o
        .setName('exclude')
        .setDescription('Never announce posts matching one of: category:news, title:release, author:ann, word (none: off)')
        .setMaxLength(1000),
    )
    .addBooleanOption((o) => o.setName('tags').setDescription('In a forum: give each post the forum tags named like its categories'))
    .addBooleanOption((o) => o.setName('identity').setDescription('Post as the blog (its name and icon, through a channel webhook) instead of as blogcord'));
}

/** The options given (absent ones stay as they are); `none` removes a template or filter. */
export function readOptionOptions(interaction: ChatInputCommandInteraction): FeedOptionsInput {
  const o = interaction.options;
  const role = o.getRole('ping');
  // Mention Everyone is looked up in the feed's target channel (the service says which), not in this one.
  const input: FeedOptionsInput = {
    mentionEveryoneIn: (channelId) => botHasMentionEveryoneIn(interaction, channelId),
    roleOf: (roleId) => serverRole(interaction, roleId),
  };
  if (role) input.ping = { id: role.id, name: role.name, mentionable: Boolean(role.mentionable) };
  const clear = o.get('clear-ping')?.value;
  if (clear === true) input.clearPing = true;
  for (const name of ['template', 'include', 'exclude'] as const) {
    const v = o.getString(name);
    // Discord sends no empty strings: `none` removes the setting.
    if (v !== null) input[name] = /^\s*none\s*$/i.test(v) ? '' : v;
  }
  const tags = o.getBoolean('tags');
  if (tags !== null) input.tags = tags;
  return input;
}

/** Whether blogcord has Mention Everyone in a channel of this server: its roles and that channel's overwrites. */
async function botHasMentionEveryoneIn(interaction: ChatInputCommandInteraction, channelId: string): Promise<boolean> {
  const guild = interaction.guild ?? (await interaction.client.guilds.fetch(interaction.guildId!));
  const me = guild.members.me ?? (await guild.members.fetchMe());
  const channel = guild.channels.cache.get(channelId) ?? (await guild.channels.fetch(channelId).catch(() => null));
  return channel ? me.permissionsIn(channel).has(PermissionFlagsBits.MentionEveryone) : false;
}

/** A role of this server as the ping checks see it, or null when it is gone. */
async function serverRole(interaction: ChatInputCommandInteraction, roleId: string): Promise<PingRole | null> {
  const guild = interaction.guild ?? (await interaction.client.guilds.fetch(interaction.guildId!));
  const role = guild.roles.cache.get(roleId) ?? (await guild.roles.fetch(roleId).catch(() => null));
  return role ? { id: role.id, name: role.name, mentionable: role.mentionable } : null;
}
