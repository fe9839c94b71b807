import { createHash, type KeyObject, sign, verify } from 'node:crypto';
import { exportPublicKey } from '../../protocol/signing.js';

/**
 * The arithmetic of the tamper-evident log, shared by the database side and the offline bundle
 * verifier: a link is sha256(previous link || content digest), the first link of a chain follows
 * 32 zero bytes, and a day checkpoint is signed (Ed25519) over one canonical JSON line.
 */
export const ZERO_HASH = Buffer.alloc(32);

/** The name of the chain of alarms and staff actions that belong to no site. */
export const CENTRAL_CHAIN = '_central';

export function linkHash(previous: Buffer, digest: Buffer): Buffer {
  return createHash('sha256').update(previous).update(digest).digest();
}

export interface Checkpoint {
  site: string;
  /** The UTC day the chain rows were written (ingest order), YYYY-MM-DD. */
  day: string;
  firstNo: number;
  lastNo: number;
  count: number;
  /** Hex of the link before the day's first row. */
  prevHash: string;
  /** Hex of the day's last link. */
  head: string;
  from: string;
  to: string;
  publicKey: string;
  /** Base64url Ed25519 signature over `checkpointText()`. */
  signature: string;
}

/** The signed text: fixed key order, no personal data (a chain name, numbers, hashes, times). */
export function checkpointText(c: Omit<Checkpoint, 'signature' | 'publicKey'>): string {
  return JSON.stringify({
    type: 'identgate-checkpoint',
    v: 1,
    site: c.site,
    day: c.day,
    firstNo: c.firstNo,
    lastNo: c.lastNo,
    count: c.count,
    prevHash: c.prevHash,
    head: c.head,
    from: c.from,
    to: c.to,
  });
}

export function signCheckpoint(
  fields: Omit<Checkpoint, 'signature' | 'publicKey'>,
  privateKey: KeyObject,
  publicKey: KeyObject,
): Checkpoint {
  const signature = sign(null, Buffer.from(checkpointText(fields)), privateKey).toString('base64url');
  return { ...fields, publicKey: exportPublicKey(publicKey), signature };
}

export function checkpointSignatureValid(c: Checkpoint, publicKey: KeyObject): boolean {
  const raw = Buffer.from(c.signature, 'base64url');
  if (raw.length !== 64) return false;
  return verify(null, Buffer.from(checkpointText(c)), publicKey, raw);
}
