// The ceiling of the ingest benchmark: blogcord's own discord.js client (same intents, partials and bounded
// caches, from createDiscordClient) with no handlers, counting dispatches. Prints `ready`, then `done <ms> <CPU µs>`
// once it has seen EXPECT message/reaction events (the time and the CPU, all threads, from the first of them).
import { createDiscordClient } from '../src/discord/client.ts';

const expect = Number(process.env.EXPECT ?? 0);
const client = createDiscordClient({ discordApiUrl: process.env.DISCORD_API_URL!, shardIds: null, shardCount: null });
let seen = 0;
let first = 0;
let cpu0 = process.cpuUsage();
client.on('raw', (packet: { t?: string }) => {
  if (packet.t !== 'MESSAGE_CREATE' && packet.t !== 'MESSAGE_REACTION_ADD' && packet.t !== 'MESSAGE_REACTION_REMOVE') return;
  if (seen === 0) [first, cpu0] = [performance.now(), process.cpuUsage()];
  if (++seen === expect) {
    // discord.js handles the packet after its 'raw' event: the last one's handling is not counted (one of EXPECT).
    const cpu = process.cpuUsage(cpu0);
    process.stdout.write(`done ${(performance.now() - first).toFixed(1)} ${cpu.user + cpu.system}\n`);
    void client.destroy().then(() => process.exit(0));
  }
});
client.once('clientReady', () => process.stdout.write('ready\n'));
await client.login(process.env.DISCORD_TOKEN!);
