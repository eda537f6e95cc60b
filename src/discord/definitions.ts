import { PermissionFlagsBits, type RESTPostAPIChatInputApplicationCommandsJSONBody } from 'discord-api-types/v10';
import type { Command } from './command.ts';

/** The JSON Discord registers: admin commands are hidden from members without Manage Server. */
export function commandDefinitions(commands: readonly Command[]): RESTPostAPIChatInputApplicationCommandsJSONBody[] {
  return commands.map((c) => ({
    ...c.data,
    contexts: [0],
    ...(c.admin ? { default_member_permissions: String(PermissionFlagsBits.ManageGuild) } : {}),
  }));
}
