// Credentials in URLs never reach the log or the terminal: the one helper (redactCredentials) on arbitrary text,
// and the logger's redaction of the fields that carry URLs or messages quoting them.
// Run alone: npx tsx test/unit/redact.test.ts
import fc from 'fast-check';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createLogger } from '../../src/logger.ts';
import { redactCredentials, redactUrl } from '../../src/redact.ts';

const test = suite('redaction of credentials');

test('a URL keeps its scheme, user, host, port and path; its password becomes ***; a lone user name (a token) too', () => {
  assert.is(redactUrl('redis://:s3cret@cache.internal:6380/2'), 'redis://:***@cache.internal:6380/2');
  assert.is(redactUrl('postgres://blogcord:s3cret@db:5432/blog?sslmode=require'), 'postgres://blogcord:***@db:5432/blog?sslmode=require');
  assert.is(redactUrl('https://ghp_token123@blog.example/feed.xml'), 'https://***@blog.example/feed.xml');
  assert.is(redactUrl('rediss://default:p%40ss@h:1'), 'rediss://default:***@h:1', 'a percent-encoded @ in the password');
  assert.is(redactUrl('redis://127.0.0.1:6379'), 'redis://127.0.0.1:6379', 'nothing to hide, nothing changed');
  assert.is(redactUrl('sqlite:data/blogcord.sqlite'), 'sqlite:data/blogcord.sqlite');
  assert.is(redactUrl('https://blog.example/a@b'), 'https://blog.example/a@b', 'an @ in the path is not a user');
  assert.is(
    redactCredentials('REDIS_URL=redis://u:one@a:1 and DATABASE_URL=postgres://v:two@b/c failed'),
    'REDIS_URL=redis://u:***@a:1 and DATABASE_URL=postgres://v:***@b/c failed',
    'every URL in a message',
  );
});

test('a webhook URL keeps its id; its token (a secret) becomes ***, in an error message too', () => {
  const token = 'aB3_x-Yz.9' + 'q'.repeat(60);
  assert.is(
    redactCredentials(`https://discord.com/api/v10/webhooks/123456789012345678/${token}?wait=true`),
    'https://discord.com/api/v10/webhooks/123456789012345678/***?wait=true',
  );
  const text = redactCredentials(`POST /webhooks/1/${token}/messages/2 failed`);
  assert.not.ok(text.includes(token));
  assert.is(text, 'POST /webhooks/1/***/messages/2 failed');
});

test('property: for any user, password, host and surrounding text, the password never survives', () => {
  const part = (chars: string) => fc.string({ unit: fc.constantFrom(...chars.split('')), minLength: 1, maxLength: 20 });
  const safe = "abcdefghijklmnopqrstuvwxyz0123456789-._~%!$&'()*+,;=";
  fc.assert(
    fc.property(
      fc.constantFrom('redis', 'rediss', 'postgres', 'postgresql', 'https', 'http'),
      part(safe),
      part(`${safe}:`).map((p) => `PW${p}`),
      part('abcdefghijklmnopqrstuvwxyz0123456789.-'),
      fc.string({ maxLength: 40 }).filter((s) => !s.includes('PW')),
      fc.string({ maxLength: 40 }).filter((s) => !s.includes('PW')),
      (scheme, user, password, host, before, after) => {
        const text = `${before} ${scheme}://${user}:${password}@${host}/x ${after}`;
        const out = redactCredentials(text);
        assert.not.ok(out.includes(password), out);
        assert.ok(out.includes(`${scheme}://${user}:***@${host}/x`), out);
      },
    ),
    { numRuns: 300 },
  );
});

test('the logger hides URL passwords in url fields, nested urls, error messages and stacks, and the token whole', () => {
  const lines: string[] = [];
  const log = createLogger('info', { write: (line: string) => void lines.push(line) });
  log.info(
    { url: 'https://reader:feed-pw@blog.example/feed', feed: { url: 'https://reader:nested-pw@blog.example/feed' }, token: 'discord-token-value' },
    'feed added',
  );
  log.warn({ err: new Error('REDIS_URL=redis://:redis-pw@cache:6379 does not answer') }, 'redis connection error');
  log.warn({ error: 'could not reach postgres://blog:pg-pw@db/blog', databaseUrl: 'postgres://blog:pg-pw@db/blog' }, 'feed poll failed');
  const out = lines.join('');
  for (const secret of ['feed-pw', 'nested-pw', 'redis-pw', 'pg-pw', 'discord-token-value']) assert.not.ok(out.includes(secret), `${secret} leaked: ${out}`);
  const [first, second] = lines.map((l) => JSON.parse(l));
  assert.is(first.url, 'https://reader:***@blog.example/feed', 'the URL itself is kept for the operator');
  assert.is(first.token, '[redacted]');
  assert.match(second.err.message, /redis:\/\/:\*\*\*@cache:6379/);
});

test.run();
