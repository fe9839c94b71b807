import { join } from 'node:path';
import { readOrCreate } from '../lib/state-files.js';
import {
  type EncryptionKeyPair,
  exportEncryptionKey,
  exportEncryptionPrivateKeyPem,
  generateEncryptionKeyPair,
  importEncryptionPrivateKeyPem,
} from '../protocol/ecies.js';
import {
  exportPrivateKeyPem,
  exportPublicKey,
  generateSigningKeyPair,
  importPrivateKeyPem,
  type SigningKeyPair,
} from '../protocol/signing.js';

/**
 * The gateway's two keys, created on first start in the state directory (mode 0600) and reused:
 * an Ed25519 key that signs its events, and a P-256 key to which the central side encrypts the
 * gateway's credential set. The central side trusts the public halves, printed at start-up.
 */
export interface GatewayIdentity extends SigningKeyPair {
  publicKeyText: string;
  encryption: EncryptionKeyPair;
  encryptionKeyText: string;
}

export function loadOrCreateIdentity(stateDir: string): GatewayIdentity {
  const signingPem = readOrCreate(join(stateDir, 'signing-key.pem'), () =>
    exportPrivateKeyPem(generateSigningKeyPair().privateKey),
  );
  const encryptionPem = readOrCreate(join(stateDir, 'encryption-key.pem'), () =>
    exportEncryptionPrivateKeyPem(generateEncryptionKeyPair().privateKey),
  );
  const signing = importPrivateKeyPem(signingPem.toString('utf8'));
  const encryption = importEncryptionPrivateKeyPem(encryptionPem.toString('utf8'));
  return {
    ...signing,
    publicKeyText: exportPublicKey(signing.publicKey),
    encryption,
    encryptionKeyText: exportEncryptionKey(encryption.publicKey),
  };
}
