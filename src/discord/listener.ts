import type { Client, ClientEvents } from 'discord.js';
import type { AppContext } from '../context.ts';
import type { Mirror } from '../services/mirror.ts';
import type { ReactionProcessor } from '../services/reaction-processor.ts';

/** What listeners are handed: a gateway process's context, whose mirror and rating processor always exist. */
export type ListenerContext = AppContext & { readonly mirror: Mirror; readonly ratings: ReactionProcessor };

/**
 * One gateway listener: one event, one function. Errors are caught and logged with the listener's name.
 *
 * A listener reads what it needs from discord.js's objects at once and hands on plain data: its promise may wait
 * for a write (a rating resolves once its batch is committed), and an `async` function would keep its arguments
 * (a Message with its author, member, reactions and collections: ~5 KB) alive until then. With a backlog of tens of
 * thousands of events on a slow database, that was most of the bot's peak memory. So a listener that waits is a
 * plain function returning the promise of the plain call.
 */
export interface Listener<E extends keyof ClientEvents = keyof ClientEvents> {
  name: string;
  event: E;
  run(ctx: ListenerContext, ...args: ClientEvents[E]): Promise<unknown> | void;
}

/** A listener of any event, for lists of them (each keeps its own event's argument types where it is defined). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a list mixes listeners of different events
export type AnyListener = Listener<any>;

export const defineListener = <E extends keyof ClientEvents>(l: Listener<E>): Listener<E> => l;

/** Attaches listeners so that none of them can crash the process or another listener. */
export function wireListeners(client: Client, ctx: ListenerContext, listeners: readonly AnyListener[]): void {
  for (const listener of listeners) {
    client.on(listener.event, (...args: unknown[]) => {
      try {
        const result = listener.run(ctx, ...(args as never[]));
        if (result instanceof Promise) result.catch((err: unknown) => ctx.log.error({ err, listener: listener.name }, 'listener failed'));
      } catch (err) {
        ctx.log.error({ err, listener: listener.name }, 'listener failed');
      }
    });
  }
}
