// The notices blogcord posts in a feed's channel about the feed itself: a flood held back, a feed paused.
import type { Post } from '../repositories/posts.ts';
import { fitLines } from './digest.ts';
import { escapeMarkdown } from './markdown.ts';
import { cutText, shownUrl } from './post.ts';

/**
 * The notice of a flood held back: how many, why that happens, and the newest few to /publish by hand. `announced`:
 * how many of the newest were published anyway (the backfill asked for when /feed add resumed the feed).
 */
export function floodNotice(url: string, held: readonly Pick<Post, 'title' | 'url'>[], announced = 0): string {
  const head =
    `⚠️ blogcord found ${held.length + announced} new posts at once in ${shownUrl(url)} and announced ${announced ? `only the newest ${announced}` : 'none of them'}, so as not to flood this channel ` +
    `(a blog that moved to another platform or changed how its feed identifies posts looks like this).\n` +
    `${announced ? `The other ${held.length}` : 'They'} are saved and will not be announced later. An admin can announce one with \`/publish url:\`. The newest:`;
  const shown = held.slice(-5).reverse();
  const lines = shown.map((p) => `• ${escapeMarkdown(cutText(p.title, 100))}${p.url ? ` <${p.url}>` : ''}`);
  const text = `${head}\n${fitLines(lines, Math.max(0, 2000 - head.length - 1), held.length - shown.length)}`;
  return text.length > 2000 ? `${text.slice(0, 1999)}…` : text;
}

/** The notice of a feed paused after `failures` failed polls in a row, with the last reason and how to resume it. */
export function pauseNotice(url: string, channelId: string, reason: string, failures: number): string {
  const text =
    `⏸️ blogcord stopped checking ${shownUrl(url)} after ${failures} failed attempts in a row.\n` +
    `Last error: ${reason}\n` +
    `Once the feed works again, an admin can resume it with \`/feed add url:${url} channel:\` <#${channelId}> (nothing already posted is posted again).`;
  return text.length > 2000 ? `${text.slice(0, 1999)}…` : text;
}
