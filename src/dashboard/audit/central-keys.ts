import { createPublicKey, type KeyObject } from 'node:crypto';
import { ConfigError } from '../../config/config-error.js';
import { type DashboardConfig, retiredSigningProblems } from '../../config/dashboard-config.js';
import { pointerToKeyPath } from '../../config/explain.js';
import { exportPublicKey } from '../../protocol/signing.js';

/**
 * The central signing key's history, as the verifiers trust it: the key configured now
 * (`keys.signing`) and the keys it replaced (`keys.retiredSigning`). A retired key is trusted
 * only for what it signed while it was in use — a day checkpoint of a day up to its `lastDay`, a
 * change of the erased-rows list recorded by the end of that day — so that a retired key that
 * leaks later cannot vouch for anything newer. The procedure is in docs/security.md (rotating the
 * central signing key).
 */
export interface RetiredKey {
  /** `ed25519:…` */
  publicKey: string;
  /** The last UTC day (YYYY-MM-DD) the key was in use. */
  lastDay: string;
}

export interface CentralKeyHistory {
  /** `ed25519:…` of `keys.signing`; undefined where none is configured. */
  current?: string;
  retired: readonly RetiredKey[];
}

/** Which of the central keys `publicKey` is, if it may have signed on `day` (UTC, YYYY-MM-DD). */
export function centralKeyFor(
  keys: CentralKeyHistory,
  publicKey: string,
  day: string,
): 'current' | 'retired' | undefined {
  if (keys.current !== undefined && publicKey === keys.current) return 'current';
  return keys.retired.some((r) => r.publicKey === publicKey && day <= r.lastDay) ? 'retired' : undefined;
}

/** Why `publicKey` is not trusted for `what` on `day`: retired before it, or not a central key. */
export function untrustedKey(keys: CentralKeyHistory, publicKey: string, what: string): string {
  const retired = keys.retired.find((r) => r.publicKey === publicKey);
  if (retired) return `${what} is signed by ${publicKey}, a central key retired after ${retired.lastDay}`;
  const others = keys.retired.length > 0 ? ' nor by a retired one' : '';
  return `${what} is signed by an unknown key ${publicKey}, not by the central key ${keys.current}${others} (a key keys.signing replaced belongs in keys.retiredSigning)`;
}

/** `keys.retiredSigning` checked against `keys.signing`: real days, no key twice, not the current one. */
export function centralKeysFromConfig(
  keys: DashboardConfig['keys'],
  signingKey: KeyObject | undefined,
): CentralKeyHistory {
  const current = signingKey ? exportPublicKey(createPublicKey(signingKey)) : undefined;
  const retired = keys.retiredSigning ?? [];
  // The file's own rules (also for configurations built in code), then the one needing the key.
  const problems = retiredSigningProblems(retired).map(
    (p) => `${pointerToKeyPath(`/keys${p.pointer}`)}: ${p.message}`,
  );
  for (const [i, r] of retired.entries())
    if (r.publicKey === current)
      problems.push(
        `keys.retiredSigning[${i}]: ${r.publicKey} is keys.signing itself; a key is retired once another signs`,
      );
  if (problems.length > 0) throw new ConfigError('keys.retiredSigning', problems);
  return { ...(current ? { current } : {}), retired };
}
