import { describe, expect, it } from 'vitest';
import { hasCode } from '../../../src/lib/coded-error.js';
import {
  MAX_CREDENTIAL_SET_BYTES,
  openCredentialSet,
  sealCredentialSet,
} from '../../../src/protocol/credential-set.js';
import { generateEncryptionKeyPair } from '../../../src/protocol/ecies.js';
import { generateSigningKeyPair } from '../../../src/protocol/signing.js';

const central = generateSigningKeyPair();
const gateway = generateEncryptionKeyPair();
const self = { site: 'hq', gateway: 'gw-1' };
const body = (totpSecret: string) => ({
  v: 1 as const,
  ...self,
  version: 1,
  issuedAt: new Date().toISOString(),
  credentials: [{ badge: 'B-1', person: 'ada', name: 'Ada', status: 'active' as const, totpSecret }],
});

/** Credential sets are bounded in size at both ends: the gateway parses them on the thread that runs its doors. */
describe('credential set size', () => {
  it('opens a set within the bound, and refuses a larger payload without parsing it', () => {
    const sealed = sealCredentialSet(body('A'.repeat(32)), central.privateKey, gateway.publicKey);
    expect(openCredentialSet(sealed, gateway, central.publicKey, self)).toMatchObject({ ok: true });
    // Not even JSON: refused for its size before any parsing is tried.
    const huge = Buffer.alloc(MAX_CREDENTIAL_SET_BYTES + 1, 0x5b);
    expect(openCredentialSet(huge, gateway, central.publicKey, self)).toEqual({
      ok: false,
      reason: `too large: ${MAX_CREDENTIAL_SET_BYTES + 1} bytes, at most ${MAX_CREDENTIAL_SET_BYTES}`,
    });
  });

  it('refuses to seal a set no gateway would take', () => {
    expect(() =>
      sealCredentialSet(body('A'.repeat(MAX_CREDENTIAL_SET_BYTES)), central.privateKey, gateway.publicKey),
    ).toThrow(expect.toSatisfy((error: unknown) => hasCode(error, 'IDG_CREDENTIALS_TOO_LARGE')));
  });
});

/** A revoked badge carries only what a gateway needs to refuse it; an active one, its secret. */
describe('credential set entries', () => {
  const open = (credentials: unknown[]) =>
    openCredentialSet(
      sealCredentialSet(
        { ...body('A'.repeat(32)), credentials } as Parameters<typeof sealCredentialSet>[0],
        central.privateKey,
        gateway.publicKey,
      ),
      gateway,
      central.publicKey,
      self,
    );

  it('opens a revoked badge without its holder’s name or secret, and one sent complete as before', () => {
    expect(open([{ badge: 'B-2', person: 'ben', status: 'revoked' }])).toMatchObject({ ok: true });
    expect(
      open([{ badge: 'B-2', person: 'ben', name: 'Ben', status: 'revoked', totpSecret: 'B'.repeat(32) }]),
    ).toMatchObject({ ok: true });
  });

  it('refuses an active badge without its holder’s secret or name', () => {
    expect(open([{ badge: 'B-1', person: 'ada', name: 'Ada', status: 'active' }])).toEqual({
      ok: false,
      reason: 'bad credential set: /credentials/0 is active without its name or TOTP secret',
    });
    expect(
      open([{ badge: 'B-1', person: 'ada', status: 'active', totpSecret: 'A'.repeat(32) }]),
    ).toMatchObject({
      ok: false,
    });
  });
});

/** While the central signing key is rotated, a gateway trusts the old key and the new one. */
describe('credential sets during a rotation of the central key', () => {
  const next = generateSigningKeyPair();
  const trusted = [central.publicKey, next.publicKey] as const;
  const sealedBy = (key: typeof central.privateKey) =>
    sealCredentialSet(body('A'.repeat(32)), key, gateway.publicKey);

  it('opens a set signed by the current key and one signed by the new key', () => {
    expect(openCredentialSet(sealedBy(central.privateKey), gateway, trusted, self)).toMatchObject({
      ok: true,
    });
    expect(openCredentialSet(sealedBy(next.privateKey), gateway, trusted, self)).toMatchObject({ ok: true });
  });

  it('refuses a set signed by a key it does not trust, as it does with one key', () => {
    const untrusted = sealedBy(generateSigningKeyPair().privateKey);
    const refusal = { ok: false, reason: 'signature does not verify with the central key' };
    expect(openCredentialSet(untrusted, gateway, trusted, self)).toEqual(refusal);
    expect(openCredentialSet(untrusted, gateway, central.publicKey, self)).toEqual(refusal);
  });

  it('refuses a set signed by the new key while it trusts the current key alone', () => {
    expect(openCredentialSet(sealedBy(next.privateKey), gateway, central.publicKey, self)).toMatchObject({
      ok: false,
      reason: 'signature does not verify with the central key',
    });
  });
});
