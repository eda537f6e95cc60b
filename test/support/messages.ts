// Messages and comments as the tests build them, one builder for each shape the mirror meets: a message as Discord's
// REST API returns it (APIMessage, what catch-up reads), a message as the gateway listener hands it to the mirror
// (MessageData), and the comment row the mirror writes (CommentInput). Each is alice's by default and takes its
// snowflake and time from `at` (ms); `over` replaces any field. MessageClock hands out the times.
import { MessageType, type APIMessage } from 'discord-api-types/v10';
import type { Db } from '../../src/db/index.ts';
import { upsertComments, type CommentInput } from '../../src/repositories/comments.ts';
import type { MessageData, PostThread } from '../../src/services/mirror.ts';
import { snowflake } from './snowflake.ts';

/** The author of every builder's message unless `over` says otherwise. */
export const ALICE = { id: '100000000000000001', username: 'alice' } as const;
/** The bot's user in discordMessage(…, { bot: true }). */
export const BOT_USER = { id: '900000000000000009', username: 'blogcord' } as const;

/** A message as Discord's REST API returns it; the bot's with `bot: true`. */
export function discordMessage(channelId: string, at: number, over: Partial<APIMessage> & { bot?: boolean } = {}): APIMessage {
  const { bot, ...rest } = over;
  const author = bot ? BOT_USER : ALICE;
  return {
    id: snowflake(at),
    channel_id: channelId,
    type: MessageType.Default,
    author: { id: author.id, username: author.username, global_name: null, discriminator: '0', avatar: null, ...(bot ? { bot: true } : {}) },
    content: `message ${at}`,
    timestamp: new Date(at).toISOString(),
    edited_timestamp: null,
    attachments: [],
    embeds: [],
    mentions: [],
    mention_roles: [],
    pinned: false,
    mention_everyone: false,
    tts: false,
    ...rest,
  } as APIMessage;
}

/** A message in a post's thread as the gateway listener hands it to the mirror. */
export function messageData(thread: Pick<PostThread, 'threadId'>, at: number, over: Partial<MessageData> = {}): MessageData {
  return {
    id: snowflake(at),
    channelId: thread.threadId,
    type: MessageType.Default,
    authorId: ALICE.id,
    authorBot: false,
    webhookId: null,
    authorName: ALICE.username,
    content: `hello ${at}`,
    reference: null,
    attachments: [],
    createdAt: new Date(at).toISOString(),
    editedAt: null,
    ...over,
  };
}

/** A comment row as the mirror writes it. */
export function commentInput(thread: Pick<PostThread, 'postId' | 'threadId'>, at: number, over: Partial<CommentInput> = {}): CommentInput {
  return {
    id: snowflake(at),
    postId: thread.postId,
    threadId: thread.threadId,
    authorId: ALICE.id,
    authorName: ALICE.username,
    content: `hello ${at}`,
    replyToId: null,
    attachments: [],
    createdAt: new Date(at).toISOString(),
    editedAt: null,
    ...over,
  };
}

/**
 * Message times that advance 10 ms per message from an hour ago (they stay in the past however many a test
 * makes); `now` is the last time handed out, so `now + 500` is a later edit.
 */
export class MessageClock {
  now: number;

  constructor(start = Date.now() - 3_600_000) {
    this.now = start;
  }

  next(): number {
    this.now += 10;
    return this.now;
  }

  apiMessage(channelId: string, over: Partial<APIMessage> & { bot?: boolean } = {}): APIMessage {
    return discordMessage(channelId, this.next(), over);
  }

  message(thread: Pick<PostThread, 'threadId'>, over: Partial<MessageData> = {}): MessageData {
    return messageData(thread, this.next(), over);
  }

  comment(thread: Pick<PostThread, 'postId' | 'threadId'>, over: Partial<CommentInput> = {}): CommentInput {
    return commentInput(thread, this.next(), over);
  }
}

/**
 * Stores one comment of `author` (`user <author>`) on a post at `createdAt`, in a thread of its own, and returns
 * its id (the snowflake of its time): the digest's window counts read only the post, the author and the time.
 */
export async function storeComment(db: Db, postId: string, author: string, createdAt: string, replyToId: string | null = null): Promise<string> {
  const comment = commentInput({ postId, threadId: snowflake() }, Date.parse(createdAt), {
    authorId: author,
    authorName: `user ${author}`,
    content: 'hi',
    replyToId,
    createdAt,
  });
  await upsertComments(db, [comment]);
  return comment.id;
}
