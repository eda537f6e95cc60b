// The seed post and its discussion (the project's fixtures, shipped with the package) and the feed the demo's blog serves.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface SeedPost {
  title: string;
  author: string;
  date: string;
  isoDate: string;
  paragraphs: string[];
}
export interface SeedComment {
  id: string;
  author: string;
  replyTo: string | null;
  depth: number;
  text: string;
}

/** The package root (the folder of blogcord's package.json), from the sources or from the build in dist/. */
export function packageRoot(from = fileURLToPath(import.meta.url)): string {
  let dir = dirname(from);
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'blogcord') return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('blogcord demo: the package root (package.json of blogcord) was not found');
    dir = up;
  }
}

export function loadSeed(): { post: SeedPost; comments: SeedComment[] } {
  const dir = join(packageRoot(), 'test', 'fixtures');
  const post = JSON.parse(readFileSync(join(dir, 'seed-post.json'), 'utf8')) as SeedPost;
  const { comments } = JSON.parse(readFileSync(join(dir, 'seed-discussion.json'), 'utf8')) as { comments: SeedComment[] };
  return { post, comments };
}

/** The post's path on the demo blog (as the original WordPress blog had it). */
export const POST_PATH = '/2017/10/12/what-do-wechat-and-lord-of-the-rings-have-in-common/';

export const escapeXml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** The blog's RSS 2.0 feed: the one seed post, with its full text. */
export function seedFeed(blogUrl: string, post: SeedPost): string {
  const html = post.paragraphs.map((p) => `<p>${escapeXml(p)}</p>`).join('');
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>` +
    `<title>Digital Strategy (blogcord demo)</title><link>${escapeXml(blogUrl)}/</link><description>The demo blog</description>\n` +
    `<item><title>${escapeXml(post.title)}</title><link>${escapeXml(blogUrl + POST_PATH)}</link>` +
    `<guid isPermaLink="true">${escapeXml(blogUrl + POST_PATH)}</guid><pubDate>${new Date(`${post.isoDate}T09:00:00Z`).toUTCString()}</pubDate>` +
    `<dc:creator>${escapeXml(post.author)}</dc:creator><description>${escapeXml(html)}</description></item>\n</channel></rss>\n`
  );
}
