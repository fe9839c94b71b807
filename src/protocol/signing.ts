import { createPrivateKey, createPublicKey, generateKeyPairSync, KeyObject, sign, verify } from 'node:crypto';

/**
 * Ed25519 (RFC 8032) through node:crypto. Public keys travel as `ed25519:<base64url of the raw
 * 32 bytes>` so that they fit in YAML and on a console line.
 */
/** An Ed25519 signature as every signed message carries it: 64 bytes in base64url. */
export const SIGNATURE_PATTERN = '^[A-Za-z0-9_-]{86}$';

export interface SigningKeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

const PUBLIC_PREFIX = 'ed25519:';

export function generateSigningKeyPair(): SigningKeyPair {
  return generateKeyPairSync('ed25519');
}

export function signBytes(privateKey: KeyObject, bytes: Buffer): string {
  return sign(null, bytes, privateKey).toString('base64url');
}

export function verifyBytes(publicKey: KeyObject, bytes: Buffer, signature: string): boolean {
  return verifyRawSignature(publicKey, bytes, Buffer.from(signature, 'base64url'));
}

/**
 * The central public keys an edge component trusts: one, or more while the central signing key is
 * rotated (the old and the new; docs/security.md#rotating-the-central-signing-key). The central
 * side signs with one key at a time, so a signature verifies when one of them verifies it.
 */
export type CentralKeys = KeyObject | readonly [KeyObject, ...KeyObject[]];

/** Whether `signature` verifies with one of `keys`. */
export function verifyByAny(keys: CentralKeys, bytes: Buffer, signature: string): boolean {
  const list = keys instanceof KeyObject ? [keys] : keys;
  return list.some((key) => verifyBytes(key, bytes, signature));
}

/** `signature` as its 64 raw bytes; any other length does not verify. */
export function verifyRawSignature(publicKey: KeyObject, bytes: Buffer, signature: Buffer): boolean {
  return signature.length === 64 && verify(null, bytes, publicKey, signature);
}

export function exportPublicKey(publicKey: KeyObject): string {
  const jwk = publicKey.export({ format: 'jwk' });
  if (jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') throw new Error('not an Ed25519 public key');
  return `${PUBLIC_PREFIX}${jwk.x}`;
}

export function importPublicKey(text: string): KeyObject {
  if (!text.startsWith(PUBLIC_PREFIX)) throw new Error(`public key must start with "${PUBLIC_PREFIX}"`);
  const x = text.slice(PUBLIC_PREFIX.length);
  if (Buffer.from(x, 'base64url').length !== 32) throw new Error('an Ed25519 public key has 32 bytes');
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' });
}

/** The central keys an edge trusts, from their `ed25519:…` texts: its central key, then those trusted besides it. */
export function importCentralKeys(
  publicKey: string,
  alsoTrusted: readonly string[] = [],
): readonly [KeyObject, ...KeyObject[]] {
  return [importPublicKey(publicKey), ...alsoTrusted.map(importPublicKey)];
}

export function exportPrivateKeyPem(privateKey: KeyObject): string {
  return privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
}

export function importPrivateKeyPem(pem: string): SigningKeyPair {
  const privateKey = createPrivateKey(pem);
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error('signing key is not an Ed25519 key');
  return { privateKey, publicKey: createPublicKey(privateKey) };
}

export const PUBLIC_KEY_PATTERN = '^ed25519:[A-Za-z0-9_-]{43}$';
