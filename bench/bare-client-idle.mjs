// The floor of the footprint benchmark: blogcord's own discord.js client (createDiscordClient from the build:
// the same intents, partials and bounded caches) logged in and doing nothing. Prints `ready` once connected.
import { createDiscordClient } from '../dist/src/discord/client.js';

const client = createDiscordClient({ discordApiUrl: process.env.DISCORD_API_URL, shardIds: null, shardCount: null });
client.once('clientReady', () => process.stdout.write('ready\n'));
process.once('SIGTERM', () => void client.destroy().then(() => process.exit(0)));
await client.login(process.env.DISCORD_TOKEN);
