import {
  createCipheriv,
  createECDH,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  type KeyObject,
  randomBytes,
} from 'node:crypto';
import { gcmDecipher } from '../lib/aead.js';

/**
 * Encryption to one recipient's public key (ECIES): an ephemeral ECDH key agreement on P-256,
 * HKDF-SHA256 to derive an AES-256-GCM key, the ciphertext authenticated together with the
 * context string. (TR-02102-1: ECDH on a recommended curve, HKDF, AES-GCM.) Used for the
 * credential set the central side sends each gateway.
 */
const PREFIX = 'p256:';

export interface EncryptionKeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

export interface Sealed {
  alg: 'ECDH-P256+HKDF-SHA256+A256GCM';
  epk: string;
  iv: string;
  ct: string;
  tag: string;
}

export function generateEncryptionKeyPair(): EncryptionKeyPair {
  return generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
}

/** `p256:` + base64url of the uncompressed point (65 bytes). */
export function exportEncryptionKey(publicKey: KeyObject): string {
  const jwk = publicKey.export({ format: 'jwk' });
  if (jwk.crv !== 'P-256' || !jwk.x || !jwk.y) throw new Error('not a P-256 public key');
  const point = Buffer.concat([
    Buffer.from([4]),
    Buffer.from(jwk.x, 'base64url'),
    Buffer.from(jwk.y, 'base64url'),
  ]);
  return `${PREFIX}${point.toString('base64url')}`;
}

export function importEncryptionKey(text: string): KeyObject {
  if (!text.startsWith(PREFIX)) throw new Error(`encryption key must start with "${PREFIX}"`);
  const point = Buffer.from(text.slice(PREFIX.length), 'base64url');
  if (point.length !== 65 || point[0] !== 4)
    throw new Error('a P-256 public key is a 65-byte uncompressed point');
  // createECDH validates that the point lies on the curve before it is used.
  const ecdh = createECDH('prime256v1');
  ecdh.setPrivateKey(randomBytes(32));
  ecdh.computeSecret(point);
  return createPublicKey({
    key: {
      kty: 'EC',
      crv: 'P-256',
      x: point.subarray(1, 33).toString('base64url'),
      y: point.subarray(33).toString('base64url'),
    },
    format: 'jwk',
  });
}

export function exportEncryptionPrivateKeyPem(privateKey: KeyObject): string {
  return privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
}

export function importEncryptionPrivateKeyPem(pem: string): EncryptionKeyPair {
  const privateKey = createPrivateKey(pem);
  if (privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1')
    throw new Error('encryption key is not a P-256 key');
  return { privateKey, publicKey: createPublicKey(privateKey) };
}

function deriveKey(shared: Buffer, epk: Buffer, recipient: Buffer, context: string): Buffer {
  return Buffer.from(
    hkdfSync('sha256', shared, Buffer.concat([epk, recipient]), Buffer.from(context, 'utf8'), 32),
  );
}

function rawPoint(key: KeyObject): Buffer {
  return Buffer.from(exportEncryptionKey(key).slice(PREFIX.length), 'base64url');
}

export function sealFor(recipient: KeyObject, plaintext: Buffer, context: string): Sealed {
  const ephemeral = generateEncryptionKeyPair();
  const shared = diffieHellman({ privateKey: ephemeral.privateKey, publicKey: recipient });
  const epk = rawPoint(ephemeral.publicKey);
  const key = deriveKey(shared, epk, rawPoint(recipient), context);
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(context, 'utf8'));
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return {
    alg: 'ECDH-P256+HKDF-SHA256+A256GCM',
    epk: epk.toString('base64url'),
    iv: iv.toString('base64url'),
    ct: ct.toString('base64url'),
    tag: cipher.getAuthTag().toString('base64url'),
  };
}

export function openSealed(recipient: EncryptionKeyPair, sealed: Sealed, context: string): Buffer {
  const epk = Buffer.from(sealed.epk, 'base64url');
  const ephemeral = importEncryptionKey(`${PREFIX}${sealed.epk}`);
  const shared = diffieHellman({ privateKey: recipient.privateKey, publicKey: ephemeral });
  const key = deriveKey(shared, epk, rawPoint(recipient.publicKey), context);
  const decipher = gcmDecipher(
    key,
    Buffer.from(sealed.iv, 'base64url'),
    Buffer.from(sealed.tag, 'base64url'),
    context,
  );
  return Buffer.concat([decipher.update(Buffer.from(sealed.ct, 'base64url')), decipher.final()]);
}
