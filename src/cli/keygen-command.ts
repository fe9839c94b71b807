import { type KeyObject, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { ConfigError, ConfigErrorCode } from '../config/config-error.js';
import { writeFileAtomic } from '../lib/state-files.js';
import {
  exportPrivateKeyPem,
  exportPublicKey,
  generateSigningKeyPair,
  importPrivateKeyPem,
} from '../protocol/signing.js';
import { UsageError } from './cli-error.js';

/**
 * `identgate keygen signing <file>` creates the central Ed25519 key (PEM, mode 0600) and prints
 * the public half for the gateways' `central.publicKey`; `identgate keygen master <file>` creates
 * the 32-byte master key that seals TOTP secrets in the database. Existing files are never
 * overwritten.
 */
export const KEYGEN_USAGE = `usage:
  identgate keygen signing <file>   the central signing key (prints the public key for gateways)
  identgate keygen master <file>    the master key sealing TOTP secrets in the database`;

export function runKeygen(args: string[]): string[] {
  const [what, file] = args;
  if (!file || (what !== 'signing' && what !== 'master')) throw new UsageError(KEYGEN_USAGE);
  if (existsSync(file)) throw new UsageError(`${file} exists; identgate never overwrites a key`);
  if (what === 'master') {
    writeFileAtomic(file, `${randomBytes(32).toString('base64')}\n`);
    return [`master key written to ${file} (mode 0600); reference it as keys.master: { file: ${file} }`];
  }
  const pair = generateSigningKeyPair();
  writeFileAtomic(file, exportPrivateKeyPem(pair.privateKey));
  return [
    `signing key written to ${file} (mode 0600); reference it as keys.signing: { file: ${file} }`,
    `central public key for every gateway's central.publicKey: ${exportPublicKey(pair.publicKey)}`,
  ];
}

export function loadSigningKey(pem: string): KeyObject {
  try {
    return importPrivateKeyPem(pem).privateKey;
  } catch (error) {
    throw new ConfigError(
      'keys.signing',
      [`not an Ed25519 private key in PEM form: ${(error as Error).message}`],
      ConfigErrorCode.secret,
    );
  }
}
