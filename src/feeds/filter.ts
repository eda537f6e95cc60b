// A feed's include/exclude filters (`/feed add|edit include: exclude:`): comma-separated terms matched
// case-insensitively against an item's categories (`category:news`), title words (`title:release`), author
// (`author:ann`) or any of them (a bare term). Pure.

export const FILTER_FIELDS = ['category', 'title', 'author'] as const;
export type FilterField = (typeof FILTER_FIELDS)[number];

export interface FilterTerm {
  /** null: a bare term, matched against every field. */
  field: FilterField | null;
  /** The term's words, normalised (lower case, accents kept). */
  words: string[];
  /** The term as shown back (`title:release`). */
  text: string;
}

export const FILTER_MAX = 1000;
export const FILTER_TERMS_MAX = 50;

export class FilterError extends Error {
  override name = 'FilterError';
}

/** What a filter looks at in an item. */
export interface FilterItem {
  title: string;
  author: string | null;
  categories: readonly string[];
}

/** Lower case, compatibility-normalised words (letters and digits of any script). */
export function words(text: string): string[] {
  return (
    text
      .normalize('NFKC')
      .toLowerCase()
      .match(/[\p{L}\p{N}]+/gu) ?? []
  );
}

/** Parses a filter's text into terms; throws FilterError with what is wrong. Empty text: no terms. */
export function parseFilter(text: string): FilterTerm[] {
  if (text.length > FILTER_MAX) throw new FilterError(`A filter is at most ${FILTER_MAX} characters (this one has ${text.length}).`);
  const terms: FilterTerm[] = [];
  for (const raw of text.split(',')) {
    const term = raw.trim();
    if (!term) continue;
    const m = /^([A-Za-z]+)\s*:(.*)$/s.exec(term);
    let field: FilterField | null = null;
    let body = term;
    if (m) {
      const name = m[1]!.toLowerCase();
      if (!(FILTER_FIELDS as readonly string[]).includes(name)) {
        throw new FilterError(`\`${name}:\` is not a filter field: use \`category:\`, \`title:\`, \`author:\` or a bare word (any of them).`);
      }
      field = name as FilterField;
      body = m[2]!.trim();
    }
    const w = words(body);
    if (w.length === 0) throw new FilterError(`The filter term \`${term.replaceAll('`', '')}\` has no word to look for (letters or digits).`);
    terms.push({ field, words: w, text: `${field ? `${field}:` : ''}${w.join(' ')}` });
  }
  if (terms.length > FILTER_TERMS_MAX) throw new FilterError(`A filter has at most ${FILTER_TERMS_MAX} terms (this one has ${terms.length}).`);
  return terms;
}

/** The filter as stored and shown: its terms, normalised, comma-separated; null when it has none. */
export function normaliseFilter(text: string): string | null {
  const terms = parseFilter(text);
  return terms.length ? terms.map((t) => t.text).join(', ') : null;
}

/** Whether `needle` occurs in `hay` as consecutive whole words. */
function containsWords(hay: readonly string[], needle: readonly string[]): boolean {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

const same = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((w, i) => w === b[i]);

/** Whether one term matches an item: a category equal to it (word for word), or its words in the title or author. */
export function termMatches(term: FilterTerm, item: FilterItem): boolean {
  const category = () => item.categories.some((c) => same(words(c), term.words));
  const title = () => containsWords(words(item.title), term.words);
  const author = () => containsWords(words(item.author ?? ''), term.words);
  switch (term.field) {
    case 'category':
      return category();
    case 'title':
      return title();
    case 'author':
      return author();
    case null:
      return category() || title() || author();
  }
}

export type FilterVerdict = { pass: true } | { pass: false; rule: string };

/**
 * Whether an item passes a feed's filters: with include terms, one of them must match; no exclude term may match.
 * A failing item's `rule` names why (`exclude: title:release`, `include: none of category:news, rust`).
 */
export function applyFilters(filters: { include: string | null; exclude: string | null }, item: FilterItem): FilterVerdict {
  const include = filters.include ? parseFilter(filters.include) : [];
  const exclude = filters.exclude ? parseFilter(filters.exclude) : [];
  const hit = exclude.find((t) => termMatches(t, item));
  if (hit) return { pass: false, rule: `exclude: ${hit.text}` };
  if (include.length && !include.some((t) => termMatches(t, item))) return { pass: false, rule: `include: none of ${include.map((t) => t.text).join(', ')}` };
  return { pass: true };
}
