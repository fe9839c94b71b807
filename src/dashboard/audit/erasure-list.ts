import type { Pool } from 'pg';
import type { Queryable } from '../storage/event-store.js';

/**
 * The list of chain rows erasures deleted or rewrote (`erased_chain_rows`) decides what `audit
 * verify` accepts as missing or changed, so it must not change unseen: a row added to it would
 * hide a deletion. Every change of the list (an erasure, `audit prune`) records a digest of the
 * whole list as it leaves it in its audit entry (`details.erasedRows`), which joins the chain;
 * `audit verify` checks the list against the newest such entry. The list is not grouped by
 * erasure, and so neither is the digest: it tells nobody which rows were one person's.
 *
 * Changes of the list take ERASURE_LIST_LOCK, so that each entry's digest is of the list as its
 * transaction commits it.
 */
export const ERASURE_LIST_LOCK = `SELECT pg_advisory_xact_lock(hashtextextended('identgate-erasure-list', 0))`;

/** SHA-256 (hex) of the whole list in order; the same text for an empty list. */
export async function erasureListDigest(db: Queryable): Promise<string> {
  const result = await db.query<{ digest: string }>(
    `SELECT encode(sha256(convert_to(coalesce(string_agg(
              site || '/' || no || '/' || coalesce(encode(redacted, 'hex'), '-'), ',' ORDER BY site, no), ''), 'UTF8')), 'hex') AS digest
       FROM erased_chain_rows`,
  );
  return result.rows[0]?.digest as string;
}

/**
 * Why the list does not match the newest audit entry that recorded it; undefined when it does.
 * Read in one snapshot: an erasure committing between the reads is not a list changed unseen.
 */
export async function erasureListProblem(pool: Pool): Promise<string | undefined> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const problem = await listProblemIn(client);
    await client.query('COMMIT');
    return problem;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

async function listProblemIn(db: Queryable): Promise<string | undefined> {
  const recorded = await db.query<{ id: string; action: string; digest: string }>(
    `SELECT id, action, details ->> 'erasedRows' AS digest FROM audit_log
      WHERE details ? 'erasedRows' ORDER BY id DESC LIMIT 1`,
  );
  const digest = await erasureListDigest(db);
  const size = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM erased_chain_rows');
  const newest = recorded.rows[0];
  const rows = size.rows[0]?.n ?? 0;
  if (!newest)
    return rows === 0
      ? undefined
      : `the list of erased chain rows holds ${rows} rows, but no erasure recorded it: rows were added to it outside an erasure`;
  if (newest.digest === digest) return undefined;
  return `the list of erased chain rows (${rows} rows) is not the one the last change of it recorded (${newest.action}, audit entry ${newest.id}): rows were added to it or removed outside an erasure or a prune`;
}
