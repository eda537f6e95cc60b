import dns from 'node:dns';
import net from 'node:net';
import ipaddr from 'ipaddr.js';
import { FeedError } from './errors.ts';

/**
 * True when the address is an ordinary public unicast address. Refused: loopback, RFC 1918 private, link-local,
 * multicast, broadcast, unspecified, CGNAT (100.64/10), reserved/documentation/benchmarking ranges, IPv6 unique-local
 * (fc00::/7), site-local, anything outside global unicast 2000::/3, and IPv4-mapped / NAT64 / 6to4 forms of any refused
 * IPv4 address. Unparseable input is not public.
 */
export function isPublicAddress(address: string): boolean {
  let addr: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    const bare = address.replace(/^\[|\]$/g, '').replace(/%.*$/, ''); // brackets, IPv6 zone id
    if (!net.isIP(bare)) return false;
    addr = ipaddr.parse(bare);
  } catch {
    return false;
  }
  if (addr.kind() === 'ipv4') return addr.range() === 'unicast';
  const v6 = addr as ipaddr.IPv6;
  if (v6.isIPv4MappedAddress()) return isPublicAddress(v6.toIPv4Address().toString());
  const parts = v6.parts;
  const embedded = (hi: number, lo: number) => `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
  const range = v6.range();
  // NAT64 (64:ff9b::/96) carries an IPv4 address in its last 32 bits, 6to4 (2002::/16) in bits 16–48.
  if (range === 'rfc6052' && parts[6] !== undefined && parts[7] !== undefined) return isPublicAddress(embedded(parts[6], parts[7]));
  if (range === '6to4' && parts[1] !== undefined && parts[2] !== undefined) return isPublicAddress(embedded(parts[1], parts[2]));
  if (range !== 'unicast') return false;
  // ipaddr.js calls every unlisted address 'unicast'; only 2000::/3 is globally routed.
  return ((parts[0] ?? 0) & 0xe000) === 0x2000;
}

export function privateAddressError(url: string, address: string): FeedError {
  return new FeedError('private-address', `${url} resolves to ${address}, a private address; set FEED_ALLOW_PRIVATE_NETWORK=true to allow it`, { url });
}

type LookupAddress = { address: string; family: number };
type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `dns.lookup` replacement for net/tls `connect({ lookup })`: resolves, then refuses the connection when any
 * resolved address is not public. Because it runs inside the connection attempt, it checks the very addresses the
 * socket will use (no separate pre-resolution that DNS rebinding could race).
 */
export function guardedLookup(url: () => string, isAllowed: (address: string) => boolean = isPublicAddress) {
  return function lookup(hostname: string, options: dns.LookupOptions | number | LookupCallback, callback?: LookupCallback): void {
    const cb = (typeof options === 'function' ? options : callback) as LookupCallback;
    const opts: dns.LookupOptions = typeof options === 'object' && options !== null ? options : typeof options === 'number' ? { family: options } : {};
    dns.lookup(hostname, { ...opts, all: true }, (err, addresses) => {
      if (err) return cb(err, opts.all ? [] : '');
      const list = addresses as LookupAddress[];
      const bad = list.find((a) => !isAllowed(a.address));
      if (bad) return cb(privateAddressError(url(), bad.address) as unknown as NodeJS.ErrnoException, opts.all ? [] : '');
      if (list.length === 0) return cb(Object.assign(new Error(`No address for ${hostname}`), { code: 'ENOTFOUND' }), opts.all ? [] : '');
      if (opts.all) return cb(null, list);
      const first = list[0]!;
      cb(null, first.address, first.family);
    });
  };
}
