// The announcement refresh request (jobs/refresh.ts), on real Redis: BullMQ deduplication debounces it, and
// requests are coalesced in process only behind a refresh this process created itself.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { closeQueues, createQueues } from '../../src/jobs/queues.ts';
import { scheduleAnnouncementRefresh } from '../../src/jobs/refresh.ts';
import { createRedis } from '../../src/redis.ts';
import { REDIS_URL } from '../support/bot.ts';

const test = suite('announcement refresh requests');
const redis = createRedis(REDIS_URL, { maxRetriesPerRequest: 3 });
const prefix = `trefresh${Date.now().toString(36)}`;
const queues = createQueues(redis, prefix);
/** Another process's producer on the same queues. */
const elsewhere = createQueues(redis, prefix);

let adds = 0;
const add = queues.refresh.add.bind(queues.refresh);
queues.refresh.add = ((...args: Parameters<typeof add>) => (adds++, add(...args))) as typeof add;

test.after(async () => {
  await closeQueues(queues);
  await closeQueues(elsewhere);
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length) await redis.del(...keys);
  await redis.quit();
});

test('a storm of requests for one post: one delayed refresh in Redis, one round trip while it certainly waits', async () => {
  for (let i = 0; i < 50; i++) await scheduleAnnouncementRefresh(queues, 'post-a', 5000);
  assert.is(adds, 1, 'the first request created the refresh; the next 49 were coalesced in process');
  const delayed = await queues.refresh.getDelayed();
  assert.equal(
    delayed.map((j) => j.data),
    [{ postId: 'post-a' }],
  );
  await scheduleAnnouncementRefresh(queues, 'post-b', 5000);
  assert.is(adds, 2, 'another post is not coalesced with the first');
  assert.is((await queues.refresh.getDelayed()).length, 2);
});

test('a refresh made by another process is joined but not trusted: every request still reaches Redis', async () => {
  await scheduleAnnouncementRefresh(elsewhere, 'post-c', 5000);
  const before = adds;
  for (let i = 0; i < 3; i++) await scheduleAnnouncementRefresh(queues, 'post-c', 5000);
  assert.is(adds - before, 3, 'the joined refresh may run sooner than ours would: no coalescing');
  assert.is((await queues.refresh.getDelayed()).filter((j) => j.data.postId === 'post-c').length, 1, 'BullMQ still keeps one');
});

test('short delays are not coalesced (no margin for clock skew)', async () => {
  const before = adds;
  for (let i = 0; i < 3; i++) await scheduleAnnouncementRefresh(queues, 'post-d', 200);
  assert.is(adds - before, 3);
});

test.run();
