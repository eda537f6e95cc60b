import { Events } from 'discord.js';
import { defineListener } from '../listener.ts';

/** A deleted post thread turns every comment of it into a tombstone. */
export default defineListener({
  name: 'mirror: thread delete',
  event: Events.ThreadDelete,
  run(ctx, thread) {
    return ctx.mirror.threadDeleted(thread.id);
  },
});
