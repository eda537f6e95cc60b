// Catch-up: a 100,000-message thread caught up from an empty cursor, through REST (the emulator has no rate limits).
import { createDb } from '../src/db/index.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { createRest, RestDiscordPort } from '../src/discord/rest-port.ts';
import { upsertFeed } from '../src/repositories/feeds.ts';
import { setPublishState, upsertPostFromFeed } from '../src/repositories/posts.ts';
import { catchUpThread } from '../src/services/catch-up.ts';
import { startDiscordEmulator } from '../test/support/discord/index.ts';
import { report } from './figures.ts';

export async function benchCatchUp(dialect: 'sqlite' | 'postgres', messages = 100_000): Promise<void> {
  const { createPgSchema } = await import('../test/support/db.ts');
  const schema = dialect === 'postgres' ? await createPgSchema() : null;
  const discord = await startDiscordEmulator({ guilds: [{ name: 'blog', channels: [{ name: 'posts' }] }], users: [{ username: 'alice' }, { username: 'bob' }], validate: false, recordRequests: false, rateLimitHeaders: false });
  const db = createDb({ databaseUrl: schema?.url ?? 'sqlite::memory:' });
  try {
    await migrateToLatest(db);
    const announcement = await discord.say(discord.botUser, 'posts', 'announcement');
    const thread = await discord.createThread(discord.botUser, 'posts', 'a busy thread', { fromMessage: announcement.id });
    const s0 = performance.now();
    await discord.offline(async () => {
      for (let i = 0; i < messages; i++) await discord.say(i % 2 ? 'alice' : 'bob', thread.id, `message ${i}`);
    });
    console.log(`  (${dialect}: ${messages} messages made in the emulator in ${((performance.now() - s0) / 1000).toFixed(1)} s)`);
    const { feed } = await upsertFeed(db, { guildId: discord.guild('blog').id, url: 'https://blog.example/feed', channelId: discord.channel('posts').id });
    const { post } = await upsertPostFromFeed(db, feed, { key: 'p', url: 'https://blog.example/p', title: 'P', author: null, publishedAt: null, summaryHtml: null, searchText: 'P', imageUrl: null, contentHash: 'h' }, 'pending');
    await setPublishState(db, post.id, { state: 'published', channelId: announcement.channel_id, messageId: announcement.id, threadId: thread.id });
    const port = new RestDiscordPort(createRest({ discordApiUrl: discord.restUrl, discordToken: discord.token }));
    const s = performance.now();
    const result = await catchUpThread({ db, discord: port }, { postId: post.id, threadId: thread.id, messageId: announcement.id }, { maxPages: Math.ceil(messages / 100) + 10 });
    const seconds = (performance.now() - s) / 1000;
    report({ name: `catchup.${dialect}`, value: result.upserted / seconds, unit: 'messages/s', target: { op: '>=', value: 10_000 }, note: `${result.upserted} of ${messages} stored in ${seconds.toFixed(2)} s, ${result.pages} pages` });
  } finally {
    await db.destroy();
    await discord.stop();
    await schema?.drop();
  }
}
