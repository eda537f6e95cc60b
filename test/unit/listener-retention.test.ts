// A gateway event waiting for its write must not keep discord.js's objects alive: with a backlog of tens of
// thousands of events on a slow database, an async listener holding each Message (~5 KB with its author,
// reactions and collections) until its batch was committed was most of the bot's peak memory.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { ListenerContext } from '../../src/discord/listener.ts';
import { listeners } from '../../src/discord/listeners/index.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const test = suite('listeners: a pending write holds plain data only');

/** A context whose writes wait until the test ends (their resolvers kept, as a writer's queue keeps them), and what was handed to them. */
const waiting: Array<() => void> = [];
function stalledContext() {
  const handed: unknown[] = [];
  const never = (arg: unknown) => {
    handed.push(arg);
    return new Promise<void>((resolve) => waiting.push(resolve));
  };
  const ctx = {
    ratings: { submit: never },
    mirror: { messageSeen: never, messagesDeleted: (_c: string, ids: unknown) => never(ids), announcementsDeleted: never },
    log: { error: () => {} },
  } as unknown as ListenerContext;
  return { ctx, handed };
}

const listener = (name: string) => listeners.find((l) => l.name === name)!;
const client = { channels: { cache: new Map() }, user: { id: 'bot' } };

/** Calls the listener with objects only a WeakRef knows of, then checks they are collected while its promise waits. */
async function collectedWhilePending(name: string, make: () => unknown[]): Promise<{ handed: unknown[] }> {
  const { ctx, handed } = stalledContext();
  const refs: WeakRef<object>[] = [];
  const pending = (() => {
    const args = make();
    for (const a of args) if (a && typeof a === 'object') refs.push(new WeakRef(a));
    return (listener(name).run as (c: ListenerContext, ...a: unknown[]) => unknown)(ctx, ...args);
  })();
  assert.ok(pending instanceof Promise, `${name} waits for its write`);
  // WeakRef targets live until the current job ends: collect from a later macrotask.
  await new Promise((r) => setTimeout(r, 0));
  gc();
  assert.equal(
    refs.map((r) => r.deref() === undefined),
    refs.map(() => true),
    `${name}: discord.js objects released while the write waits`,
  );
  assert.is(handed.length, 1);
  return { handed };
}

test('a keycap reaction waiting for its batch keeps neither the reaction, its message nor the user', async () => {
  const { handed } = await collectedWhilePending('reactionAdd', () => [
    { message: { id: 'm1', channelId: 'c1', client }, emoji: { id: null, name: '1️⃣' }, partial: false },
    { id: 'u1', bot: false, client },
  ]);
  const { canManageMessages, ...event } = handed[0] as { canManageMessages: () => boolean };
  assert.equal(event, {
    kind: 'add',
    messageId: 'm1',
    channelId: 'c1',
    userId: 'u1',
    emoji: { id: null, name: '1️⃣' },
    isBot: false,
  });
  // Asked only when a switch needs it, from the client and the channel's id (the channel is not cached here).
  assert.is(canManageMessages(), false);
});

test('a removed reaction, all reactions cleared and one emoji cleared: the same', async () => {
  await collectedWhilePending('reactionRemove', () => [
    { message: { id: 'm1', channelId: 'c1', client }, emoji: { id: null, name: '2️⃣' }, partial: true },
    { id: 'u1', bot: false, client },
    { burst: false },
  ]);
  await collectedWhilePending('reactionRemoveAll', () => [{ id: 'm1', channelId: 'c1', client }]);
  await collectedWhilePending('reactionRemoveEmoji', () => [{ message: { id: 'm1', channelId: 'c1', client }, emoji: { id: null, name: '3️⃣' } }]);
});

test('a reply in a thread waiting for the mirror keeps no Message', async () => {
  const { handed } = await collectedWhilePending('mirror: message create', () => [
    {
      inGuild: () => true,
      channel: { isThread: () => true },
      partial: false,
      id: 'r1',
      channelId: 't1',
      type: 0,
      author: { id: 'u1', bot: false, system: false, username: 'reader', globalName: null, avatar: null },
      system: false,
      webhookId: null,
      member: null,
      content: 'hello',
      reference: null,
      attachments: new Map(),
      createdTimestamp: Date.UTC(2026, 11, 4),
      editedTimestamp: null,
    },
  ]);
  assert.is((handed[0] as { id: string }).id, 'r1');
});

test('messages deleted one by one and in bulk: only their ids are kept', async () => {
  await collectedWhilePending('mirror: message delete', () => [{ id: 'r1', channelId: 't1', channel: { isThread: () => true } }]);
  await collectedWhilePending('mirror: message bulk delete', () => [new Map([['r1', {}]]), { id: 't1', isThread: () => true }]);
});

test.after(() => {
  for (const resolve of waiting.splice(0)) resolve();
});

test.run();
