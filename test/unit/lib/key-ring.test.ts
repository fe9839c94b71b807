import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { keyId, open, seal, sealedKeyId, sealWithKeyId } from '../../../src/lib/aead.js';
import { KeyRing } from '../../../src/lib/key-ring.js';

const text = Buffer.from('JBSWY3DPEHPK3PXP');
const context = 'identgate/totp-secret/v1/agent-ada';

describe('sealed values that name their key (v2)', () => {
  it('carry the id of the key they were sealed under', () => {
    const key = randomBytes(32);
    const sealed = sealWithKeyId(key, text, context);
    expect(sealed.startsWith(`v2.${keyId(key)}.`)).toBe(true);
    expect(sealedKeyId(sealed)).toBe(keyId(key));
    expect(open(key, sealed, context)).toEqual(text);
  });

  it('are refused by another key before any decryption is tried', () => {
    const sealed = sealWithKeyId(randomBytes(32), text, context);
    expect(() => open(randomBytes(32), sealed, context)).toThrow(
      expect.objectContaining({ code: 'IDG_CRYPTO_KEY_UNKNOWN' }),
    );
  });

  it('stay bound to their context', () => {
    const key = randomBytes(32);
    expect(() => open(key, sealWithKeyId(key, text, context), 'other')).toThrow(
      expect.objectContaining({ code: 'IDG_CRYPTO_AUTH' }),
    );
  });

  it('give the same key the same id everywhere, and different keys different ids', () => {
    const key = randomBytes(32);
    expect(keyId(Buffer.from(key))).toBe(keyId(key));
    expect(keyId(randomBytes(32))).not.toBe(keyId(key));
  });
});

describe('a key ring', () => {
  it('seals under the current key and opens what older keys sealed', () => {
    const [old, current] = [randomBytes(32), randomBytes(32)];
    const ring = new KeyRing(current, [old]);
    expect(ring.open(sealWithKeyId(old, text, context), context)).toEqual(text);
    const fresh = ring.seal(text, context);
    expect(sealedKeyId(fresh)).toBe(keyId(current));
    expect(ring.isCurrent(fresh)).toBe(true);
  });

  it('opens v1 values, which name no key, with whichever key fits', () => {
    const [old, current] = [randomBytes(32), randomBytes(32)];
    const ring = new KeyRing(current, [old]);
    const legacy = seal(old, text, context);
    expect(ring.open(legacy, context)).toEqual(text);
    expect(ring.isCurrent(legacy)).toBe(false);
  });

  it('names the missing key when a value was sealed under a key it does not hold', () => {
    const stranger = randomBytes(32);
    const ring = new KeyRing(randomBytes(32));
    expect(() => ring.open(sealWithKeyId(stranger, text, context), context)).toThrow(keyId(stranger));
  });

  it('takes new keys while running', () => {
    const [first, second] = [randomBytes(32), randomBytes(32)];
    const ring = new KeyRing(first);
    ring.replace(second, [first]);
    expect(ring.currentId).toBe(keyId(second));
    expect(ring.open(sealWithKeyId(first, text, context), context)).toEqual(text);
  });
});
