import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { createDb } from '../../src/db/index.ts';
import { MigrationError, migrateAllDown, migrateDown, migrateToLatest, migrationStatus } from '../../src/db/migrate.ts';
import { exportData } from '../../src/services/export.ts';
import { createTestDb, DIALECTS } from '../support/db.ts';
import { runBlogcord } from '../support/bot.ts';
import { seedDiscussion, loadSeed } from '../support/fixtures.ts';

const runCli = (args: string[], env: Record<string, string> = {}, cwd?: string) => runBlogcord(args, { LOG_LEVEL: 'silent', ...env }, cwd);

const config = suite('configuration');

config('defaults: SQLite under data/, local Redis, HTTP on 8787, private feeds refused', () => {
  const c = loadConfig({}, { dotenv: false });
  assert.is(c.databaseUrl, 'sqlite:data/blogcord.sqlite');
  assert.is(c.redisUrl, 'redis://127.0.0.1:6379');
  assert.ok(c.redisUrlIsDefault);
  assert.is(c.discordApiUrl, 'https://discord.com/api');
  assert.is(c.httpPort, 8787);
  assert.is(c.feedAllowPrivateNetwork, false);
  assert.is(c.feedPollIntervalSeconds, 600);
  assert.is(c.discordToken, null);
  assert.is(c.discordGlobalRateLimit, 50);
  assert.ok(Object.isFrozen(c));
});

config('values are parsed and typed', () => {
  const c = loadConfig(
    {
      DISCORD_TOKEN: 'x.y.z',
      DISCORD_API_URL: 'http://127.0.0.1:5000/api/',
      FEED_ALLOW_PRIVATE_NETWORK: 'true',
      FEED_POLL_INTERVAL_SECONDS: '3',
      HTTP_PORT: '0',
      DATABASE_URL: 'postgres://u@h/db',
      DIGEST_CHANNEL_ID: '123456789012345678',
      HTTP_CORS_ORIGINS: 'https://a.example, https://b.example',
      DISCORD_GLOBAL_RATE_LIMIT: '500',
    },
    { dotenv: false },
  );
  assert.equal(
    [c.discordToken, c.discordApiUrl, c.feedAllowPrivateNetwork, c.feedPollIntervalSeconds, c.httpPort, c.discordGlobalRateLimit],
    ['x.y.z', 'http://127.0.0.1:5000/api', true, 3, 0, 500],
  );
  assert.equal(c.httpCorsOrigins, ['https://a.example', 'https://b.example']);
});

for (const [name, env, pattern] of [
  ['DATABASE_URL', { DATABASE_URL: 'mysql://x' }, /DATABASE_URL: expected sqlite:PATH or postgres:\/\//],
  ['HTTP_PORT', { HTTP_PORT: '99999' }, /HTTP_PORT: expected a port number/],
  ['FEED_POLL_INTERVAL_SECONDS', { FEED_POLL_INTERVAL_SECONDS: '0' }, /FEED_POLL_INTERVAL_SECONDS/],
  ['FEED_ALLOW_PRIVATE_NETWORK', { FEED_ALLOW_PRIVATE_NETWORK: 'maybe' }, /FEED_ALLOW_PRIVATE_NETWORK: expected true or false/],
  ['DIGEST_CHANNEL_ID', { DIGEST_CHANNEL_ID: 'general' }, /DIGEST_CHANNEL_ID: expected a Discord id/],
  ['REDIS_URL', { REDIS_URL: 'localhost:6379' }, /REDIS_URL: expected a redis:\/\//],
  ['LOG_LEVEL', { LOG_LEVEL: 'loud' }, /LOG_LEVEL/],
  ['DISCORD_GLOBAL_RATE_LIMIT', { DISCORD_GLOBAL_RATE_LIMIT: 'fast' }, /DISCORD_GLOBAL_RATE_LIMIT: expected a whole number of requests a second/],
] as const) {
  config(`GIVEN a bad ${name} THEN the error names it and what it expects`, () => {
    try {
      loadConfig(env, { dotenv: false });
      assert.unreachable('should have thrown');
    } catch (error) {
      assert.instance(error, ConfigError);
      assert.match((error as Error).message, pattern);
    }
  });
}

config('GIVEN several bad variables THEN every problem is listed, each check of a variable on its own line', () => {
  try {
    loadConfig({ DISCORD_API_URL: 'nonsense', HTTP_PORT: 'x', LOG_LEVEL: 'loud' }, { dotenv: false });
    assert.unreachable('should have thrown');
  } catch (error) {
    assert.instance(error, ConfigError);
    assert.is(
      (error as Error).message,
      [
        'Invalid configuration:',
        '  DISCORD_API_URL: expected an http(s) URL ending in /api, like https://discord.com/api',
        '  DISCORD_API_URL: expected an http(s) URL',
        '  HTTP_PORT: expected a port number 0–65535 (0 disables the HTTP API)',
        '  LOG_LEVEL: expected Invalid option: expected one of "fatal"|"error"|"warn"|"info"|"debug"|"trace"|"silent"',
      ].join('\n'),
    );
  }
});

config('URLs are trimmed and lose their trailing slashes; shard lists and yes/no are read', () => {
  const c = loadConfig(
    {
      DISCORD_API_URL: ' https://discord.example/api// ',
      PUBLIC_URL: 'https://blogcord.example.com/x/',
      SHARD_IDS: '0, 1',
      SHARD_COUNT: '2',
      FEED_ALLOW_PRIVATE_NETWORK: 'yes',
    },
    { dotenv: false },
  );
  assert.equal(
    [c.discordApiUrl, c.publicUrl, c.shardIds, c.shardCount, c.feedAllowPrivateNetwork],
    ['https://discord.example/api', 'https://blogcord.example.com/x', [0, 1], 2, true],
  );
  assert.throws(
    () => loadConfig({ PUBLIC_URL: 'https://blogcord.example.com/?q=1' }, { dotenv: false }),
    /PUBLIC_URL: expected an http\(s\) URL without a query/,
  );
});

config.run();

for (const dialect of DIALECTS) {
  const migrations = suite(`migrations on ${dialect}`);
  migrations('up → down → up, and status lists them', async () => {
    const t = await createTestDb(dialect, { migrate: false });
    try {
      const up = await migrateToLatest(t.db);
      assert.ok(up.length >= 1);
      assert.ok(up.every((s) => s.status === 'Success'));
      assert.ok((await migrationStatus(t.db)).every((m) => m.executedAt));
      const down = await migrateAllDown(t.db);
      assert.is(down.length, up.length);
      assert.ok((await migrationStatus(t.db)).every((m) => !m.executedAt));
      await migrateToLatest(t.db);
      await sql`select count(*) from posts`.execute(t.db.kysely);
      assert.equal(await migrateToLatest(t.db), [], 'nothing left to apply');
    } finally {
      await t.close();
    }
  });
  migrations('a start with every migration applied reads the migration table and nothing else; one left is applied, an unknown one refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'blogcord-migrate-'));
    const t = await createTestDb(dialect, { file: join(dir, 'db.sqlite') });
    const queries: string[] = [];
    const db = createDb({ databaseUrl: t.url }, { onQuery: (q) => void queries.push(q) });
    try {
      assert.equal(await migrateToLatest(db), []);
      assert.ok(queries.length <= 2, queries.join('\n'));
      assert.not.ok(
        queries.some((q) => /pg_catalog|sqlite_master|pragma|lock/i.test(q)),
        queries.join('\n'),
      );
      const [last] = await migrateDown(db);
      assert.is(last?.status, 'Success');
      const again = await migrateToLatest(db);
      assert.equal(
        again.map((s) => [s.name, s.status]),
        [[last!.name, 'Success']],
      );
      await sql`insert into kysely_migration (name, timestamp) values ('2099-01-01_999_from_a_newer_version', '2099-01-01T00:00:00.000Z')`.execute(db.kysely);
      try {
        await migrateToLatest(db);
        assert.unreachable('an applied migration this version does not know is refused');
      } catch (err) {
        assert.instance(err, MigrationError);
        assert.match((err as Error).message, /2099-01-01_999_from_a_newer_version/);
      }
    } finally {
      await db.destroy();
      await t.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
  migrations.run();

  const exp = suite(`export on ${dialect}`);
  exp('the seed post exports its 22 comments in the same reply tree and “5/5 (2)”', async () => {
    const t = await createTestDb(dialect);
    try {
      const { idOf, post } = await seedDiscussion(t.db);
      const data = await exportData(t.db);
      assert.is(data.posts.length, 1);
      const [p] = data.posts;
      assert.is(p!.id, post.id);
      assert.equal(p!.rating, { average: 5, count: 2, distribution: { '1': 0, '2': 0, '3': 0, '4': 0, '5': 2 } });
      assert.is(p!.ratings.length, 2);
      const { comments } = loadSeed();
      assert.is(p!.comments.length, 22);
      const fixtureOf = new Map([...idOf].map(([k, v]) => [v, k]));
      const tree = p!.comments.map((c) => [fixtureOf.get(c.id), c.replyToId ? fixtureOf.get(c.replyToId) : null, c.authorName]);
      assert.equal(
        tree,
        comments.map((c) => [c.id, c.replyTo, c.author]),
      );
      assert.is(p!.comments.filter((c) => c.replyToId === null).length, 11);
      assert.is(p!.comments.filter((c) => c.replyToId !== null).length, 11);
      assert.equal(p!.discord.threadId, post.threadId);
    } finally {
      await t.close();
    }
  });
  exp.run();
}

const cli = suite<{ dir: string }>('the blogcord CLI', { dir: '' });
cli.before((ctx) => {
  ctx.dir = mkdtempSync(join(tmpdir(), 'blogcord-cli-'));
});
cli.after(({ dir }) => rmSync(dir, { recursive: true, force: true }));

cli('start without DISCORD_TOKEN prints how to create the bot and exits 1', async ({ dir }) => {
  const r = await runCli(['start'], { DATABASE_URL: `sqlite:${dir}/a.sqlite` }, dir);
  assert.is(r.code, 1);
  assert.match(r.stderr, /DISCORD_TOKEN is not set/);
  assert.match(r.stderr, /Message Content Intent/);
  assert.match(r.stderr, /Create Public Threads/);
  // Its last line points a newcomer to the demo.
  assert.is(r.stderr.trimEnd().split('\n').at(-1), 'No Discord yet? Try  npx blogcord demo  to see blogcord work without Discord.');
});

cli('a bad DATABASE_URL is named', async ({ dir }) => {
  const r = await runCli(['start'], { DATABASE_URL: 'mongodb://x' }, dir);
  assert.is(r.code, 1);
  assert.match(r.stderr, /DATABASE_URL: expected sqlite:PATH or postgres/);
});

cli('migrate status lists the migrations; export on an empty database prints {"posts":[],"digests":[]}', async ({ dir }) => {
  const env = { DATABASE_URL: `sqlite:${dir}/b.sqlite` };
  let r = await runCli(['migrate', 'status'], env, dir);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /pending {2}2026-11-29_001_initial/);
  r = await runCli(['migrate', 'up'], env, dir);
  assert.match(r.stdout, /up +2026-11-29_001_initial +Success/);
  r = await runCli(['migrate', 'status'], env, dir);
  assert.match(r.stdout, /applied {2}2026-11-29_001_initial/);
  r = await runCli(['export'], env, dir);
  assert.is(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout), { posts: [], digests: [] });
  r = await runCli(['migrate', 'down'], env, dir);
  assert.match(r.stdout, /^down +\d{4}-\d\d-\d\d_\d{3}_\w+ +Success$/m, 'undoes the last migration');
  r = await runCli(['migrate', 'status'], env, dir);
  assert.match(r.stdout, /^pending +\d{4}-\d\d-\d\d_\d{3}_\w+$/m);
});

cli('an unknown command prints the usage and exits 1', async ({ dir }) => {
  const r = await runCli(['frobnicate'], {}, dir);
  assert.is(r.code, 1);
  assert.match(r.stderr, /unknown command "frobnicate"/);
  assert.match(r.stderr, /deploy-commands/);
});

cli.run();
