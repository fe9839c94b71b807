import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { CodedError } from './coded-error.js';

/**
 * AES-256-GCM (BSI TR-02102-1) for small secrets at rest. A sealed value is
 * `v1.<iv>.<tag>.<ciphertext>` in base64url; `context` is bound as associated data so that a
 * ciphertext cannot be moved to another purpose (a credential cache into a key slot, say).
 */
const VERSION = 'v1';

export function seal(key: Buffer, plaintext: Buffer, context: string): string {
  assertKey(key);
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(context, 'utf8'));
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return [VERSION, iv, cipher.getAuthTag(), ciphertext]
    .map((p) => (typeof p === 'string' ? p : p.toString('base64url')))
    .join('.');
}

export function open(key: Buffer, sealed: string, context: string): Buffer {
  assertKey(key);
  const [version, iv, tag, ciphertext] = sealed.trim().split('.');
  if (version !== VERSION || !iv || !tag || ciphertext === undefined) {
    throw new CodedError('IDG_CRYPTO_FORMAT', 'sealed value has an unknown format');
  }
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
  decipher.setAAD(Buffer.from(context, 'utf8'));
  decipher.setAuthTag(Buffer.from(tag, 'base64url'));
  try {
    return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]);
  } catch (error) {
    throw new CodedError('IDG_CRYPTO_AUTH', 'sealed value failed authentication (wrong key or tampered)', {
      cause: error,
    });
  }
}

function assertKey(key: Buffer): void {
  if (key.length !== 32)
    throw new CodedError('IDG_CRYPTO_KEY', `AES-256 needs a 32-byte key, got ${key.length} bytes`);
}

/** Keys are exchanged as base64 (standard or url-safe) of 32 random bytes. */
export function parseKey(text: string): Buffer {
  const key = Buffer.from(text.trim(), 'base64');
  assertKey(key);
  return key;
}
