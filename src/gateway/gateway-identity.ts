import { existsSync, readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import Type from 'typebox';
import { Compile } from 'typebox/compile';
import { CodedError } from '../lib/coded-error.js';
import type { KeyRing } from '../lib/key-ring.js';
import { writeFileAtomic } from '../lib/state-files.js';
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
 * The gateway's two private keys: an Ed25519 key that signs its events, and a P-256 key to which
 * the central side encrypts the gateway's credential set. Created on first start and kept in
 * `identity.sealed` in the state directory, sealed (AES-256-GCM) under the gateway's state key
 * like the credential cache, so a copy of the state directory without the key reveals neither.
 * The central side trusts the public halves, printed at start-up.
 */
export interface GatewayIdentity extends SigningKeyPair {
  publicKeyText: string;
  encryption: EncryptionKeyPair;
  encryptionKeyText: string;
}

/** The gateway's keys, sealed; created at its first start, so its presence says it ran here before. */
export const IDENTITY_FILE = 'identity.sealed';
const CONTEXT = 'identgate/gateway-identity/v1';
/** Where earlier versions kept the keys as plain PEM files (moved into the sealed file on start). */
const LEGACY = { signing: 'signing-key.pem', encryption: 'encryption-key.pem' };
const Stored = Compile(Type.Object({ signing: Type.String(), encryption: Type.String() }));

export function loadOrCreateIdentity(stateDir: string, keys: KeyRing): GatewayIdentity {
  const path = join(stateDir, IDENTITY_FILE);
  let pems: { signing: string; encryption: string };
  if (existsSync(path)) {
    const parsed: unknown = JSON.parse(keys.open(readFileSync(path, 'utf8'), CONTEXT).toString('utf8'));
    if (!Stored.Check(parsed))
      throw new CodedError('IDG_GATEWAY_IDENTITY', `${path} has an unexpected shape`);
    pems = parsed;
  } else {
    const legacySigning = join(stateDir, LEGACY.signing);
    const legacyEncryption = join(stateDir, LEGACY.encryption);
    pems = {
      signing: existsSync(legacySigning)
        ? readFileSync(legacySigning, 'utf8')
        : exportPrivateKeyPem(generateSigningKeyPair().privateKey),
      encryption: existsSync(legacyEncryption)
        ? readFileSync(legacyEncryption, 'utf8')
        : exportEncryptionPrivateKeyPem(generateEncryptionKeyPair().privateKey),
    };
    writeFileAtomic(path, keys.seal(Buffer.from(JSON.stringify(pems)), CONTEXT));
    for (const legacy of [legacySigning, legacyEncryption]) if (existsSync(legacy)) unlinkSync(legacy);
  }
  const signing = importPrivateKeyPem(pems.signing);
  const encryption = importEncryptionPrivateKeyPem(pems.encryption);
  return {
    ...signing,
    publicKeyText: exportPublicKey(signing.publicKey),
    encryption,
    encryptionKeyText: exportEncryptionKey(encryption.publicKey),
  };
}

/** Re-seals the identity under the ring's current key (a key rotation); false if it already was. */
export function resealIdentity(stateDir: string, keys: KeyRing): boolean {
  const path = join(stateDir, IDENTITY_FILE);
  if (!existsSync(path)) return false;
  const sealed = readFileSync(path, 'utf8');
  if (keys.isCurrent(sealed)) return false;
  const plain = keys.open(sealed, CONTEXT);
  writeFileAtomic(path, keys.seal(plain, CONTEXT));
  plain.fill(0);
  return true;
}
