import type Iconv from 'iconv-lite';
import { lazyRequire } from '../lazy-require.ts';

/** iconv-lite's tables (~0.5 MB of code), loaded with the first feed that needs a charset. */
const iconv = lazyRequire<typeof Iconv>('iconv-lite');

/**
 * Charset labels as browsers treat them (WHATWG Encoding): latin1 and ASCII labels really mean windows-1252,
 * gb2312/gbk mean GB18030's superset.
 */
function normaliseCharset(label: string): string | null {
  const name = label
    .trim()
    .replace(/^["']|["']$/g, '')
    .toLowerCase();
  if (!name) return null;
  if (['iso-8859-1', 'iso8859-1', 'latin1', 'latin-1', 'l1', 'us-ascii', 'ascii', 'cp1252', 'windows-1252'].includes(name)) {
    return 'windows-1252';
  }
  if (['gb2312', 'gbk', 'x-gbk', 'gb_2312-80', 'chinese', 'csgb2312', 'gb18030'].includes(name)) return 'gb18030';
  if (name === 'utf8') return 'utf-8';
  return iconv().encodingExists(name) ? name : null;
}

/** The charset parameter of a Content-Type header, if any. */
export function charsetFromContentType(contentType: string | null | undefined): string | null {
  if (!contentType) return null;
  const match = /;\s*charset\s*=\s*("[^"]*"|[^;\s]*)/i.exec(contentType);
  return match?.[1] ? match[1].replace(/"/g, '') : null;
}

/** The encoding="…" of an XML declaration at the start of the bytes (read as ASCII). */
export function charsetFromXmlDeclaration(bytes: Uint8Array): string | null {
  const head = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.byteLength, 1024)).toString('latin1');
  const match = /^\s*<\?xml[^>]*?\bencoding\s*=\s*["']([A-Za-z0-9._:-]+)["']/.exec(head);
  return match?.[1] ?? null;
}

function charsetFromBom(bytes: Uint8Array): string | null {
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) return 'utf-8';
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return 'utf-16le';
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return 'utf-16be';
  return null;
}

function isValidUtf8(bytes: Uint8Array): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/**
 * Decode a feed body to text. Order: a byte-order mark (unambiguous), then the Content-Type charset, then the
 * XML declaration's encoding, then UTF-8 — and when undeclared bytes are not valid UTF-8, windows-1252
 * (the usual undeclared Latin-1 feed). Double-encoded UTF-8 ("mojibake") is valid UTF-8 and is left as is.
 */
export function decodeFeedBytes(bytes: Uint8Array, contentType?: string | null): string {
  const bom = charsetFromBom(bytes);
  const declared = bom ?? normaliseCharset(charsetFromContentType(contentType) ?? '') ?? normaliseCharset(charsetFromXmlDeclaration(bytes) ?? '');
  let charset = declared;
  if (!charset) charset = isValidUtf8(bytes) ? 'utf-8' : 'windows-1252';
  // A feed that claims UTF-8 but is not (common with old CMSes) reads better as windows-1252 than with U+FFFD.
  if (charset === 'utf-8' && !bom && !isValidUtf8(bytes)) charset = 'windows-1252';
  const text = iconv().decode(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), charset);
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}
