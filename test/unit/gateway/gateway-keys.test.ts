import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateTotpSecret } from '../../../src/controllers/totp-secret.js';
import { CredentialCache } from '../../../src/gateway/credential-cache.js';
import { loadOrCreateIdentity, resealIdentity } from '../../../src/gateway/gateway-identity.js';
import { VideoKeyStore } from '../../../src/gateway/recorder/video-keys.js';
import { keyId } from '../../../src/lib/aead.js';
import { KeyRing } from '../../../src/lib/key-ring.js';
import {
  exportPrivateKeyPem,
  exportPublicKey,
  generateSigningKeyPair,
} from '../../../src/protocol/signing.js';

const dir = () => mkdtempSync(join(tmpdir(), 'idg-keys-'));
const sealedUnder = (path: string) => readFileSync(path, 'utf8').trim().split('.')[1];

/** The gateway's secrets at rest and their rotation: identity, credential cache, video day keys. */
describe('gateway keys at rest', () => {
  it('keeps the identity sealed under the state key, and takes over plain PEM files of earlier versions', () => {
    const state = dir();
    const legacy = generateSigningKeyPair();
    writeFileSync(join(state, 'signing-key.pem'), exportPrivateKeyPem(legacy.privateKey), { mode: 0o600 });
    const ring = new KeyRing(randomBytes(32));
    const identity = loadOrCreateIdentity(state, ring);
    expect(identity.publicKeyText).toBe(exportPublicKey(legacy.publicKey));
    expect(readdirSync(state).sort()).toEqual(['identity.sealed']);
    const onDisk = readFileSync(join(state, 'identity.sealed'), 'utf8');
    expect(onDisk).not.toContain('PRIVATE KEY');
    expect(loadOrCreateIdentity(state, ring).publicKeyText).toBe(identity.publicKeyText);
    expect(() => loadOrCreateIdentity(state, new KeyRing(randomBytes(32)))).toThrow(
      /not among the configured keys/,
    );
  });

  it('re-seals identity and credential cache under a new state key, opening them with the old one meanwhile', () => {
    const state = dir();
    const oldKey = randomBytes(32);
    const newKey = randomBytes(32);
    const before = new KeyRing(oldKey);
    const identity = loadOrCreateIdentity(state, before);
    const secret = generateTotpSecret();
    new CredentialCache(state, before).replace(
      [{ badge: 'B-1', person: 'p', name: 'P', status: 'active', totpSecret: secret }],
      1,
    );

    const during = new KeyRing(newKey, [oldKey]);
    expect(resealIdentity(state, during)).toBe(true);
    const cache = new CredentialCache(state, during);
    expect(cache.reseal()).toBe(true);
    expect(cache.reseal()).toBe(false);
    for (const file of ['identity.sealed', 'credentials.sealed'])
      expect(sealedUnder(join(state, file))).toBe(keyId(newKey));

    const after = new KeyRing(newKey);
    expect(loadOrCreateIdentity(state, after).publicKeyText).toBe(identity.publicKeyText);
    const reloaded = new CredentialCache(state, after);
    reloaded.load();
    expect(reloaded.findByBadge('B-1')?.totpSecret).toBe(secret);
  });

  it('re-wraps video day keys under a new site key; the footage keys stay the same', () => {
    const keysDir = join(dir(), 'keys');
    const oldKey = randomBytes(32);
    const newKey = randomBytes(32);
    const store = new VideoKeyStore(keysDir, oldKey);
    const day1 = store.keyFor('cam-1', '2026-11-01');
    const day2 = store.keyFor('cam-2', '2026-11-02');

    const rotating = new VideoKeyStore(keysDir, new KeyRing(newKey, [oldKey]));
    expect(rotating.rewrap()).toEqual({ rewrapped: 2, unreadable: [] });
    expect(rotating.rewrap()).toEqual({ rewrapped: 0, unreadable: [] });

    const after = new VideoKeyStore(keysDir, newKey);
    expect(after.lookup(day1.keyId)).toEqual(day1.key);
    expect(after.lookup(day2.keyId)).toEqual(day2.key);
    expect(() => new VideoKeyStore(keysDir, oldKey).lookup(day1.keyId)).toThrow(/cannot be unwrapped/);
  });

  it('reports a day key that no configured site key opens, and leaves it alone', () => {
    const keysDir = join(dir(), 'keys');
    const stranger = randomBytes(32);
    new VideoKeyStore(keysDir, stranger).keyFor('cam-1', '2026-11-03');
    const report = new VideoKeyStore(keysDir, randomBytes(32)).rewrap();
    expect(report.rewrapped).toBe(0);
    expect(report.unreadable).toEqual([expect.stringContaining('cam-1/2026-11-03')]);
    expect(existsSync(join(keysDir, 'cam-1', '2026-11-03.key'))).toBe(true);
    expect(new VideoKeyStore(keysDir, stranger).lookup('cam-1/2026-11-03')).toHaveLength(32);
  });
});
