// The one rule for text that comes from outside (feeds, what people type): characters no field should hold.
// PostgreSQL refuses NUL in text; C0/C1 controls (ESC, BEL, …) reach Discord and terminals as escape sequences.

/** C0 controls but tab and newline, DEL and C1 controls. */
const CONTROLS = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F]/g;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * `value` without NUL and C0/C1 control characters (tab and newline kept; CR LF and a lone CR become a newline),
 * lone surrogates replaced by U+FFFD (they cannot be stored as UTF-8).
 */
export function stripControls(value: string): string {
  const text = value.includes('\r') ? value.replace(/\r\n?/g, '\n') : value;
  return text.replace(CONTROLS, '').replace(LONE_SURROGATE, '\uFFFD');
}

/** Numeric character references to the same control characters (`&#0;`, `&#x1b;`) in HTML, which decode to them later. */
const CONTROL_REFERENCE = /&#(?:[xX]0*([0-9a-fA-F]{1,6})|0*([0-9]{1,7}));?/g;

/** HTML with the control characters and the references to them removed. */
export function stripHtmlControls(html: string): string {
  const text = stripControls(html);
  if (!text.includes('&#')) return text;
  return text.replace(CONTROL_REFERENCE, (ref, hex: string | undefined, dec: string | undefined) => {
    const code = hex !== undefined ? parseInt(hex, 16) : Number(dec);
    return (code <= 0x1f && code !== 0x09 && code !== 0x0a) || (code >= 0x7f && code <= 0x9f) ? '' : ref;
  });
}
