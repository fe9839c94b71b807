import type { Pool, PoolClient } from 'pg';
import { CodedError } from '../../lib/coded-error.js';
import { withTransaction } from '../storage/transaction.js';
import { type AuditEntry, writeAudit } from './audit-log.js';

export const AUDIT_UNAVAILABLE = 'IDG_AUDIT_UNAVAILABLE';

/**
 * The audit entry of a change (or of a look at personal data) could not be written, so the change
 * was rolled back with it (or nothing was shown). An HTTP answer says 503 with this code, and the
 * caller may try again.
 */
export class AuditUnavailableError extends CodedError {
  readonly statusCode = 503;

  constructor(action: string, cause: unknown, outcome = 'nothing was changed') {
    super(AUDIT_UNAVAILABLE, `${outcome}: the audit entry (${action}) could not be written`, { cause });
  }
}

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
    for (const entry of ([] as AuditEntry[]).concat(entries(result))) {
      try {
        ids.push(await writeAudit(db, entry));
      } catch (error) {
        throw new AuditUnavailableError(entry.action, error);
      }
    }
    await after?.(db, result, ids);
    return result;
  });
}
