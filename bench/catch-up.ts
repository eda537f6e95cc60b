// Catch-up: a 100,000-message thread caught up from an empty cursor, through the real discord.js REST client.
//
// Two figures per dialect, each from an empty database:
// - `catchup.<dialect>`: as the issue asks, the emulator without rate limits and the client without its own
//   global limit (DISCORD_GLOBAL_RATE_LIMIT lifted): what reading, parsing and storing the pages costs us.
// - `catchup.<dialect>.at-50-requests-per-second`: the client as a bot runs it against Discord. discord.js keeps
//   every client under the bot's global rate limit (50 requests a second by default, in 1 s windows plus a 50 ms
//   offset: ~47.6 a second), and a page holds at most 100 messages, so this cannot pass ~4,760 messages/s
//   unless Discord raises the bot's limit (then set DISCORD_GLOBAL_RATE_LIMIT).
import { createDb } from '../src/db/index.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { createRest, RestDiscordPort } from '../src/discord/rest-port.ts';
import { countReplies } from '../src/repositories/comments.ts';
import { getCursor } from '../src/repositories/cursors.ts';
import { upsertFeed } from '../src/repositories/feeds.ts';
import { setPublishState, upsertPostFromFeed } from '../src/repositories/posts.ts';
import { catchUpThread } from '../src/services/catch-up.ts';
import { startDiscordEmulator } from '../emulator/index.ts';
import { report } from './figures.ts';

export async function benchCatchUp(dialect: 'sqlite' | 'postgres', messages = 100_000): Promise<void> {
  const { createPgSchema } = await import('../test/support/db.ts');
  const discord = await startDiscordEmulator({
    guilds: [{ name: 'blog', channels: [{ name: 'posts' }] }],
    users: [{ username: 'alice' }, { username: 'bob' }],
    validate: false,
    recordRequests: false,
    rateLimitHeaders: false,
  });
  try {
    const announcement = await discord.say(discord.botUser, 'posts', 'announcement');
    const thread = await discord.createThread(discord.botUser, 'posts', 'a busy thread', { fromMessage: announcement.id });
    const s0 = performance.now();
    let lastId = '';
    await discord.offline(async () => {
      for (let i = 0; i < messages; i++) lastId = (await discord.say(i % 2 ? 'alice' : 'bob', thread.id, `message ${i}`)).id;
    });
    console.log(`  (${dialect}: ${messages} messages made in the emulator in ${((performance.now() - s0) / 1000).toFixed(1)} s)`);

    for (const run of [
      // The figure: the emulator without rate limits, and the client without its own global limit.
      { name: `catchup.${dialect}`, limit: Number.POSITIVE_INFINITY, target: { op: '>=', value: 10_000 } as const },
      // What a bot sees against Discord: discord.js keeps to the global limit of 50 requests a second.
      { name: `catchup.${dialect}.at-50-requests-per-second`, limit: 50, target: undefined },
    ]) {
      const schema = dialect === 'postgres' ? await createPgSchema() : null;
      const db = createDb({ databaseUrl: schema?.url ?? 'sqlite::memory:' });
      try {
        await migrateToLatest(db);
        const { feed } = await upsertFeed(db, { guildId: discord.guild('blog').id, url: 'https://blog.example/feed', channelId: discord.channel('posts').id });
        const { post } = await upsertPostFromFeed(
          db,
          feed,
          {
            key: 'p',
            url: 'https://blog.example/p',
            title: 'P',
            author: null,
            publishedAt: null,
            summaryHtml: null,
            searchText: 'P',
            imageUrl: null,
            contentHash: 'h',
          },
          'pending',
        );
        await setPublishState(db, post.id, { state: 'published', channelId: announcement.channel_id, messageId: announcement.id, threadId: thread.id });
        const port = new RestDiscordPort(createRest({ discordApiUrl: discord.restUrl, discordToken: discord.token, discordGlobalRateLimit: run.limit }));
        const s = performance.now();
        const result = await catchUpThread(
          { db, discord: port },
          { postId: post.id, threadId: thread.id, messageId: announcement.id },
          { maxPages: Math.ceil(messages / 100) + 10 },
        );
        const seconds = (performance.now() - s) / 1000;
        // The figure counts only a complete, exact catch-up: every message stored once, the cursor on the newest.
        const stored = (await countReplies(db, [post.id])).get(post.id);
        const cursor = await getCursor(db, thread.id);
        if (result.upserted !== messages || stored !== messages || cursor !== lastId) {
          throw new Error(`catch-up is wrong: ${result.upserted} upserted, ${stored} stored of ${messages}, cursor ${cursor} (newest ${lastId})`);
        }
        report({
          name: run.name,
          value: result.upserted / seconds,
          unit: 'messages/s',
          target: run.target,
          note: `${result.upserted} of ${messages} stored in ${seconds.toFixed(2)} s, ${result.pages} pages${run.limit === 50 ? ', under Discord’s global limit of 50 requests/s (DISCORD_GLOBAL_RATE_LIMIT)' : ', no rate limit'}`,
        });
      } finally {
        await db.destroy();
        await schema?.drop();
      }
    }
  } finally {
    await discord.stop();
  }
}
