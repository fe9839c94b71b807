import type { Pool } from 'pg';
import { DAY_MS } from '../../controllers/retention/policy-book.js';
import type { Clock } from '../../lib/clock.js';
import type { ExpiringStore, ExpiryRequest } from './expiring-store.js';
import type { DeletionEntry } from './retention-schemas.js';

/**
 * How long after an erasure an event of the person may still be dated: badged at a gateway that
 * has not yet received the credential set without them. 90 days is the longest offline horizon a
 * site may configure (door-policy-config.ts), after which a gateway stops granting.
 */
export const TOMBSTONE_MARGIN_DAYS = 90;

/**
 * Removes an erased person's tombstones (erasure-tombstones.ts) once no event of theirs can still
 * be stored. The ingest refuses an event older than the retention of its site and class
 * (EventAgeLimit): so with every event of the person dated at the latest TOMBSTONE_MARGIN_DAYS
 * after the erasure, a tombstone is needed for the longest events retention in force (any site,
 * access events or video, or the default) plus that margin. A legal hold in force lets older
 * events in, over its span: while one reaches back to a time the person's events may carry (any
 * hold starting before the erasure plus the margin), their tombstones stay.
 */
export class TombstoneExpiry implements ExpiringStore {
  readonly dataClass = 'erasure-tombstones' as const;

  constructor(
    private readonly pool: Pool,
    private readonly clock: Clock,
    private readonly defaultDays: number,
  ) {}

  async deleteOlderThan(request: ExpiryRequest): Promise<DeletionEntry[]> {
    const started = this.clock.now();
    const longest = await this.pool.query<{ days: number | null }>(
      `SELECT max(days)::int AS days FROM retention_policies WHERE data_class IN ('access-events', 'video')`,
    );
    const days = Math.max(this.defaultDays, longest.rows[0]?.days ?? 0) + TOMBSTONE_MARGIN_DAYS;
    const margin = TOMBSTONE_MARGIN_DAYS * DAY_MS;
    const cutoff = Math.min(
      started - days * DAY_MS,
      ...request.heldFor(null).map((hold) => hold.from - margin),
    );
    const at = new Date(cutoff);
    const result = request.dryRun
      ? await this.pool.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM erasure_tombstones WHERE erased_at < $1',
          [at],
        )
      : await this.pool.query('DELETE FROM erasure_tombstones WHERE erased_at < $1', [at]);
    const count = request.dryRun ? (result.rows[0]?.n ?? 0) : (result.rowCount ?? 0);
    if (count === 0) return [];
    return [
      {
        dataClass: 'erasure-tombstones',
        scope: 'global',
        site: null,
        from: null,
        to: at.toISOString(),
        count,
        method: 'delete',
        durationMs: Math.max(0, Math.round(this.clock.now() - started)),
      },
    ];
  }
}
