import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { open, seal } from '../../../src/lib/aead.js';
import { generateEncryptionKeyPair, openSealed, sealFor } from '../../../src/protocol/ecies.js';

/** AES-256-GCM as sealed at rest (aead.ts) and to a gateway (ecies.ts): only full-size tags and IVs open. */
describe('AES-GCM tag and IV sizes', () => {
  const key = randomBytes(32);

  it('refuses a value at rest whose tag was cut short, which Node would otherwise check only that far', () => {
    const sealed = seal(key, Buffer.from('hello'), 'ctx');
    const parts = sealed.split('.');
    const tag = Buffer.from(parts.at(-2) as string, 'base64url');
    parts[parts.length - 2] = tag.subarray(0, 4).toString('base64url');
    expect(() => open(key, parts.join('.'), 'ctx')).toThrow(/16-byte tag/);
    expect(open(key, sealed, 'ctx').toString()).toBe('hello');
  });

  it('refuses a value sealed to a gateway whose tag was cut short or whose IV is not 96 bits', () => {
    const recipient = generateEncryptionKeyPair();
    const sealed = sealFor(recipient.publicKey, Buffer.from('hello'), 'ctx');
    const short = {
      ...sealed,
      tag: Buffer.from(sealed.tag, 'base64url').subarray(0, 4).toString('base64url'),
    };
    expect(() => openSealed(recipient, short, 'ctx')).toThrow(/16-byte tag/);
    const longIv = { ...sealed, iv: randomBytes(16).toString('base64url') };
    expect(() => openSealed(recipient, longIv, 'ctx')).toThrow(/12-byte IV/);
    expect(openSealed(recipient, sealed, 'ctx').toString()).toBe('hello');
  });
});
