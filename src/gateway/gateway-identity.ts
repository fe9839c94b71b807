import { join } from 'node:path';
import { readOrCreate } from '../lib/state-files.js';
import {
  exportPrivateKeyPem,
  exportPublicKey,
  generateSigningKeyPair,
  importPrivateKeyPem,
  type SigningKeyPair,
} from '../protocol/signing.js';

/**
 * The gateway's Ed25519 signing key, created on first start in the state directory (mode 0600)
 * and reused afterwards. The central side trusts the public half, printed at start-up.
 */
export interface GatewayIdentity extends SigningKeyPair {
  publicKeyText: string;
}

export function loadOrCreateIdentity(stateDir: string): GatewayIdentity {
  const pem = readOrCreate(join(stateDir, 'signing-key.pem'), () =>
    exportPrivateKeyPem(generateSigningKeyPair().privateKey),
  );
  const pair = importPrivateKeyPem(pem.toString('utf8'));
  return { ...pair, publicKeyText: exportPublicKey(pair.publicKey) };
}
