import type { DataClass } from '../../controllers/retention/data-classes.js';
import type { PolicySource } from '../../controllers/retention/policy-book.js';
import type { TimeRange } from '../../controllers/retention/time-ranges.js';
import type { DeletionEntry } from './retention-schemas.js';

/**
 * How a later feature's data joins retention: the export store (audit-exports) and the presence
 * cache (presence) implement this and register with `RetentionService.register()`. The job asks
 * them once per run; they delete (or, in a dry run, count) what is older than the cutoff of its
 * site, leave held spans alone, and say what went. They must not put personal data into the
 * entries: class, scope, site, span, count.
 */
export interface ExpiryRequest {
  dryRun: boolean;
  batchSize: number;
  /** The retention of this class for a site (null: data that belongs to no site). */
  cutoffFor(site: string | null): { cutoff: Date; source: PolicySource };
  /** Spans under legal hold for a site (null: holds of every site only). */
  heldFor(site: string | null): TimeRange[];
}

export interface ExpiringStore {
  readonly dataClass: Exclude<DataClass, 'access-events' | 'video' | 'alarms' | 'quarantine'>;
  deleteOlderThan(request: ExpiryRequest): Promise<DeletionEntry[]>;
}

/** The export store's part of it, named for what the export feature will implement. */
export interface ExportStore extends ExpiringStore {
  readonly dataClass: 'audit-exports';
}

export interface PresenceStore extends ExpiringStore {
  readonly dataClass: 'presence';
}
