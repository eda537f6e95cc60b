import { Events } from 'discord.js';
import { defineListener } from '../listener.ts';

/** A new thread may be a post's thread published a moment ago: forget a cached "not a post thread". */
export default defineListener({
  name: 'mirror: thread create',
  event: Events.ThreadCreate,
  run(ctx, thread) {
    ctx.mirror.threadCreated(thread.id);
  },
});
