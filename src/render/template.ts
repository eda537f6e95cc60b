// A feed's announcement template (`/feed add|edit template:`): the content line above the embed, with placeholders.
// Pure: text in, text out. Values from the feed are escaped (markdown, mentions); the operator's own text keeps its
// markdown; nothing in the result can ping @everyone/@here or mention anything but the feed's ping role.
import { httpUrl } from '../feeds/html.ts';
import { MESSAGE_CONTENT_MAX } from './limits.ts';
import { escapeMarkdown, plainText, stripBidi } from './markdown.ts';
import { cutText } from './post.ts';

export const PLACEHOLDERS = ['title', 'url', 'author', 'summary', 'categories', 'feed', 'date', 'ping'] as const;
export type Placeholder = (typeof PLACEHOLDERS)[number];

/** The longest template accepted (the rendered line must also fit Discord's 2,000 characters). */
export const TEMPLATE_MAX = 1000;

/** What the placeholders of one item stand for. */
export interface TemplateItem {
  title: string;
  url: string | null;
  author: string | null;
  summaryHtml: string | null;
  categories: readonly string[];
  feedTitle: string | null;
  publishedAt: string | null;
}

export class TemplateError extends Error {
  override name = 'TemplateError';
}

const PLACEHOLDER = /\{([^{}\n]{0,40})\}/g;
const ZWSP = '\u200b';
// Stand-ins for the two trusted mentions while the rest is made safe; removed from every other text first.
const PING = '\ue000';
const DATE = '\ue001';
const SENTINELS = /[\ue000\ue001]/g;

/** A template's parts: literal text and placeholders, in order. Throws TemplateError for an unknown placeholder. */
export function parseTemplate(template: string): Array<{ text: string } | { placeholder: Placeholder }> {
  if (template.length > TEMPLATE_MAX) throw new TemplateError(`A template is at most ${TEMPLATE_MAX} characters (this one has ${template.length}).`);
  const parts: Array<{ text: string } | { placeholder: Placeholder }> = [];
  let last = 0;
  for (const m of template.matchAll(PLACEHOLDER)) {
    const name = m[1]!.trim().toLowerCase();
    if (!(PLACEHOLDERS as readonly string[]).includes(name)) {
      throw new TemplateError(
        `Unknown placeholder \`{${cutText(m[1]!, 40).replaceAll('`', '')}}\`: a template knows ${PLACEHOLDERS.map((p) => `{${p}}`).join(' ')}.`,
      );
    }
    if (m.index > last) parts.push({ text: template.slice(last, m.index) });
    parts.push({ placeholder: name as Placeholder });
    last = m.index + m[0].length;
  }
  if (last < template.length) parts.push({ text: template.slice(last) });
  return parts;
}

const clean = (text: string) => stripBidi(text.replace(SENTINELS, ''));

/** Mentions made inert: @everyone/@here wherever they appear (also put together from two parts), user, role and channel mentions. */
export function neutraliseAll(text: string): string {
  return text.replace(/@(?=everyone|here)/gi, `@${ZWSP}`).replace(/<(?=[@#]|\/[\w-]|a?:\w+:\d|t:\d)/g, `<${ZWSP}`);
}

function value(name: Exclude<Placeholder, 'ping' | 'date'>, item: TemplateItem): string {
  switch (name) {
    case 'title':
      return escapeMarkdown(cutText(clean(item.title), 256));
    case 'url': {
      const url = httpUrl(item.url);
      return url ? clean(url) : '';
    }
    case 'author':
      return item.author ? escapeMarkdown(cutText(clean(item.author), 100)) : '';
    case 'summary':
      return escapeMarkdown(cutText(clean(plainText(item.summaryHtml)), 500));
    case 'categories':
      return escapeMarkdown(cutText(clean(item.categories.join(', ')), 300));
    case 'feed':
      return item.feedTitle ? escapeMarkdown(cutText(clean(item.feedTitle), 100)) : '';
  }
}

/**
 * The announcement's content line for an item: the template with its placeholders filled (null template: just the
 * ping, or nothing). The ping role's mention appears once where `{ping}` is, else first. Null when there is no line.
 */
export function renderTemplate(template: string | null, item: TemplateItem, pingRoleId: string | null): string | null {
  const parts = template === null ? [] : parseTemplate(template);
  let out = '';
  let pinged = false;
  for (const part of parts) {
    if ('text' in part) out += clean(part.text);
    else if (part.placeholder === 'ping') {
      if (pingRoleId && !pinged) out += PING;
      pinged = true;
    } else if (part.placeholder === 'date') {
      const t = item.publishedAt ? Date.parse(item.publishedAt) : NaN;
      if (!Number.isNaN(t)) out += DATE;
    } else out += value(part.placeholder, item);
  }
  if (pingRoleId && !pinged) out = out.trim() ? `${PING} ${out}` : PING;
  out = neutraliseAll(out.trim());
  if (!out) return null;
  const t = item.publishedAt ? Date.parse(item.publishedAt) : NaN;
  return out.replace(PING, pingRoleId ? `<@&${pingRoleId}>` : '').replaceAll(DATE, Number.isNaN(t) ? '' : `<t:${Math.floor(t / 1000)}:D>`);
}

/** Whether a rendered line fits Discord's message content (with `rest`, e.g. the fallback's title and link, below it). */
export function fitsContent(line: string, rest = ''): boolean {
  return line.length + (rest ? rest.length + 1 : 0) <= MESSAGE_CONTENT_MAX;
}
