import type { AutocompleteInteraction, ButtonInteraction, ChatInputCommandInteraction, RESTPostAPIChatInputApplicationCommandsJSONBody } from 'discord.js';
import type { AppContext } from '../context.ts';

/** One slash command: its definition and its handler (the discord.js guide's shape). */
export interface Command {
  data: RESTPostAPIChatInputApplicationCommandsJSONBody;
  /** Needs Manage Server: declared in `default_member_permissions` and re-checked on every run. */
  admin?: boolean;
  execute(interaction: ChatInputCommandInteraction, ctx: AppContext): Promise<void>;
  autocomplete?(interaction: AutocompleteInteraction, ctx: AppContext): Promise<void>;
  /**
   * A press of one of the buttons this command's answers carry. Their custom ids start with `<command name>:`; the
   * dispatcher routes by that prefix. Stateless: everything the press needs is in the custom id (restarts and
   * other processes handle it the same).
   */
  button?(interaction: ButtonInteraction, ctx: AppContext): Promise<void>;
}
