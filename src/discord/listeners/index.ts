// Every gateway listener of the bot, one file per event (grouped by feature as they grow).
import type { Listener } from '../listener.ts';
import ready from './ready.ts';

export const listeners: readonly Listener<any>[] = [ready];
