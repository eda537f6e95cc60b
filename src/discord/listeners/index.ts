// Every gateway listener of the bot, one file per event (grouped by feature as they grow).
import type { Listener } from '../listener.ts';
import messageCreate from './messageCreate.ts';
import messageDelete from './messageDelete.ts';
import messageDeleteBulk from './messageDeleteBulk.ts';
import messageUpdate from './messageUpdate.ts';
import threadCreate from './threadCreate.ts';
import threadDelete from './threadDelete.ts';
import threadUpdate from './threadUpdate.ts';
import reactionAdd from './reaction-add.ts';
import reactionRemoveAll from './reaction-remove-all.ts';
import reactionRemoveEmoji from './reaction-remove-emoji.ts';
import reactionRemove from './reaction-remove.ts';
import ready from './ready.ts';
import shardReady from './shardReady.ts';

export const listeners: readonly Listener<any>[] = [ready, shardReady, reactionAdd, reactionRemove, reactionRemoveAll, reactionRemoveEmoji, messageCreate, messageUpdate, messageDelete, messageDeleteBulk, threadCreate, threadUpdate, threadDelete];
