import { AttachmentBuilder, ChannelType, MessageFlags, SlashCommandBuilder } from 'discord.js';
import type { Command } from '../src/discord/command.ts';
import { UserError } from '../src/errors.ts';
import { DigestPostError, digestSettings, postDigest, previewDigest, saveDigestSettings, scheduleOf } from '../src/services/digest.ts';
import { currentPeriodSoFar, describeSchedule, isValidTimeZone, WEEKDAYS } from '../src/services/digest-period.ts';

/** Registers the scheduler at once; when Redis is down the settings are saved and workers register it when it is back. */
async function resync(ctx: Parameters<Command['execute']>[1], guildId: string): Promise<string | null> {
  try {
    await ctx.jobs.syncDigestSchedule(guildId);
    return null;
  } catch (err) {
    ctx.log.warn({ err, guildId }, 'could not update the digest scheduler');
    return `⚠️ The job queue is unreachable right now (${(err as Error).message}); the setting is saved and the workers apply it when Redis is back.`;
  }
}

export default {
  admin: true,
  data: new SlashCommandBuilder()
    .setName('digest')
    .setDescription('The weekly digest: new posts, top rated, most discussed')
    .addSubcommand((s) => s.setName('preview').setDescription('Show the digest of this week so far (only to you; nothing is posted)'))
    .addSubcommand((s) =>
      s
        .setName('now')
        .setDescription('Post the digest of this week so far in the digest channel')
        .addBooleanOption((o) => o.setName('force').setDescription('Post again even if it was already posted for this week')),
    )
    .addSubcommand((s) =>
      s
        .setName('schedule')
        .setDescription('When and where the weekly digest is posted (turns it on)')
        .addIntegerOption((o) =>
          o
            .setName('day')
            .setDescription('The day of the week')
            .setRequired(true)
            .addChoices(...WEEKDAYS.map((name, i) => ({ name, value: i + 1 }))),
        )
        .addIntegerOption((o) => o.setName('hour').setDescription('The hour, 0–23, in the time zone').setRequired(true).setMinValue(0).setMaxValue(23))
        .addStringOption((o) =>
          o.setName('timezone').setDescription('An IANA time zone, like Europe/Amsterdam, America/New_York or UTC').setRequired(true).setMaxLength(64),
        )
        .addChannelOption((o) =>
          o.setName('channel').setDescription('The text channel the digest is posted in').setRequired(true).addChannelTypes(ChannelType.GuildText),
        ),
    )
    .addSubcommand((s) => s.setName('off').setDescription('Stop posting the weekly digest'))
    .toJSON(),

  async execute(interaction, ctx) {
    const guildId = interaction.guildId!;
    const sub = interaction.options.getSubcommand(true);

    if (sub === 'schedule') {
      const day = interaction.options.getInteger('day', true);
      const hour = interaction.options.getInteger('hour', true);
      const timezone = interaction.options.getString('timezone', true).trim();
      const channel = interaction.options.getChannel('channel', true);
      if (!Number.isInteger(day) || day < 1 || day > 7) throw new UserError('The day must be one of Monday…Sunday.', 'digest-bad-day');
      if (!Number.isInteger(hour) || hour < 0 || hour > 23) throw new UserError('The hour must be a whole number from 0 to 23.', 'digest-bad-hour');
      if (!isValidTimeZone(timezone)) {
        throw new UserError(
          `"${timezone.slice(0, 64)}" is not a time zone I know. Use an IANA name like Europe/Amsterdam, America/New_York or UTC.`,
          'digest-bad-timezone',
        );
      }
      if (channel.type !== ChannelType.GuildText) throw new UserError('The digest channel must be a text channel.', 'digest-bad-channel');
      await interaction.deferReply({ flags: MessageFlags.Ephemeral });
      const settings = await saveDigestSettings(ctx, guildId, {
        digestDay: day,
        digestHour: hour,
        digestTimezone: timezone,
        digestChannelId: channel.id,
        digestEnabled: true,
      });
      const warning = await resync(ctx, guildId);
      const lines = [`The weekly digest is posted in <#${channel.id}> every ${describeSchedule(scheduleOf(settings))}.`];
      if (warning) lines.push(warning);
      await interaction.editReply({ content: lines.join('\n'), allowedMentions: { parse: [] } });
      return;
    }

    await interaction.deferReply({ flags: MessageFlags.Ephemeral });

    if (sub === 'off') {
      await saveDigestSettings(ctx, guildId, { digestEnabled: false });
      const warning = await resync(ctx, guildId);
      const lines = ['The weekly digest is off. `/digest schedule` turns it on again; `/digest now` still posts one when you ask.'];
      if (warning) lines.push(warning);
      await interaction.editReply({ content: lines.join('\n'), allowedMentions: { parse: [] } });
      return;
    }

    if (sub === 'preview') {
      const p = await previewDigest(ctx, guildId);
      const where = p.channelId ? `<#${p.channelId}>` : 'no channel yet (choose one with `/digest schedule`)';
      const when = p.settings.digestEnabled ? `every ${describeSchedule(scheduleOf(p.settings))}` : 'never (the digest is off)';
      await interaction.editReply({
        content: `Preview of this week so far (nothing is posted). The weekly digest goes to ${where}, ${when}.`,
        embeds: p.body.embeds ?? [],
        // The chart the digest would attach, shown by the embed (attachment://digest.png) with its alt text.
        files: p.chart ? [new AttachmentBuilder(p.chart.png, { name: p.chart.filename, description: p.chart.description })] : [],
        allowedMentions: { parse: [] },
      });
      return;
    }

    if (sub === 'now') {
      const force = interaction.options.getBoolean('force') ?? false;
      const settings = await digestSettings(ctx, guildId);
      const period = currentPeriodSoFar(scheduleOf(settings));
      let r;
      try {
        r = await postDigest(ctx, guildId, { period, force });
      } catch (err) {
        if (err instanceof DigestPostError)
          throw new UserError(`The digest could not be posted: ${err.message}. Check that I can send messages and embed links there.`, 'digest-post-failed');
        throw err;
      }
      switch (r.status) {
        case 'posted':
        case 'repaired':
          await interaction.editReply({ content: `Posted the digest of this week so far in <#${r.channelId}>: ${r.url}`, allowedMentions: { parse: [] } });
          return;
        case 'already-posted':
          throw new UserError(
            `The digest of this week so far was already posted${r.url ? `: ${r.url}` : ''}. Nothing was posted; use \`/digest now force:True\` to post it again.`,
            'digest-already-posted',
          );
        case 'empty':
        case 'skipped':
        case 'already-skipped':
          throw new UserError(
            'Nothing to post: no new posts, comments or ratings this week so far (this server skips empty digests). Nothing was posted.',
            'digest-empty',
          );
        case 'no-channel':
          throw new UserError('There is no digest channel: choose one with `/digest schedule` (or add a feed). Nothing was posted.', 'digest-no-channel');
      }
    }
    throw new UserError(`Unknown subcommand "${sub}".`);
  },
} satisfies Command;
