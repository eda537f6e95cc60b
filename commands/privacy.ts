import { ButtonStyle, ComponentType, MessageFlags, SlashCommandBuilder, type APIActionRowComponent, type APIButtonComponent } from 'discord.js';
import type { Command } from '../src/discord/command.ts';
import { UserError } from '../src/errors.ts';
import {
  APPEARANCES,
  chooseAppearance,
  forgetMember,
  isAppearance,
  privacyStatus,
  type Appearance,
  type ForgetResult,
  type PrivacyStatus,
} from '../src/services/privacy.ts';

/** What each choice means on the web, in the words of the answers. */
const MEANING: Record<Appearance, string> = {
  named: 'your display name appears with your replies on the web',
  anonymous: 'your replies appear on the web as "A member", with a neutral avatar and nothing that links one post’s replies to another’s',
  hidden: 'your replies are left out of the web (each shows as "hidden reply" so the replies to it keep their place); your ratings still count, anonymously',
};

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

function describeStatus(s: PrivacyStatus): string {
  const lines = [
    `**How you appear on the web in this server:** ${s.appearance} — ${MEANING[s.appearance]}.`,
    `**Stored about you in this server:** ${plural(s.comments, 'reply', 'replies')} (with your name and text), ${plural(s.attachments, 'attachment')}, ${plural(s.ratings, 'rating')}.`,
  ];
  if (s.forgotten) lines.push('You ran `/privacy forget` here: your rating reactions in this server no longer count.');
  lines.push('Change it with `/privacy set show:…`; erase it all with `/privacy forget`. Your choice applies only in this server and stays if you leave it.');
  return lines.join('\n');
}

function describeForget(r: ForgetResult): string {
  const lines = [
    'Done. In this server I deleted:',
    `• the text, name and attachments of ${plural(r.comments, 'reply', 'replies')} (${plural(r.attachments, 'attachment')}); each stays only as an empty place in its thread so the replies to it keep their parent`,
    `• ${plural(r.ratings, 'rating')}`,
  ];
  if (r.tombstones) lines.push(`• your id on ${plural(r.tombstones, 'reply', 'replies')} already deleted in Discord`);
  if (r.reactionsRemoved) lines.push(`I also removed ${plural(r.reactionsRemoved, 'rating reaction')} of yours from the announcements.`);
  if (r.reactionsLeft)
    lines.push(`${plural(r.reactionsLeft, 'rating reaction')} of yours I may not remove: remove them yourself if you like; they no longer count either way.`);
  lines.push(
    'From now on your rating reactions in this server are not counted. Messages still in Discord are Discord’s: delete them there to remove them from Discord itself.',
  );
  return lines.join('\n');
}

/** The custom ids of the confirmation: the member who asked is part of the id, so nobody else's press counts. */
const FORGET = 'privacy:forget:';
const CANCEL = 'privacy:cancel:';

function confirmRow(userId: string): APIActionRowComponent<APIButtonComponent> {
  return {
    type: ComponentType.ActionRow,
    components: [
      { type: ComponentType.Button, style: ButtonStyle.Danger, custom_id: `${FORGET}${userId}`, label: 'Forget me in this server' },
      { type: ComponentType.Button, style: ButtonStyle.Secondary, custom_id: `${CANCEL}${userId}`, label: 'Cancel' },
    ],
  };
}

export default {
  data: new SlashCommandBuilder()
    .setName('privacy')
    .setDescription('How you appear on the blog’s web pages, and what blogcord stores about you in this server')
    .addSubcommand((s) =>
      s
        .setName('set')
        .setDescription('Choose how your replies appear on the web (this server only)')
        .addStringOption((o) =>
          o
            .setName('show')
            .setDescription('named: your name · anonymous: "A member" · hidden: left out')
            .setRequired(true)
            .addChoices(...APPEARANCES.map((a) => ({ name: a, value: a }))),
        ),
    )
    .addSubcommand((s) => s.setName('status').setDescription('Show your choice and what is stored about you in this server'))
    .addSubcommand((s) => s.setName('forget').setDescription('Erase your replies’ text, your name, attachments and ratings in this server (asks first)'))
    .toJSON(),

  async execute(interaction, ctx) {
    const guildId = interaction.guildId!;
    const userId = interaction.user.id;
    const sub = interaction.options.getSubcommand(true);

    if (sub === 'set') {
      const show = interaction.options.getString('show', true).trim().toLowerCase();
      if (!isAppearance(show)) {
        throw new UserError(`"${show.slice(0, 32)}" is not a choice: use named, anonymous or hidden. Nothing was changed.`, 'privacy-bad-show');
      }
      await interaction.deferReply({ flags: MessageFlags.Ephemeral });
      await chooseAppearance(ctx.db, guildId, userId, show);
      await interaction.editReply({
        content: `Saved: ${show} — ${MEANING[show]}. This applies at once to everything already stored and to what you post later, in this server only.`,
        allowedMentions: { parse: [] },
      });
      return;
    }

    if (sub === 'status') {
      await interaction.deferReply({ flags: MessageFlags.Ephemeral });
      await interaction.editReply({ content: describeStatus(await privacyStatus(ctx.db, guildId, userId)), allowedMentions: { parse: [] } });
      return;
    }

    if (sub === 'forget') {
      await interaction.deferReply({ flags: MessageFlags.Ephemeral });
      const s = await privacyStatus(ctx.db, guildId, userId);
      await interaction.editReply({
        content: [
          `This erases, in this server: the text, name and attachments of ${plural(s.comments, 'reply', 'replies')} of yours, and ${plural(s.ratings, 'rating')}.`,
          'Your rating reactions here will no longer count, and cannot be brought back. Nothing happens until you press the button.',
        ].join('\n'),
        components: [confirmRow(userId)],
        allowedMentions: { parse: [] },
      });
      return;
    }
    throw new UserError(`Unknown subcommand "${sub}".`);
  },

  async button(interaction, ctx) {
    const id = interaction.customId;
    const forget = id.startsWith(FORGET);
    if (!forget && !id.startsWith(CANCEL))
      throw new UserError('This button is not known to this version of blogcord. Run `/privacy forget` again.', 'privacy-unknown-button');
    const owner = id.slice(forget ? FORGET.length : CANCEL.length);
    if (owner !== interaction.user.id)
      throw new UserError('This button belongs to someone else’s `/privacy forget`. Nothing was changed.', 'privacy-not-yours');
    await interaction.deferUpdate();
    if (!forget) {
      await interaction.editReply({ content: 'Cancelled: nothing was erased.', components: [], allowedMentions: { parse: [] } });
      return;
    }
    const result = await forgetMember(ctx, interaction.guildId!, interaction.user.id, {
      changed: (postId) => ctx.jobs.refreshAnnouncement(postId),
    });
    await interaction.editReply({ content: describeForget(result), components: [], allowedMentions: { parse: [] } });
  },
} satisfies Command;
