// Every gateway listener of the bot, one file per event (grouped by feature as they grow).
import type { AnyListener } from '../listener.ts';
import messageCreate from './messageCreate.ts';
import messageDelete from './messageDelete.ts';
import messageDeleteBulk from './messageDeleteBulk.ts';
import messageUpdate from './messageUpdate.ts';
import threadCreate from './threadCreate.ts';
import threadDelete from './threadDelete.ts';
import threadUpdate from './threadUpdate.ts';
import reactionAdd from './messageReactionAdd.ts';
import reactionRemoveAll from './messageReactionRemoveAll.ts';
import reactionRemoveEmoji from './messageReactionRemoveEmoji.ts';
import reactionRemove from './messageReactionRemove.ts';
import ready from './ready.ts';
import shardReady from './shardReady.ts';

export const listeners: readonly AnyListener[] = [
  ready,
  shardReady,
  reactionAdd,
  reactionRemove,
  reactionRemoveAll,
  reactionRemoveEmoji,
  messageCreate,
  messageUpdate,
  messageDelete,
  messageDeleteBulk,
  threadCreate,
  threadUpdate,
  threadDelete,
];
