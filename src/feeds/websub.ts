// The subscriber's side of WebSub (W3C Recommendation, §5–§7) that talks to hubs: the subscription request
// (SSRF-guarded like a feed fetch) and the check of a content distribution's X-Hub-Signature.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { FeedError } from './errors.ts';
import { checkFeedUrl, guardedAgent, undici } from './fetch.ts';
import { isPublicAddress } from './guard.ts';
import type { FetchFeedOptions } from './types.ts';

export interface HubRequest {
  mode: 'subscribe' | 'unsubscribe';
  topic: string;
  callback: string;
  secret?: string;
  leaseSeconds?: number;
}

/**
 * Sends a (un)subscription request to a hub: a form POST; the hub answers 202 Accepted and verifies the intent
 * later at the callback. Any 2xx is taken. The hub URL passes the private-address guard like a feed URL; redirects
 * are not followed. Throws FeedError (code 'hub') with the hub's status and the first 200 characters of its answer.
 */
export async function requestHub(
  hubUrl: string,
  req: HubRequest,
  opts: Pick<FetchFeedOptions, 'allowPrivateNetwork' | 'addressPolicy' | 'userAgent' | 'timeoutMs'>,
): Promise<number> {
  const isAllowed = opts.addressPolicy ?? isPublicAddress;
  const url = checkFeedUrl(hubUrl, opts.allowPrivateNetwork, isAllowed);
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const agent = guardedAgent({ ...opts, connectTimeoutMs: Math.min(10_000, Math.ceil(timeoutMs / 2)) }, () => url.href);
  const form = new URLSearchParams({ 'hub.mode': req.mode, 'hub.topic': req.topic, 'hub.callback': req.callback });
  if (req.secret) form.set('hub.secret', req.secret);
  if (req.leaseSeconds) form.set('hub.lease_seconds', String(req.leaseSeconds));
  try {
    const response = await undici().request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': opts.userAgent },
      body: form.toString(),
      dispatcher: agent,
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = (await response.body.text().catch(() => '')).slice(0, 200).replace(/[\u0000-\u001f]+/g, ' ');
    if (response.statusCode < 200 || response.statusCode >= 300) {
      throw new FeedError('http-status', `The hub ${url.host} refused the ${req.mode} request: HTTP ${response.statusCode}${text ? ` (${text.trim()})` : ''}`, {
        url: url.href,
        status: response.statusCode,
      });
    }
    return response.statusCode;
  } catch (err) {
    if (err instanceof FeedError) throw err;
    let cause: unknown = err;
    for (let i = 0; cause && i < 5; i++) {
      if (cause instanceof FeedError) throw cause;
      cause = (cause as { cause?: unknown }).cause;
    }
    const reason = (err as { code?: string }).code ?? (err instanceof Error ? err.message : String(err));
    throw new FeedError('network', `Could not reach the hub ${url.host}: ${reason}`, { url: url.href, cause: err });
  } finally {
    agent.destroy().catch(() => {});
  }
}

export const SIGNATURE_METHODS = ['sha1', 'sha256', 'sha384', 'sha512'] as const;

/**
 * Whether a content distribution is signed with the subscription's secret: `X-Hub-Signature: method=hexdigest`,
 * method one of sha1/sha256/sha384/sha512, the HMAC of the raw body. Constant-time comparison; a missing, malformed
 * or unknown-method header is not signed.
 */
export function verifyHubSignature(header: string | undefined | null, secret: string, body: Buffer): boolean {
  if (!header) return false;
  const m = /^\s*(sha1|sha256|sha384|sha512)=([0-9a-fA-F]+)\s*$/.exec(header);
  if (!m) return false;
  const expected = createHmac(m[1]!, secret).update(body).digest();
  const given = Buffer.from(m[2]!, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}
