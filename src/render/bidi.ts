/** Bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069): they can disguise names and links. */
const BIDI_CONTROLS = /[\u202a-\u202e\u2066-\u2069]/g;

/** Text without bidirectional overrides, for anything shown of a title, a name or a description. */
export function stripBidi(text: string): string {
  return text.replace(BIDI_CONTROLS, '');
}
