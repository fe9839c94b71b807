import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { CodedError } from './coded-error.js';

/**
 * AES-256-GCM (BSI TR-02102-1) for small secrets at rest. A sealed value is
 * `v1.<iv>.<tag>.<ciphertext>`, or `v2.<key id>.<iv>.<tag>.<ciphertext>` when it names the key
 * it was sealed under (so that a key ring can pick the key and a rotation can find what is left
 * to re-seal), in base64url; `context` is bound as associated data so that a ciphertext cannot be
 * moved to another purpose (a credential cache into a key slot, say). Both versions open.
 */
const V1 = 'v1';
const V2 = 'v2';

/**
 * A key's id: a truncated hash of the key, so that ids need no configuration and the same key has
 * the same id everywhere. 64 bits tell keys apart; they reveal nothing about a 256-bit key.
 */
export function keyId(key: Buffer): string {
  assertKey(key);
  return createHash('sha256')
    .update('identgate/key-id/v1\0')
    .update(key)
    .digest()
    .subarray(0, 8)
    .toString('base64url');
}

function encrypt(key: Buffer, plaintext: Buffer, context: string): Buffer[] {
  assertKey(key);
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(context, 'utf8'));
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return [iv, cipher.getAuthTag(), ciphertext];
}

/** Seals in the v1 format (no key id). */
export function seal(key: Buffer, plaintext: Buffer, context: string): string {
  return [V1, ...encrypt(key, plaintext, context).map((p) => p.toString('base64url'))].join('.');
}

/** Seals in the v2 format, naming the key by its id. */
export function sealWithKeyId(key: Buffer, plaintext: Buffer, context: string): string {
  return [V2, keyId(key), ...encrypt(key, plaintext, context).map((p) => p.toString('base64url'))].join('.');
}

/** The id of the key a v2 value was sealed under; undefined for a v1 value, which names none. */
export function sealedKeyId(sealed: string): string | undefined {
  const parts = sealed.trim().split('.');
  if (parts[0] === V2 && parts.length === 5) return parts[1];
  if (parts[0] === V1 && parts.length === 4) return undefined;
  throw new CodedError('IDG_CRYPTO_FORMAT', 'sealed value has an unknown format');
}

export function open(key: Buffer, sealed: string, context: string): Buffer {
  assertKey(key);
  const parts = sealed.trim().split('.');
  if (parts[0] === V2 && parts.length === 5 && parts[1] !== keyId(key)) {
    throw new CodedError('IDG_CRYPTO_KEY_UNKNOWN', `sealed under key ${parts[1]}, not under ${keyId(key)}`);
  }
  const wellFormed = (parts[0] === V1 && parts.length === 4) || (parts[0] === V2 && parts.length === 5);
  const [iv, tag, ciphertext] = parts.slice(-3);
  if (!wellFormed || !iv || !tag || ciphertext === undefined) {
    throw new CodedError('IDG_CRYPTO_FORMAT', 'sealed value has an unknown format');
  }
  const decipher = gcmDecipher(key, Buffer.from(iv, 'base64url'), Buffer.from(tag, 'base64url'), context);
  try {
    return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]);
  } catch (error) {
    throw new CodedError('IDG_CRYPTO_AUTH', 'sealed value failed authentication (wrong key or tampered)', {
      cause: error,
    });
  }
}

/**
 * An AES-256-GCM decipher for a 96-bit IV and a 128-bit tag, the only sizes sealed here (BSI
 * TR-02102-1 asks for tags of at least 96 bits). Node would take a tag as short as 4 bytes, which
 * a forger guesses far more easily; any other size is refused before decryption.
 */
export function gcmDecipher(key: Buffer, iv: Buffer, tag: Buffer, context: string) {
  if (iv.length !== GCM_IV_BYTES || tag.length !== GCM_TAG_BYTES)
    throw new CodedError(
      'IDG_CRYPTO_FORMAT',
      `AES-GCM needs a ${GCM_IV_BYTES}-byte IV and a ${GCM_TAG_BYTES}-byte tag, got ${iv.length} and ${tag.length}`,
    );
  const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: GCM_TAG_BYTES });
  decipher.setAAD(Buffer.from(context, 'utf8'));
  decipher.setAuthTag(tag);
  return decipher;
}

const GCM_IV_BYTES = 12;
const GCM_TAG_BYTES = 16;

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
