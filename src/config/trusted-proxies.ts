import { isIP } from 'node:net';
import Type from 'typebox';
import type { ConfigProblem } from './explain.js';

/**
 * `http.trustedProxies`: the reverse proxies (a TLS-terminating one on loopback, a load balancer)
 * whose `X-Forwarded-For` the dashboard believes. A request from one of them counts as coming from
 * the address the outermost trusted proxy names — for the sign-in throttle and the audit log; from
 * anywhere else the header is ignored, so that a client cannot name an address of its choice.
 * Read by the dashboard's client-address.ts (not Fastify's `trustProxy`).
 */
export const TrustedProxies = Type.Array(
  Type.String({
    minLength: 2,
    maxLength: 60,
    description: 'an IP address or a CIDR range (10.0.0.0/8, fd00::/8)',
  }),
  {
    maxItems: 64,
    default: [],
    description:
      "addresses or CIDR ranges of reverse proxies whose X-Forwarded-For names the client; empty: trust none (the socket's address counts)",
  },
);

/** What is wrong with each entry, if anything: not an address, a prefix out of range, or every address. */
export function trustedProxyProblems(
  entries: readonly string[],
  pointer = '/trustedProxies',
): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const [i, entry] of entries.entries()) {
    const message = entryProblem(entry);
    if (message) problems.push({ pointer: `${pointer}/${i}`, message });
  }
  return problems;
}

function entryProblem(entry: string): string | undefined {
  const [address = '', prefix, ...rest] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0)
    return `"${entry}" is not an IP address or a CIDR range (such as 127.0.0.1 or 10.0.0.0/8)`;
  if (prefix === undefined) return undefined;
  const bits = family === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > bits)
    return `"${entry}": the prefix length must be from 1 to ${bits}`;
  if (Number(prefix) === 0)
    return `"${entry}" trusts every address: anyone could name the address of their choice`;
  return undefined;
}
