// Discord's signed attachment URLs. Every attachment URL Discord hands out carries three query parameters:
// `ex` (hex unix seconds when it expires; 24 hours after it was issued), `is` (hex unix seconds when it was
// issued) and `hm` (a hex HMAC-SHA256 signature over the path and both times). The CDN answers an expired or
// badly signed (or unsigned) attachment URL with 404 "This content is no longer available."; a bot gets fresh URLs
// from `POST /attachments/refresh-urls`. The emulator signs with a secret of its own and has its own clock
// (`advanceClock`), so tests can make a URL expire without waiting a day.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const NO_LONGER_AVAILABLE = 'This content is no longer available.';

export class AttachmentSigner {
  private readonly secret = randomBytes(32);
  /** Added to Date.now(): `advanceClock` moves the emulator's time forward. */
  offsetMs = 0;

  constructor(
    /** How long a signed URL is valid (Discord: 24 hours). */
    public ttlSeconds = 86_400,
  ) {}

  now(): number {
    return Date.now() + this.offsetMs;
  }

  private mac(path: string, ex: string, is: string): string {
    return createHmac('sha256', this.secret).update(`${path}\u0000${ex}\u0000${is}`).digest('hex');
  }

  /** `url` (no query) with fresh `ex`, `is` and `hm` parameters, Discord's format (ending in `&`). */
  sign(url: string): string {
    const u = new URL(url);
    const issued = Math.floor(this.now() / 1000);
    const ex = (issued + this.ttlSeconds).toString(16);
    const is = issued.toString(16);
    return `${u.origin}${u.pathname}?ex=${ex}&is=${is}&hm=${this.mac(u.pathname, ex, is)}&`;
  }

  /** Whether a CDN request may be served: signed by this emulator and not expired. */
  check(pathname: string, query: URLSearchParams): 'ok' | 'expired' | 'bad-signature' {
    const ex = query.get('ex');
    const is = query.get('is');
    const hm = query.get('hm');
    if (!ex || !is || !hm || !/^[0-9a-f]{1,12}$/.test(ex) || !/^[0-9a-f]{1,12}$/.test(is) || !/^[0-9a-f]{64}$/.test(hm)) return 'bad-signature';
    const want = Buffer.from(this.mac(pathname, ex, is), 'hex');
    if (!timingSafeEqual(want, Buffer.from(hm, 'hex'))) return 'bad-signature';
    return parseInt(ex, 16) * 1000 <= this.now() ? 'expired' : 'ok';
  }

  /**
   * A fresh signed URL for an attachment URL this CDN serves (signed or not, expired or not), or null for a URL
   * that is not one of its attachments (Discord leaves those out of its answer).
   */
  refresh(url: string, baseUrl: string, exists: (pathname: string) => boolean): string | null {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      return null;
    }
    if (u.origin !== new URL(baseUrl).origin || !u.pathname.startsWith('/attachments/') || !exists(u.pathname)) return null;
    return this.sign(`${u.origin}${u.pathname}`);
  }
}
