// The ceiling of the ingest benchmark: a discord.js client with blogcord's intents and partials but no
// handlers, counting dispatches. Prints `ready`, then `done <ms>` once it has seen EXPECT message/reaction events.
import { Client, GatewayIntentBits, Partials } from 'discord.js';

const expect = Number(process.env.EXPECT ?? 0);
const client = new Client({
  intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages, GatewayIntentBits.GuildMessageReactions, GatewayIntentBits.MessageContent],
  partials: [Partials.Message, Partials.Channel, Partials.Reaction, Partials.User],
  rest: { api: process.env.DISCORD_API_URL! },
});
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
