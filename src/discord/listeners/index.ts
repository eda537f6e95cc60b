// Every gateway listener of the bot, one file per event (grouped by feature as they grow).
import type { Listener } from '../listener.ts';
import reactionAdd from './reaction-add.ts';
import reactionRemoveAll from './reaction-remove-all.ts';
import reactionRemoveEmoji from './reaction-remove-emoji.ts';
import reactionRemove from './reaction-remove.ts';
import ready from './ready.ts';

export const listeners: readonly Listener<any>[] = [ready, reactionAdd, reactionRemove, reactionRemoveAll, reactionRemoveEmoji];
