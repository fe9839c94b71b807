import { BlockList, isIP } from 'node:net';

/**
 * Which address a request counts as coming from — for the sign-in throttle and the audit log —
 * given the socket's address, its X-Forwarded-For header and `http.trustedProxies`.
 *
 * Each proxy appends the address it received the request from, so the header reads
 * `what the client wrote…, what proxy 1 saw, what proxy 2 saw`, and only the entries that trusted
 * proxies appended are true. The walk starts at the socket's address and steps leftwards over
 * trusted proxies; the first untrusted address is the client as the outermost trusted proxy saw
 * it, and nothing left of it is read. An entry that is not an IP address (a port, garbage, an
 * empty item) ends the walk too, and the last trusted hop counts: a proxy never writes one, so it
 * is the client's. A trusted range that also holds clients lets those clients name any address
 * left of their own, so `http.trustedProxies` should hold proxies only (docs/dashboard.md).
 */

/** Whether an address (already an IP address) is one of the trusted proxies. */
export type ProxyTrust = (address: string) => boolean;

/**
 * How many entries of X-Forwarded-For are read at most, from the right: more trusted proxies in a
 * row than any real chain has. Past them the last trusted hop counts, as for an entry that is not
 * an address, so that a long header costs nothing more than a short one.
 */
export const MAX_PROXY_HOPS = 16;

/** The trusted proxies' addresses and CIDR ranges (validated by the config) as a predicate. */
export function trustedProxyMatcher(entries: readonly string[]): ProxyTrust {
  if (entries.length === 0) return () => false;
  const list = new BlockList();
  for (const entry of entries) {
    const [address = '', prefix] = entry.split('/');
    const type = isIP(address) === 4 ? 'ipv4' : 'ipv6';
    if (prefix === undefined) list.addAddress(address, type);
    else list.addSubnet(address, Number(prefix), type);
  }
  // BlockList matches IPv4-mapped IPv6 addresses against IPv4 rules and the other way round.
  return (address) => list.check(address, isIP(address) === 4 ? 'ipv4' : 'ipv6');
}

/**
 * The address a request counts as coming from (see the module comment), in canonical form. A
 * socket already closed has no address (Node reports none): then the empty string.
 */
export function clientAddress(
  socketAddress: string | undefined,
  forwardedFor: string | readonly string[] | undefined,
  isTrusted: ProxyTrust,
): string {
  if (socketAddress === undefined || isIP(socketAddress) === 0) return socketAddress ?? '';
  let hop = canonicalAddress(socketAddress);
  if (!isTrusted(hop) || forwardedFor === undefined) return hop;
  const entries = (typeof forwardedFor === 'string' ? forwardedFor : forwardedFor.join(',')).split(',');
  const last = Math.max(0, entries.length - MAX_PROXY_HOPS);
  for (let i = entries.length - 1; i >= last; i--) {
    const entry = (entries[i] ?? '').trim();
    if (isIP(entry) === 0) return hop;
    const address = canonicalAddress(entry);
    if (!isTrusted(address)) return address;
    hop = address;
  }
  return hop;
}

/**
 * One spelling per address, so that the throttle's keys and the audit log cannot tell
 * `2001:DB8::1` from `2001:db8:0::1`: IPv6 lower-case and compressed (as a URL writes it), an
 * IPv4-mapped IPv6 address (`::ffff:192.0.2.1`, what a dual-stack socket reports) as IPv4. An
 * address with a zone (`fe80::1%eth0`), which no URL takes, stays as it is, lower-cased.
 */
export function canonicalAddress(address: string): string {
  if (isIP(address) !== 6) return address;
  let canonical: string;
  try {
    canonical = new URL(`http://[${address}]`).hostname.slice(1, -1);
  } catch {
    // Only a zone id makes a valid IPv6 address unparseable as a URL host.
    return address.toLowerCase();
  }
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(canonical);
  if (!mapped) return canonical;
  const high = Number.parseInt(mapped[1] ?? '0', 16);
  const low = Number.parseInt(mapped[2] ?? '0', 16);
  return [high >> 8, high & 255, low >> 8, low & 255].join('.');
}
