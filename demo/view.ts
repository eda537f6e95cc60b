// What the demo page's Discord pane shows: the channel and the post's thread, read from the emulator's state.
import type { APIEmbed, APIMessage } from 'discord-api-types/v10';
import type { DiscordEmulator } from '../emulator/index.ts';
import type { ShownCommand } from './story.ts';

export interface ShownMessage {
  id: string;
  author: string;
  bot: boolean;
  content: string;
  embeds: APIEmbed[];
  attachments: Array<{ url: string; filename: string; image: boolean }>;
  reactions: Array<{ emoji: string; count: number }>;
  edited: boolean;
  replyTo: { author: string; excerpt: string } | null;
  at: string;
  thread: boolean;
}

export interface DemoState {
  steps: Array<{ at: string; text: string }>;
  finished: boolean;
  error: string | null;
  channel: { name: string; messages: ShownMessage[] } | null;
  thread: { name: string; messages: ShownMessage[] } | null;
  commands: ShownCommand[];
  blogPostUrl: string;
}

export function displayName(discord: DiscordEmulator, id: string): string {
  try {
    const u = discord.user(id);
    return u.global_name ?? u.username;
  } catch {
    return 'someone';
  }
}

/** Mentions written as Discord shows them: <@id> → @name, <#id> → #channel. */
export function resolveMentions(discord: DiscordEmulator, text: string): string {
  return text
    .replace(/<@!?(\d+)>/g, (_, id: string) => `@${displayName(discord, id)}`)
    .replace(/<#(\d+)>/g, (_, id: string) => {
      try {
        return `#${discord.channel(id).name ?? id}`;
      } catch {
        return '#channel';
      }
    });
}

/** Every string of an embed with its mentions resolved. */
export function resolveEmbeds(discord: DiscordEmulator, embeds: readonly APIEmbed[]): APIEmbed[] {
  const walk = (v: unknown): unknown =>
    typeof v === 'string'
      ? resolveMentions(discord, v)
      : Array.isArray(v)
        ? v.map(walk)
        : v && typeof v === 'object'
          ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]))
          : v;
  return embeds.map((e) => walk(e) as APIEmbed);
}

function shown(discord: DiscordEmulator, m: APIMessage): ShownMessage {
  const reactions = [...discord.reactions(m.id).entries()].filter(([, users]) => users.length > 0).map(([emoji, users]) => ({ emoji, count: users.length }));
  const parentId = m.message_reference?.message_id;
  const parent = parentId && m.message_reference?.channel_id !== undefined && parentId !== m.channel_id ? discord.message(parentId) : undefined;
  return {
    id: m.id,
    author: m.author.global_name ?? m.author.username,
    bot: m.author.bot === true,
    content: resolveMentions(discord, m.content),
    embeds: resolveEmbeds(discord, m.embeds ?? []),
    attachments: (m.attachments ?? []).map((a) => ({ url: a.url, filename: a.filename, image: (a.content_type ?? '').startsWith('image/') })),
    reactions,
    edited: m.edited_timestamp != null,
    replyTo: parent ? { author: parent.author.global_name ?? parent.author.username, excerpt: parent.content.replace(/\s+/g, ' ').slice(0, 90) } : null,
    at: m.timestamp,
    thread: (m as APIMessage & { thread?: unknown }).thread !== undefined,
  };
}

export function discordView(discord: DiscordEmulator, channelName: string): Pick<DemoState, 'channel' | 'thread'> {
  const channel = discord.channel(channelName);
  const messages = discord.messages(channelName);
  const announcement = messages.find((m) => m.author.id === discord.botUser.id && m.embeds?.length);
  let thread: DemoState['thread'] = null;
  if (announcement) {
    try {
      const t = discord.channel(announcement.id);
      thread = { name: t.name ?? 'thread', messages: discord.messages(t.id).map((m) => shown(discord, m)) };
    } catch {
      thread = null;
    }
  }
  return { channel: { name: channel.name ?? channelName, messages: messages.map((m) => shown(discord, m)) }, thread };
}
