import type { Pool } from 'pg';

/**
 * Why `audit verify` may accept a chain row whose source is missing or changed: retention's
 * deletion log (by site and time), an erasure's listing of the rows it deleted or redacted
 * (`erased_chain_rows`), or, for erasures logged before that listing existed (schema 26), the
 * erasure's time and count. Nothing here is a wildcard: a deletion-log row without a site covers
 * only the central chain, one without a span covers nothing.
 */
export interface CoveredRow {
  source: 'event' | 'alarm' | 'audit';
  at: Date;
  added_at: Date;
  /** An erasure listed this row: its source was deleted, or rewritten to `erased_digest`. */
  erased: boolean;
  erased_digest: Buffer | null;
}

interface RetentionDeletion {
  dataClass: string;
  site: string | null;
  to: Date;
}

/** An erasure from before schema 26, with how many more missing rows it may still account for. */
interface UnlistedErasure {
  dataClass: string;
  erasedAt: Date;
  remaining: number;
}

export interface Coverage {
  retention: readonly RetentionDeletion[];
  unlisted: UnlistedErasure[];
  /**
   * When the last erasure that replaced workstation users without listing the entries joined
   * the chain (before any erasure that lists them); null if there was none.
   */
  unlistedUserErasureAt: Date | null;
}

const CLASSES_OF: Record<CoveredRow['source'], readonly string[]> = {
  event: ['access-events', 'video'],
  alarm: ['alarms'],
  audit: [],
};

export async function loadCoverage(pool: Pick<Pool, 'query'>): Promise<Coverage> {
  const retention = await pool.query<{ data_class: string; site: string | null; span_to: Date }>(
    `SELECT data_class, site, span_to FROM deletion_log
      WHERE NOT dry_run AND method <> 'erase' AND span_to IS NOT NULL`,
  );
  const unlisted = await pool.query<{ data_class: string; erased_at: Date; deleted: string }>(
    'SELECT data_class, erased_at, deleted FROM unlisted_erasures ORDER BY erased_at',
  );
  // An erasure lists its audit entries since its `person.erase` counts them (`auditEntries`);
  // one logged after the first such erasure cannot be an old one.
  const users = await pool.query<{ at: Date | null }>(
    `WITH erasures AS (
       SELECT coalesce(c.added_at, l.at) AS at, l.details ? 'auditEntries' AS lists
         FROM audit_log l LEFT JOIN audit_chain c ON c.source = 'audit' AND c.ref = l.id::text
        WHERE l.action = 'person.erase')
     SELECT max(at) AS at FROM erasures
      WHERE NOT lists AND at <= coalesce((SELECT min(at) FROM erasures WHERE lists), 'infinity')`,
  );
  return {
    unlistedUserErasureAt: users.rows[0]?.at ?? null,
    retention: retention.rows.map((r) => ({ dataClass: r.data_class, site: r.site, to: r.span_to })),
    unlisted: unlisted.rows.map((r) => ({
      dataClass: r.data_class,
      erasedAt: r.erased_at,
      remaining: Number(r.deleted),
    })),
  };
}

/** Whether a missing source row is accounted for; an old erasure's allowance is used up by it. */
export function coversMissing(coverage: Coverage, site: string, row: CoveredRow): boolean {
  // Listed as deleted: covered. Listed as rewritten, it was there after the erasure: only
  // retention may have deleted it since, as any other row.
  if (row.erased && row.erased_digest === null) return true;
  const classes = CLASSES_OF[row.source];
  // An alarm's line ends at the last activity of the alarms it deleted, which an alarm never
  // changed after it was raised reaches with its row's time: inclusive. An event's ends before
  // the cutoff: exclusive.
  const inSpan = (to: Date) =>
    row.source === 'alarm' ? row.at.getTime() <= to.getTime() : row.at.getTime() < to.getTime();
  const byRetention = coverage.retention.some(
    (d) => classes.includes(d.dataClass) && (d.site ?? '_central') === site && inSpan(d.to),
  );
  if (byRetention) return true;
  const erasure = coverage.unlisted.find(
    (e) =>
      classes.includes(e.dataClass) &&
      e.remaining > 0 &&
      row.added_at.getTime() <= e.erasedAt.getTime() &&
      row.at.getTime() <= e.erasedAt.getTime(),
  );
  if (!erasure) return false;
  erasure.remaining -= 1;
  return true;
}

/** Whether a changed source row (an event or audit entry) is the one an erasure left, unchanged since. */
export function isErasureRedaction(row: CoveredRow, actual: Buffer): boolean {
  return row.erased_digest?.equals(actual) ?? false;
}

/**
 * Whether a workstation entry whose user reads `erased`, and which no erasure listed, may be an
 * old erasure's: one that joined the chain no later than such an erasure.
 */
export function coversUnlistedUserErasure(coverage: Coverage, row: CoveredRow): boolean {
  const at = coverage.unlistedUserErasureAt;
  return !row.erased && at !== null && row.added_at.getTime() <= at.getTime();
}

/** Whether a workstation entry's user was replaced by `expired` under a presence line of the deletion log. */
export function coversPresenceExpiry(coverage: Coverage, at: Date): boolean {
  return coverage.retention.some((d) => d.dataClass === 'presence' && at.getTime() < d.to.getTime());
}
