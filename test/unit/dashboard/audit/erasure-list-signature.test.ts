import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  asErasureListSignature,
  erasureListSignatureValid,
  signatureRef,
  signErasureList,
} from '../../../../src/dashboard/audit/erasure-list-signature.js';
import { exportPublicKey } from '../../../../src/protocol/signing.js';

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const fields = { action: 'person.erase', entry: 7, rows: 3, digest: 'ab'.repeat(32), prev: null };

describe('the signature over a change of the erased-rows list', () => {
  it('is the central key’s over exactly these fields, and names the key', () => {
    const signed = signErasureList(fields, privateKey);
    expect(signed).toMatchObject({ rows: 3, prev: null, publicKey: exportPublicKey(publicKey) });
    expect(erasureListSignatureValid(fields, signed)).toBe(true);
  });

  it('does not hold for another action, entry, size, digest or change before it', () => {
    const signed = signErasureList(fields, privateKey);
    for (const changed of [
      { action: 'audit.chain.prune' },
      { entry: 8 },
      { rows: 4 },
      { digest: 'cd'.repeat(32) },
      { prev: signatureRef(signed.signature) },
    ])
      expect(erasureListSignatureValid({ ...fields, ...changed }, signed)).toBe(false);
  });

  it('does not hold under another key named in its place', () => {
    const signed = signErasureList(fields, privateKey);
    const other = exportPublicKey(generateKeyPairSync('ed25519').publicKey);
    expect(erasureListSignatureValid(fields, { ...signed, publicKey: other })).toBe(false);
  });

  it('is refused, not thrown, when malformed', () => {
    const signed = signErasureList(fields, privateKey);
    expect(erasureListSignatureValid(fields, { ...signed, signature: 'short' })).toBe(false);
    expect(erasureListSignatureValid(fields, { ...signed, publicKey: 'ed25519:nonsense' })).toBe(false);
    expect(asErasureListSignature({ rows: '3', prev: null, publicKey: 'k', signature: 's' })).toBeUndefined();
    expect(asErasureListSignature('signed')).toBeUndefined();
    expect(asErasureListSignature(signed)).toEqual(signed);
  });

  it('names the change before it by the SHA-256 of its signature', () => {
    const first = signErasureList(fields, privateKey);
    expect(signatureRef(first.signature)).toMatch(/^[0-9a-f]{64}$/);
    expect(signatureRef(first.signature)).not.toBe(
      signatureRef(signErasureList({ ...fields, entry: 9 }, privateKey).signature),
    );
  });
});
