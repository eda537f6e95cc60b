import { Events } from 'discord.js';
import { defineListener } from '../listener.ts';

/** Renamed or archived: nothing to lose. Unarchived: catch the thread up (cheap, deduplicated per thread). */
export default defineListener({
  name: 'mirror: thread update',
  event: Events.ThreadUpdate,
  run(ctx, oldThread, newThread) {
    const unarchived = oldThread.archived === true && newThread.archived === false;
    return ctx.mirror.threadUpdated(newThread.id, { unarchived });
  },
});
