// The story the demo plays through the emulator's drivers, as people would in Discord: the admin follows the blog's
// feed and puts it on the web, members replay the seed's discussion in the post's thread (same tree), two rate it 5️⃣,
// one edits a reply, one deletes a message, and the admin posts the digest and looks the post up.
import type { APIMessage } from 'discord-api-types/v10';
import type { CommandResult, DiscordEmulator, EmulatorUserOptions } from '../emulator/index.ts';
import type { SeedComment } from './seed.ts';

export const ADMIN = 'rink';
export const CHANNEL = 'posts';
const RATERS = ['bram', 'yuxin'];

/** A fixture author's Discord user: its name in lower case, the three unnamed commenters as guests. */
export function seedUsers(comments: readonly SeedComment[]): { users: EmulatorUserOptions[]; userOf: Map<string, string> } {
  const userOf = new Map<string, string>();
  const users: EmulatorUserOptions[] = [{ username: ADMIN, globalName: 'Rink', manageGuild: true }];
  let guests = 0;
  for (const c of comments) {
    if (c.author === '(unnamed)') {
      guests += 1;
      const username = `guest${guests}`;
      users.push({ username, globalName: `Guest ${guests}` });
      userOf.set(c.id, username);
      continue;
    }
    const username = c.author.toLowerCase().replace(/[^a-z0-9_.]/g, '');
    if (!users.some((u) => u.username === username)) users.push({ username, globalName: c.author });
    userOf.set(c.id, username);
  }
  return { users, userOf };
}

/** A command's answer as the demo page shows it. */
export interface ShownCommand {
  user: string;
  command: string;
  content: string;
  embeds: APIMessage['embeds'];
  ephemeral: boolean;
  at: string;
}

export interface StoryHooks {
  step(text: string): void;
  command(shown: ShownCommand): void;
  /** Stops the story early (Ctrl-C). */
  readonly stopped: () => boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, check: () => T | undefined | Promise<T | undefined>, timeout = 30_000): Promise<T> {
  const until = Date.now() + timeout;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`the demo waited ${timeout / 1000} s for ${what}`);
    await sleep(100);
  }
}

export async function playStory(
  discord: DiscordEmulator,
  opts: { feedUrl: string; comments: readonly SeedComment[]; userOf: Map<string, string>; replayMs: number },
  hooks: StoryHooks,
): Promise<void> {
  const run = async (user: string, name: string, inv: NonNullable<Parameters<DiscordEmulator['runCommand']>[3]>, shownAs?: string): Promise<CommandResult> => {
    const res = await discord.runCommand(user, CHANNEL, name, { timeout: 30_000, ...inv });
    const shownOptions = Object.entries(inv.options ?? {})
      .map(([k, v]) => `${k}:${String(v)}`)
      .join(' ');
    hooks.command({
      user,
      command: shownAs ?? `/${name}${inv.subcommand ? ` ${inv.subcommand}` : ''}${shownOptions ? ` ${shownOptions}` : ''}`,
      content: res.content,
      embeds: res.embeds,
      ephemeral: res.ephemeral,
      at: new Date().toISOString(),
    });
    return res;
  };
  const bot = discord.botUser.id;

  hooks.step('Rink (the blog’s author, Manage Server) follows the blog’s feed in #posts');
  await run(ADMIN, 'feed', { subcommand: 'add', options: { url: opts.feedUrl, channel: CHANNEL, backfill: 1 } });
  await run(ADMIN, 'web', { subcommand: 'enable', options: { feed: opts.feedUrl } });
  const announcement = await waitFor('the announcement of the seed post', () =>
    discord.messages(CHANNEL).find((m) => m.author.id === bot && m.embeds?.length && discord.reactions(m.id).get('5️⃣')?.includes(bot)),
  );
  hooks.step('The bot announced the post with a thread and the rating reactions 1️⃣–5️⃣');
  const threadId = announcement.id;

  // The seed's 22 replies over replayMs, with the same reply tree; one more message is posted and deleted, one reply edited.
  const idOf = new Map<string, string>();
  const gap = Math.max(50, Math.floor(opts.replayMs / (opts.comments.length + 3)));
  hooks.step(`Members replay the seed’s ${opts.comments.length} replies in the thread`);
  let edit: { id: string; text: string } | null = null;
  for (const [i, c] of opts.comments.entries()) {
    if (hooks.stopped()) return;
    const user = opts.userOf.get(c.id)!;
    const replyTo = c.replyTo ? idOf.get(c.replyTo) : undefined;
    // Jade posts her reply with a typo and corrects it a moment later: an edit.
    const typo = c.author === 'Jade' && edit === null && c.text.includes(' the ') ? c.text.replace(' the ', ' teh ') : null;
    const m = await discord.say(user, threadId, typo ?? c.text, replyTo ? { replyTo } : {});
    idOf.set(c.id, m.id);
    if (typo) edit = { id: m.id, text: c.text };
    if (i === 4 && edit) {
      await discord.edit(edit.id, edit.text);
      hooks.step('Jade edited her reply (a typo)');
    }
    if (i === 6) {
      for (const rater of RATERS) await discord.react(rater, announcement, '5️⃣');
      hooks.step('Bram and Yuxin rated the post 5️⃣');
    }
    if (i === 9) {
      const oops = await discord.say('melvin', threadId, 'Oops, this was meant for another channel');
      await sleep(gap);
      await discord.delete(oops);
      hooks.step('Melvin deleted a message he posted in the wrong place');
    }
    await sleep(gap);
  }
  if (hooks.stopped()) return;
  hooks.step('Rink posts the weekly digest now');
  await run(ADMIN, 'digest', { subcommand: 'now' });
  const choices = await discord.autocomplete(ADMIN, CHANNEL, 'blog', { subcommand: 'show', focused: 'post', value: 'wechat' });
  const post = choices[0];
  if (!post) throw new Error('/blog show found no post for "wechat"');
  await run(ADMIN, 'blog', { subcommand: 'show', options: { post: String(post.value) } }, `/blog show post:${post.name}`);
  await run(ADMIN, 'feed', { subcommand: 'status', options: { feed: opts.feedUrl } });
}
