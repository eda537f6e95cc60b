import { Routes, type APIApplication } from 'discord-api-types/v10';
import { commands } from '../../commands/index.ts';
import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import { DiscordSetupError, missingTokenMessage } from '../setup.ts';
import { commandDefinitions } from './definitions.ts';
import { createRest } from './rest-port.ts';

/** Bulk-overwrites the slash commands over REST (no gateway): globally, or in one server for development. */
export async function deployCommands(config: Config, log: Logger, { guildId }: { guildId?: string } = {}): Promise<number> {
  if (!config.discordToken) throw new DiscordSetupError(missingTokenMessage(config.discordApplicationId));
  const rest = createRest(config);
  const appId = config.discordApplicationId ?? ((await rest.get(Routes.currentApplication())) as APIApplication).id;
  const body = commandDefinitions(commands);
  await rest.put(guildId ? Routes.applicationGuildCommands(appId, guildId) : Routes.applicationCommands(appId), { body });
  const where = guildId ? `server ${guildId}` : 'all servers (global commands can take up to an hour to appear)';
  process.stdout.write(`registered ${body.length} commands in ${where}: ${body.map((c) => `/${c.name}`).join(' ')}\n`);
  log.info({ count: body.length, guildId }, 'commands deployed');
  return body.length;
}
