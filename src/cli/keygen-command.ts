import { type KeyObject, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError, ConfigErrorCode } from '../config/config-error.js';
import { parseKey } from '../lib/aead.js';
import { KeyRing } from '../lib/key-ring.js';
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
  identgate keygen signing <file> [--seal-with <master key file>]
                                    the central signing key (prints the public key for gateways);
                                    sealed under the master key when --seal-with is given
  identgate keygen master <file>    the master key sealing TOTP secrets in the database`;

export const SIGNING_KEY_CONTEXT = 'identgate/central-signing-key/v1';

export function runKeygen(args: string[]): string[] {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: { 'seal-with': { type: 'string' } },
  });
  const [what, file] = positionals;
  if (!file || (what !== 'signing' && what !== 'master')) throw new UsageError(KEYGEN_USAGE);
  if (existsSync(file)) throw new UsageError(`${file} exists; identgate never overwrites a key`);
  if (what === 'master') {
    writeFileAtomic(file, `${randomBytes(32).toString('base64')}\n`);
    return [`master key written to ${file} (mode 0600); reference it as keys.master: { file: ${file} }`];
  }
  const pair = generateSigningKeyPair();
  const pem = exportPrivateKeyPem(pair.privateKey);
  const sealWith = values['seal-with'];
  writeFileAtomic(
    file,
    sealWith
      ? `${new KeyRing(parseKey(readFileSync(sealWith, 'utf8'))).seal(Buffer.from(pem), SIGNING_KEY_CONTEXT)}\n`
      : pem,
  );
  return [
    `signing key written to ${file} (mode 0600); reference it as keys.signing: { file: ${file} }`,
    `central public key for every gateway's central.publicKey: ${exportPublicKey(pair.publicKey)}`,
  ];
}

/** Sealed values start with their format version; a PEM file with `-----BEGIN`. */
export const isSealed = (text: string) => /^v[12]\./.test(text.trim());

/** The central signing key from its file: PEM, or sealed under the master key (keygen --seal-with). */
export function loadSigningKey(text: string, masterKeys?: KeyRing): KeyObject {
  let pem = text;
  if (isSealed(text)) {
    if (!masterKeys) {
      throw new ConfigError(
        'keys.signing',
        ['is sealed under the master key, but keys.master is not set'],
        ConfigErrorCode.secret,
      );
    }
    try {
      pem = masterKeys.open(text.trim(), SIGNING_KEY_CONTEXT).toString('utf8');
    } catch (error) {
      throw new ConfigError(
        'keys.signing',
        [`cannot be opened with the master keys: ${(error as Error).message}`],
        ConfigErrorCode.secret,
      );
    }
  }
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
