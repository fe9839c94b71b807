import { createHash, createPublicKey, type KeyObject, sign, verify } from 'node:crypto';
import { exportPublicKey, importPublicKey } from '../../protocol/signing.js';

/**
 * The central key's signature over a change of the list of erased chain rows (erasure-list.ts).
 * A digest of the list alone could be written by anyone who can write to the database, and an
 * old signed digest could be copied into a new entry; so the signed line binds the digest to
 * the change that recorded it: the audit action, the audit entry's id (its place in the audit
 * log, drawn before the entry is written), the list's size, and the previous signed change's
 * signature (so the signed changes form a chain of their own, and one cannot be left out or
 * moved).
 */
export interface ErasureListFields {
  action: string;
  /** The id of the audit entry that records the change. */
  entry: number;
  rows: number;
  /** Hex SHA-256 of the list as the change left it (erasureListDigest). */
  digest: string;
  /** signatureRef() of the previous signed change; null for the first. */
  prev: string | null;
}

/** What the audit entry carries beside `erasedRows` (the digest), as `details.erasedRowsSigned`. */
export interface ErasureListSignature {
  rows: number;
  prev: string | null;
  /** The central public key (ed25519:…). */
  publicKey: string;
  /** Base64url Ed25519 signature over erasureListText(). */
  signature: string;
}

/** The signed text: fixed key order, no personal data (an action, numbers, hashes). */
export function erasureListText(f: ErasureListFields): string {
  return JSON.stringify({
    type: 'identgate-erasure-list',
    v: 1,
    action: f.action,
    entry: f.entry,
    rows: f.rows,
    digest: f.digest,
    prev: f.prev,
  });
}

export function signErasureList(fields: ErasureListFields, privateKey: KeyObject): ErasureListSignature {
  return {
    rows: fields.rows,
    prev: fields.prev,
    publicKey: exportPublicKey(createPublicKey(privateKey)),
    signature: sign(null, Buffer.from(erasureListText(fields)), privateKey).toString('base64url'),
  };
}

/** Whether `signature` is the named key's over these fields; false for anything malformed. */
export function erasureListSignatureValid(
  fields: ErasureListFields,
  signature: ErasureListSignature,
): boolean {
  try {
    const raw = Buffer.from(signature.signature, 'base64url');
    if (raw.length !== 64) return false;
    return verify(null, Buffer.from(erasureListText(fields)), importPublicKey(signature.publicKey), raw);
  } catch {
    // A key that does not parse: not a valid signature, which the caller reports.
    return false;
  }
}

/** How the next signed change names this one: SHA-256 (hex) of its signature. */
export function signatureRef(signature: string): string {
  return createHash('sha256').update(Buffer.from(signature, 'base64url')).digest('hex');
}

/** A stored `erasedRowsSigned` value, if it has the shape of one. */
export function asErasureListSignature(value: unknown): ErasureListSignature | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (
    typeof v.rows !== 'number' ||
    (v.prev !== null && typeof v.prev !== 'string') ||
    typeof v.publicKey !== 'string' ||
    typeof v.signature !== 'string'
  )
    return undefined;
  return { rows: v.rows, prev: v.prev as string | null, publicKey: v.publicKey, signature: v.signature };
}
