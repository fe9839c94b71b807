import { describe, expect, it } from 'vitest';
import {
  exportPublicKey,
  generateSigningKeyPair,
  importCentralKeys,
  signBytes,
  verifyByAny,
} from '../../../src/protocol/signing.js';

/** The central keys an edge component trusts: one, or the old and the new during a rotation. */
describe('verifyByAny', () => {
  const current = generateSigningKeyPair();
  const next = generateSigningKeyPair();
  const bytes = Buffer.from('a command');

  it('verifies with a single key as verifyBytes does', () => {
    expect(verifyByAny(current.publicKey, bytes, signBytes(current.privateKey, bytes))).toBe(true);
    expect(verifyByAny(current.publicKey, bytes, signBytes(next.privateKey, bytes))).toBe(false);
  });

  it('verifies a signature by any key of the list, whatever its place', () => {
    const trusted = [current.publicKey, next.publicKey] as const;
    expect(verifyByAny(trusted, bytes, signBytes(current.privateKey, bytes))).toBe(true);
    expect(verifyByAny(trusted, bytes, signBytes(next.privateKey, bytes))).toBe(true);
  });

  it('refuses a signature by a key outside the list, and one over other bytes', () => {
    const trusted = [current.publicKey, next.publicKey] as const;
    const stranger = generateSigningKeyPair();
    expect(verifyByAny(trusted, bytes, signBytes(stranger.privateKey, bytes))).toBe(false);
    expect(verifyByAny(trusted, Buffer.from('another command'), signBytes(next.privateKey, bytes))).toBe(
      false,
    );
  });
});

describe('importCentralKeys', () => {
  it('reads the central key, then the keys trusted besides it, in their order', () => {
    const [current, next] = [generateSigningKeyPair(), generateSigningKeyPair()];
    const texts = [exportPublicKey(current.publicKey), exportPublicKey(next.publicKey)] as const;
    expect(importCentralKeys(texts[0]).map(exportPublicKey)).toEqual([texts[0]]);
    expect(importCentralKeys(texts[0], [texts[1]]).map(exportPublicKey)).toEqual(texts);
  });

  it('refuses a text that is not an ed25519 key', () => {
    expect(() => importCentralKeys(exportPublicKey(generateSigningKeyPair().publicKey), ['rsa:abc'])).toThrow(
      /must start with "ed25519:"/,
    );
  });
});
