import { DATA_CLASSES, type DataClass } from './data-classes.js';
import { holdsFor, type LegalHoldRange } from './event-partition-planner.js';
import type { PolicyBook, PolicySource } from './policy-book.js';
import { overlaps, type TimeRange } from './time-ranges.js';

/**
 * Row-by-row classes (alarms, quarantine, registered stores): per site, what expired before
 * which instant and which held spans must be spared. A class without a trustworthy site
 * (quarantine) is held by every hold, whatever its site.
 */
export interface RowSweep {
  dataClass: DataClass;
  /** null: rows without a site. */
  site: string | null;
  source: PolicySource;
  days: number;
  /** Rows whose time is before this instant (epoch ms) have expired. */
  cutoff: number;
  /** Spans under legal hold that reach back before the cutoff: rows in them stay. */
  held: TimeRange[];
  heldBy: number[];
}

export function planRowSweep(
  dataClass: DataClass,
  site: string | null,
  book: PolicyBook,
  holds: readonly LegalHoldRange[],
): RowSweep {
  const siteBound = DATA_CLASSES[dataClass].scopes.includes('site');
  const { cutoff, source, days } = book.resolve(dataClass, siteBound ? site : null);
  const applicable = siteBound ? holdsFor(site, holds) : holds;
  const expired = { from: Number.NEGATIVE_INFINITY, to: cutoff };
  const held = applicable.filter((h) => overlaps(h, expired));
  return {
    dataClass,
    site,
    source,
    days,
    cutoff,
    held: held.map(({ from, to }) => ({ from, to })),
    heldBy: held.map((h) => h.id),
  };
}
