import { createPublicKey, type KeyObject } from 'node:crypto';
import type { Pool } from 'pg';
import { CodedError } from '../../lib/coded-error.js';
import type { Logger } from '../../lib/logger.js';
import { exportPublicKey } from '../../protocol/signing.js';
import type { Queryable } from '../storage/event-store.js';
import { withTransaction } from '../storage/transaction.js';
import { AuditErrorCode } from './audit-errors.js';
import { type AuditEntry, writeAudit } from './audit-log.js';
import type { CentralKeyHistory, RetiredKey } from './central-keys.js';
import { type ErasureListInspection, erasureListState, inspectErasureList } from './erasure-list-check.js';
import { signatureRef, signErasureList } from './erasure-list-signature.js';

/**
 * The list of chain rows erasures deleted or rewrote (`erased_chain_rows`) decides what `audit
 * verify` accepts as missing or changed, so it must not change unseen: a row added to it would
 * hide a deletion. Every change of the list (an erasure, `audit prune`) records a digest of the
 * whole list as it leaves it in its audit entry (`details.erasedRows`), which joins the chain,
 * and signs it with the central key (`details.erasedRowsSigned`, erasure-list-signature.ts), so
 * that someone who can write to the database alone cannot record a list of their own; `audit
 * verify` checks the list against the newest such entry (erasure-list-check.ts). The list is not
 * grouped by erasure, and so neither is the digest: it tells nobody which rows were one person's.
 *
 * Changes of the list take ERASURE_LIST_LOCK, so that each entry's digest is of the list as its
 * transaction commits it, and each goes on only from a list that is as the last change left it.
 * Without a central key (keys.signing) changes are recorded unsigned, until the first signed one.
 */
export const ERASURE_LIST_LOCK = `SELECT pg_advisory_xact_lock(hashtextextended('identgate-erasure-list', 0))`;

/** SHA-256 (hex) of the whole list in order; the same text for an empty list. */
export async function erasureListDigest(db: Queryable): Promise<string> {
  return (await erasureListState(db)).digest;
}

/** The keys a change trusts: the one it signs with, and those it replaced. */
const keysOf = (key: KeyObject | undefined, retired: readonly RetiredKey[]): CentralKeyHistory => ({
  ...(key ? { current: exportPublicKey(createPublicKey(key)) } : {}),
  retired,
});

/** A change of the list under way, in its transaction: `record` writes its signed audit entry. */
export interface ErasureListChange {
  record(entry: AuditEntry, at?: Date): Promise<void>;
}

/**
 * Takes the list's lock in `db`'s transaction and makes sure the list is as its last change
 * recorded it, signed by this key: a change never signs over a list altered unseen. Without a
 * signing key it goes on only while no change of the list was signed yet.
 */
export async function beginErasureListChange(
  db: Queryable,
  signingKey: KeyObject | undefined,
  retired: readonly RetiredKey[] = [],
): Promise<ErasureListChange> {
  await db.query(ERASURE_LIST_LOCK);
  const inspection = await inspectErasureList(db, keysOf(signingKey, retired));
  if (inspection.problem) {
    throw new CodedError(
      AuditErrorCode.erasureListTampered,
      `${inspection.problem}; nothing was changed: run identgate audit verify and restore the list`,
    );
  }
  if (!signingKey && inspection.lastSigned) {
    throw new CodedError(
      AuditErrorCode.erasureListUnsigned,
      `changes of the list of erased chain rows are signed with the central key (last in audit entry ${inspection.lastSigned.id}), and keys.signing is not configured here: configure it to erase or prune`,
    );
  }
  const prev = inspection.lastSigned ? signatureRef(inspection.lastSigned.signature) : null;
  return { record: (entry, at) => recordChange(db, entry, at, signingKey, prev) };
}

async function recordChange(
  db: Queryable,
  entry: AuditEntry,
  at: Date | undefined,
  signingKey: KeyObject | undefined,
  prev: string | null,
): Promise<void> {
  const { digest, rows } = await erasureListState(db);
  // The id is signed, so it is drawn first; the list's lock keeps ids in the order of the changes.
  const id = Number(
    (await db.query<{ id: string }>(`SELECT nextval(pg_get_serial_sequence('audit_log', 'id'))::text AS id`))
      .rows[0]?.id,
  );
  const signed = signingKey
    ? {
        erasedRowsSigned: signErasureList(
          { action: entry.action, entry: id, rows, digest, prev },
          signingKey,
        ),
      }
    : {};
  await writeAudit(db, { ...entry, details: { ...entry.details, erasedRows: digest, ...signed } }, at, id);
}

/**
 * Read in one snapshot: an erasure committing between the reads is not a list changed unseen.
 * `keys`: the central keys the list's changes must be signed with, if known.
 */
export async function inspectErasureListOnce(
  pool: Pool,
  keys: CentralKeyHistory,
): Promise<ErasureListInspection> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const inspection = await inspectErasureList(client, keys);
    await client.query('COMMIT');
    return inspection;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/**
 * At a dashboard's start: with a central key and no signed change of the list yet (a database
 * from before signing, or a new one), signs the list as it is (`audit.erasure-list.sign`), which
 * ends the allowance for unsigned changes at once rather than at the next erasure. Likewise when
 * the last change was signed by a retired central key: the list is signed anew with the current
 * one, following that change, so the retired key soon vouches for nothing still in use. A list
 * that is not as its last change recorded it is not signed: that is logged, and `audit verify`
 * reports it.
 */
export async function signErasureListAtStart(
  pool: Pool,
  signingKey: KeyObject | undefined,
  log: Logger,
  at?: Date,
  retired: readonly RetiredKey[] = [],
): Promise<void> {
  if (!signingKey) {
    log.warn(
      'keys.signing is not configured: changes of the list of erased chain rows are recorded unsigned, and audit verify cannot tell them from entries written into the database',
    );
    return;
  }
  await withTransaction(pool, async (db) => {
    await db.query(ERASURE_LIST_LOCK);
    const inspection = await inspectErasureList(db, keysOf(signingKey, retired));
    if (inspection.problem) {
      log.error(
        { problem: inspection.problem },
        'the list of erased chain rows is not as its last change recorded it: not signed; run identgate audit verify',
      );
      return;
    }
    const { lastSigned, byRetiredKey } = inspection;
    if (lastSigned && !byRetiredKey) return;
    const prev = lastSigned ? signatureRef(lastSigned.signature) : null;
    await recordChange(db, { actor: 'system', action: 'audit.erasure-list.sign' }, at, signingKey, prev);
    if (byRetiredKey) log.info('the list of erased chain rows was signed anew with the current central key');
  });
}
