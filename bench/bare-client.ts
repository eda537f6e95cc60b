// The ceiling of the ingest benchmark: blogcord's own discord.js client (same intents, partials and bounded
// caches, from createDiscordClient) with no handlers, counting dispatches. Prints `ready`, then `done <ms>` once
// it has seen EXPECT message/reaction events.
import { createDiscordClient } from '../src/discord/client.ts';

const expect = Number(process.env.EXPECT ?? 0);
const client = createDiscordClient({ discordApiUrl: process.env.DISCORD_API_URL!, shardIds: null, shardCount: null });
let seen = 0;
let first = 0;
client.on('raw', (packet: { t?: string }) => {
  if (packet.t !== 'MESSAGE_CREATE' && packet.t !== 'MESSAGE_REACTION_ADD' && packet.t !== 'MESSAGE_REACTION_REMOVE') return;
  if (seen === 0) first = performance.now();
  if (++seen === expect) {
    process.stdout.write(`done ${(performance.now() - first).toFixed(1)}\n`);
    void client.destroy().then(() => process.exit(0));
  }
});
client.once('clientReady', () => process.stdout.write('ready\n'));
await client.login(process.env.DISCORD_TOKEN!);
