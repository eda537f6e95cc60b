import { randomBytes } from 'node:crypto';
import { MessageFlags, PermissionFlagsBits, type ButtonInteraction, type Interaction, type RepliableInteraction } from 'discord.js';
import type { AppContext } from '../context.ts';
import { UserError } from '../errors.ts';
import type { Command } from './command.ts';

async function answer(interaction: RepliableInteraction, content: string): Promise<void> {
  const body = { content, allowedMentions: { parse: [] } };
  if (interaction.deferred) await interaction.editReply(body);
  else if (interaction.replied) await interaction.followUp({ ...body, flags: MessageFlags.Ephemeral });
  else await interaction.reply({ ...body, flags: MessageFlags.Ephemeral });
}

/**
 * The one error boundary for interactions: a UserError becomes a clear ephemeral answer; anything else is
 * logged with a reference id the user can quote, and the user gets a short message with it.
 */
export function createInteractionHandler(commands: readonly Command[], ctx: AppContext): (interaction: Interaction) => Promise<void> {
  const byName = new Map(commands.map((c) => [c.data.name, c]));
  return async (interaction) => {
    if (interaction.isButton()) return pressButton(interaction);
    if (!interaction.isChatInputCommand() && !interaction.isAutocomplete()) return;
    const command = byName.get(interaction.commandName);
    const log = ctx.log.child({ command: { name: interaction.commandName }, userId: interaction.user.id, guildId: interaction.guildId });
    if (!command) {
      log.warn('unknown command (are the deployed commands out of date? run deploy-commands)');
      if (interaction.isChatInputCommand()) await answer(interaction, 'This command is not known to this version of blogcord.').catch(() => {});
      return;
    }
    if (interaction.isAutocomplete()) {
      try {
        await command.autocomplete?.(interaction, ctx);
        if (!interaction.responded) await interaction.respond([]);
      } catch (error) {
        log.warn({ err: error }, 'autocomplete failed');
        if (!interaction.responded) await interaction.respond([]).catch(() => {});
      }
      return;
    }
    await run(interaction, log, async () => {
      if (!interaction.inGuild()) throw new UserError('blogcord commands work inside a server.');
      // default_member_permissions hides admin commands; a server can override that, so check again here.
      if (command.admin && !interaction.memberPermissions?.has(PermissionFlagsBits.ManageGuild)) {
        throw new UserError('You need the Manage Server permission to use this command.', 'missing-permission');
      }
      log.debug('executing command');
      await command.execute(interaction, ctx);
    });
  };

  /** A button of a command's answer: routed by the `<command name>:` prefix of its custom id. */
  async function pressButton(interaction: ButtonInteraction): Promise<void> {
    const name = interaction.customId.split(':', 1)[0] ?? '';
    const command = byName.get(name);
    const log = ctx.log.child({ command: { name }, button: true, userId: interaction.user.id, guildId: interaction.guildId });
    await run(interaction, log, async () => {
      if (!command?.button) throw new UserError('This button is no longer handled by this version of blogcord. Run the command again.', 'unknown-button');
      if (!interaction.inGuild()) throw new UserError('blogcord commands work inside a server.');
      await command.button(interaction, ctx);
    });
  }

  /** Runs a command or button handler inside the one error boundary. */
  async function run(interaction: RepliableInteraction, log: AppContext['log'], fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (error) {
      if (error instanceof UserError) {
        log.info({ identifier: error.identifier, ...error.context }, error.message);
        await answer(interaction, error.message).catch((e: unknown) => log.warn({ err: e }, 'could not answer'));
        return;
      }
      const ref = randomBytes(4).toString('hex').toUpperCase();
      log.error({ err: error, ref }, 'command failed');
      await answer(
        interaction,
        `Something went wrong on our side (reference ${ref}). Nothing was changed if the command did not say so; please try again.`,
      ).catch((e: unknown) => log.warn({ err: e, ref }, 'could not answer'));
    }
  }
}
