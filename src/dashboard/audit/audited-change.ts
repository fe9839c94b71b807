import type { Pool, PoolClient } from 'pg';
import { withTransaction } from '../storage/transaction.js';
import { type AuditEntry, auditOrRefuse } from './audit-log.js';

export { AUDIT_UNAVAILABLE, AuditUnavailableError } from './audit-log.js';

/**
 * Runs a change and writes its audit entries in the same transaction: either both are committed
 * or neither is. No administrator's change can land unaudited because the audit log failed (a full
 * disk, a broken constraint) just after it. `entries` is called with what `work` answered, so an
 * entry can say what the change found (created or updated, sessions ended); an empty list
 * audits nothing. `after` runs once the entries are written, in the same transaction, with their
 * ids in order: for what must name an entry and stand or fall with the change (an alarm about it).
 */
export async function auditedChange<T>(
  pool: Pool,
  work: (db: PoolClient) => Promise<T>,
  entries: (result: T) => AuditEntry | readonly AuditEntry[],
  after?: (db: PoolClient, result: T, ids: readonly number[]) => Promise<void>,
): Promise<T> {
  return withTransaction(pool, async (db) => {
    const result = await work(db);
    const ids: number[] = [];
    for (const entry of ([] as AuditEntry[]).concat(entries(result)))
      ids.push(await auditOrRefuse(db, entry));
    await after?.(db, result, ids);
    return result;
  });
}
