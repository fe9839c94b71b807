import type { Queryable } from '../storage/event-store.js';
import { type CentralKeyHistory, centralKeyFor, untrustedKey } from './central-keys.js';
import { asErasureListSignature, erasureListSignatureValid, signatureRef } from './erasure-list-signature.js';

/**
 * Whether the list of erased chain rows is the one its last change recorded and signed
 * (erasure-list.ts): asked by `audit verify` before it walks the chains, and by every change of
 * the list before it goes on from it, so that no change signs a list that was altered unseen.
 *
 * Changes recorded before they were signed (no `erasedRowsSigned`) are accepted while no signed
 * change precedes them: the allowance ends at the first signed change, which a dashboard with a
 * central key writes at its first start. From then on an unsigned change is one written into the
 * database by other means.
 */
export interface ErasureListInspection {
  /** Why the list cannot be trusted; undefined when it can, as far as `status` says. */
  problem?: string;
  /** How far the list is proven, one line for the report. */
  status: string;
  /** The newest signed change, whose signature the next one follows. */
  lastSigned?: { id: number; signature: string };
  /** The newest change was signed by a retired central key: the next start signs it anew. */
  byRetiredKey?: boolean;
}

interface ChangeRow {
  id: string;
  action: string;
  digest: string | null;
  signed: unknown;
}

async function newestChange(
  db: Queryable,
  before?: number,
  signedOnly = false,
): Promise<ChangeRow | undefined> {
  const result = await db.query<ChangeRow>(
    `SELECT id::text, action, details ->> 'erasedRows' AS digest, details -> 'erasedRowsSigned' AS signed
       FROM audit_log
      WHERE details ? 'erasedRows' AND ($1::bigint IS NULL OR id < $1) AND (NOT $2 OR details ? 'erasedRowsSigned')
      ORDER BY audit_log.id DESC LIMIT 1`,
    [before ?? null, signedOnly],
  );
  return result.rows[0];
}

/** SHA-256 (hex) of the whole list in order, and its size; the same text for an empty list. */
export async function erasureListState(db: Queryable): Promise<{ digest: string; rows: number }> {
  const result = await db.query<{ digest: string; rows: number }>(
    `SELECT encode(sha256(convert_to(coalesce(string_agg(
              site || '/' || no || '/' || coalesce(encode(redacted, 'hex'), '-'), ',' ORDER BY site, no), ''), 'UTF8')), 'hex') AS digest,
            count(*)::int AS rows
       FROM erased_chain_rows`,
  );
  const row = result.rows[0] as { digest: string; rows: number };
  return { digest: row.digest, rows: row.rows };
}

/**
 * Whether the central key that signed change `id` may have: the current key always; a retired
 * one only if no change signed by the current key comes before it (the current key took over
 * from it) and the change was provably written by the end of the retired key's last day — its
 * audit entry's chain row lies under a day checkpoint of no later day, or under none yet while
 * today is no later (the entry exists now). `audit_log.at` is not signed and proves nothing.
 */
async function trustedSigner(
  db: Queryable,
  keys: CentralKeyHistory,
  publicKey: string,
  id: number,
  last: string,
): Promise<'current' | 'retired' | { problem: string }> {
  if (publicKey === keys.current) return 'current';
  const retired = keys.retired.find((r) => r.publicKey === publicKey);
  if (!retired) return { problem: untrustedKey(keys, publicKey, last) };
  const after = await db.query<{ id: string }>(
    `SELECT id::text FROM audit_log
      WHERE id < $1 AND details -> 'erasedRowsSigned' ->> 'publicKey' = $2
      ORDER BY audit_log.id LIMIT 1`,
    [id, keys.current],
  );
  if (after.rows[0])
    return {
      problem: `${last} is signed by the retired central key ${publicKey}, after audit entry ${after.rows[0].id} signed by the current one: the retired key cannot have made it while in use`,
    };
  const written = await db.query<{ day: string | null; today: string }>(
    `SELECT (SELECT to_char(cp.day, 'YYYY-MM-DD') FROM audit_checkpoints cp
              WHERE cp.site = ch.site AND ch.no BETWEEN cp.first_no AND cp.last_no) AS day,
            to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS today
       FROM audit_chain ch WHERE ch.source = 'audit' AND ch.ref = $1`,
    [String(id)],
  );
  const row = written.rows[0];
  if (!row)
    return {
      problem: `${last} is signed by the retired central key ${publicKey}, and its entry is not in the chain: when it was written is not proven`,
    };
  const day = row.day ?? row.today;
  if (centralKeyFor(keys, publicKey, day)) return 'retired';
  return {
    problem: row.day
      ? `${last} is signed by ${publicKey}, a central key retired after ${retired.lastDay}, but its entry is under the checkpoint of ${row.day}`
      : `${last} is signed by ${publicKey}, a central key retired after ${retired.lastDay}, but its entry is under no day checkpoint yet and today is ${row.today}`,
  };
}

/**
 * `keys.current` is the central public key (ed25519:…) the signature must be by, or a retired
 * one for a change recorded by its last day; without one, a signature is checked against the key
 * it names, and the status says that this proves little.
 */
export async function inspectErasureList(
  db: Queryable,
  keys: CentralKeyHistory,
): Promise<ErasureListInspection> {
  const centralKey = keys.current;
  const newest = await newestChange(db);
  const { digest, rows } = await erasureListState(db);
  if (!newest) {
    if (rows === 0) return { status: 'erasure list: empty, never changed' };
    return {
      problem: `the list of erased chain rows holds ${rows} rows, but no erasure recorded it: rows were added to it outside an erasure`,
      status: 'erasure list: not recorded',
    };
  }
  const id = Number(newest.id);
  const last = `the last change of the list of erased chain rows (${newest.action}, audit entry ${id})`;
  const fail = (problem: string) => ({ problem, status: 'erasure list: not proven' });
  if (newest.digest !== digest) {
    return fail(
      `the list of erased chain rows (${rows} rows) is not the one the last change of it recorded (${newest.action}, audit entry ${id}): rows were added to it or removed outside an erasure or a prune`,
    );
  }
  const before = await newestChange(db, id, true);
  const beforeSignature = asErasureListSignature(before?.signed)?.signature;
  if (newest.signed === null) {
    if (before) {
      return fail(
        `${last} is not signed, though audit entry ${before.id} before it is a signed change of it: an entry written into the database other than by an erasure or a prune`,
      );
    }
    return {
      status: centralKey
        ? `erasure list: ${rows} rows as its last change recorded them (${newest.action}, audit entry ${id}), unsigned: accepted as written before changes of the list were signed, until the first signed one`
        : `erasure list not signed: no central key (keys.signing); ${rows} rows as its last change recorded them (${newest.action}, audit entry ${id}), which anyone who can write to the database could have written`,
    };
  }
  const signed = asErasureListSignature(newest.signed);
  if (!signed) return fail(`${last} carries a malformed signature`);
  const signer = centralKey ? await trustedSigner(db, keys, signed.publicKey, id, last) : undefined;
  if (typeof signer === 'object') return fail(signer.problem);
  const prev = beforeSignature ? signatureRef(beforeSignature) : null;
  if (signed.prev !== prev) {
    return fail(
      `${last} carries a signature made to follow another signed change than ${before ? `audit entry ${before.id}` : 'none'}, the one before it: a signature copied from another entry, or a signed change removed or added in between`,
    );
  }
  const fields = { action: newest.action, entry: id, rows, digest, prev };
  if (!erasureListSignatureValid(fields, signed)) {
    return fail(
      `${last}: its signature does not match (it was made for another digest, action, audit entry, list size or place)`,
    );
  }
  const by = signer === 'retired' ? `a retired central key (${signed.publicKey})` : 'the central key';
  return {
    status: centralKey
      ? `erasure list: ${rows} rows, as ${by} signed them in its last change (${newest.action}, audit entry ${id})`
      : `erasure list: ${rows} rows, as signed in its last change (${newest.action}, audit entry ${id}) by ${signed.publicKey}; no central key is configured here (keys.signing) to confirm the key is the operator's`,
    lastSigned: { id, signature: signed.signature },
    ...(signer === 'retired' ? { byRetiredKey: true } : {}),
  };
}
