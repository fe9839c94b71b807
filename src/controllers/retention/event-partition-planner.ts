import { classOfEventGroup, type EventGroup } from './data-classes.js';
import type { PolicyBook, PolicySource, ResolvedRetention } from './policy-book.js';
import { overlaps, subtract, type TimeRange } from './time-ranges.js';

/**
 * Decides, for each partition (or chunk) of `events`, how its expired rows go: the whole
 * partition is dropped when every site in it has expired for every class and no legal hold
 * touches it; otherwise each site's expired rows of each group are deleted by time range, with
 * the held spans cut out. Pure: the executor supplies the facts and carries out the plan.
 */
export interface EventPartition extends TimeRange {
  /** The table to drop or delete from (a partition or a TimescaleDB chunk). */
  name: string;
}

export interface LegalHoldRange extends TimeRange {
  id: number;
  /** null: every site. */
  site: string | null;
}

export interface EventDeleteStep {
  dataClass: 'access-events' | 'video';
  group: EventGroup;
  site: string;
  /** The policy that decided. */
  source: PolicySource;
  days: number;
  /** The expired spans of this partition to delete, holds already taken out. */
  ranges: TimeRange[];
  /** The parts of the expired span that legal holds keep, and the holds. */
  held: TimeRange[];
  heldBy: number[];
}

export interface PartitionPlan<P extends EventPartition = EventPartition> {
  partition: P;
  method: 'partition-drop' | 'delete';
  /** For a drop, what it removes, one step per site and group (whole partition). */
  steps: EventDeleteStep[];
}

export const EVENT_CLASSES = ['access-events', 'video'] as const;
const GROUPS: readonly EventGroup[] = ['access', 'video', 'footage-link'];

/** Partitions that may hold expired rows under some policy; the rest need not be inspected. */
export function partitionsToInspect<P extends EventPartition>(
  partitions: readonly P[],
  book: PolicyBook,
): P[] {
  const latest = book.latestCutoff(EVENT_CLASSES);
  return partitions.filter((p) => p.from < latest).sort((a, b) => a.from - b.from);
}

export function holdsFor(site: string | null, holds: readonly LegalHoldRange[]): LegalHoldRange[] {
  return holds.filter((h) => h.site === null || h.site === site);
}

/**
 * `sites` are the sites with rows in the partition. An empty partition is dropped once the rows
 * a site without its own policy would have put there have expired.
 */
export function planPartition<P extends EventPartition>(
  partition: P,
  sites: readonly string[],
  book: PolicyBook,
  holds: readonly LegalHoldRange[],
): PartitionPlan<P> | undefined {
  if (sites.length === 0) {
    const unscoped = Math.min(...EVENT_CLASSES.map((c) => book.resolve(c, null).cutoff));
    return partition.to <= unscoped ? { partition, method: 'partition-drop', steps: [] } : undefined;
  }
  const candidates = [...sites].sort().flatMap((site) => GROUPS.map((group) => candidate(site, group, book)));
  const droppable =
    candidates.every((c) => partition.to <= c.cutoff) &&
    !sites.some((site) => holdsFor(site, holds).some((h) => overlaps(h, partition)));
  if (droppable) {
    const whole = [{ from: partition.from, to: partition.to }];
    return {
      partition,
      method: 'partition-drop',
      steps: candidates.map(({ cutoff: _, ...step }) => ({ ...step, ranges: whole, held: [], heldBy: [] })),
    };
  }
  const steps: EventDeleteStep[] = [];
  for (const { cutoff, ...step } of candidates) {
    const expiredUntil = Math.min(partition.to, cutoff);
    if (expiredUntil <= partition.from) continue;
    const expired = { from: partition.from, to: expiredUntil };
    const holding = holdsFor(step.site, holds).filter((h) => overlaps(h, expired));
    const ranges = subtract(expired, holding);
    steps.push({ ...step, ranges, held: subtract(expired, ranges), heldBy: holding.map((h) => h.id) });
  }
  return steps.length > 0 ? { partition, method: 'delete', steps } : undefined;
}

type Candidate = Omit<EventDeleteStep, 'ranges' | 'held' | 'heldBy'> & { cutoff: number };

/**
 * How long a group of events is kept at a site. A footage link expires with whichever of its two
 * classes expires first (the later cutoff). The ingest judges an arriving event by the same rule.
 */
export function groupRetention(book: PolicyBook, group: EventGroup, site: string): ResolvedRetention {
  const own = book.resolve(classOfEventGroup(group), site);
  if (group !== 'footage-link') return own;
  const access = book.resolve('access-events', site);
  return access.cutoff > own.cutoff ? access : own;
}

function candidate(site: string, group: EventGroup, book: PolicyBook): Candidate {
  const decided = groupRetention(book, group, site);
  const dataClass = classOfEventGroup(group);
  return { dataClass, group, site, source: decided.source, days: decided.days, cutoff: decided.cutoff };
}
