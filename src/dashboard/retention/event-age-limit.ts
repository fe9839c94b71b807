import type { Pool } from 'pg';
import { eventGroupOf } from '../../controllers/retention/data-classes.js';
import {
  groupRetention,
  holdsFor,
  type LegalHoldRange,
} from '../../controllers/retention/event-partition-planner.js';
import { DAY_MS, PolicyBook } from '../../controllers/retention/policy-book.js';
import type { Logger } from '../../lib/logger.js';
import { RetentionStore } from './retention-store.js';

/** Why an event is too old to store. */
export interface TooOld {
  /** Where its retention comes from (`site:<id>`, `customer:<id>`, `global`, `default`). */
  source: string;
  days: number;
}

/**
 * Whether an event is still within what retention keeps for its site and class, as the retention
 * job decides it: the site's policy, else its customer's, else the global one, else the default
 * (a footage link with the shorter of access events and video); or inside a legal hold in force
 * over its site or all sites. An older event would be deleted by the next run, and each day it
 * names costs a partition of its own: a gateway's key could otherwise create thousands, which
 * makes every query over `events` not bounded by time fail ("out of shared memory", a lock per
 * partition and index), the dashboard's restart included. The ingest quarantines such an event
 * as `past-time`.
 *
 * Read from the database at start and then every minute, so that a policy or hold set by any
 * instance counts within a minute; until the first read nothing is refused.
 */
export class EventAgeLimit {
  private book: PolicyBook | undefined;
  private holds: readonly LegalHoldRange[] = [];
  /** The retention of each site and group, as resolved since the last read (one lookup per event). */
  private readonly resolved = new Map<string, TooOld>();
  private timer: NodeJS.Timeout | undefined;
  private readonly store: RetentionStore;

  constructor(
    pool: Pool,
    private readonly defaultDays: number,
    private readonly log: Logger,
  ) {
    this.store = new RetentionStore(pool);
  }

  async start(refreshMs = 60_000): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => {
      this.refresh().catch((error: Error) =>
        this.log.warn(
          { err: error },
          'could not read the retention policies for the ingest; the last ones hold',
        ),
      );
    }, refreshMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  async refresh(): Promise<void> {
    const rules = await this.store.policies();
    const customers = await this.store.customerOfSites();
    const holds = await this.store.activeHoldRanges();
    // The book's own instant is not used: cutoffs are taken at each event's check.
    this.book = new PolicyBook(rules, this.defaultDays, customers, 0);
    this.holds = holds;
    this.resolved.clear();
  }

  /** Undefined while the event is kept (or nothing has been read yet); why not, otherwise. */
  tooOld(site: string, kind: string, at: number, now: number): TooOld | undefined {
    const book = this.book;
    if (!book) return undefined;
    const group = eventGroupOf(kind);
    const key = `${site}\u0000${group}`;
    let rule = this.resolved.get(key);
    if (!rule) {
      const { source, days } = groupRetention(book, group, site);
      rule = { source, days };
      this.resolved.set(key, rule);
    }
    if (at >= now - rule.days * DAY_MS) return undefined;
    if (holdsFor(site, this.holds).some((hold) => at >= hold.from && at < hold.to)) return undefined;
    return { source: rule.source, days: rule.days };
  }
}
