import type { Pool } from 'pg';
import type { Logger } from '../../lib/logger.js';

const DAY_MS = 86_400_000;

/**
 * How far back an event may be dated and still be stored: within the longest retention of the
 * classes kept in `events` (access events and video, by any policy or the default), or from
 * the start of a legal hold still in force, whichever reaches further back. An older event would
 * be deleted by the next retention run, and each day it names costs a partition of its own: a
 * gateway's key could otherwise create thousands, which makes every query over `events` that is
 * not bounded by time fail ("out of shared memory", a lock per partition and index), the
 * dashboard's restart included. The ingest quarantines such an event as `past-time`.
 *
 * Read from the database at start and then every minute, so that a policy set or a hold placed by
 * any instance counts within a minute; until the first read nothing is refused.
 */
export class EventAgeLimit {
  private keepDays: number | undefined;
  private heldFrom: number | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly pool: Pool,
    private readonly defaultDays: number,
    private readonly log: Logger,
  ) {}

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
    const result = await this.pool.query<{ days: number | null; held_from: Date | null }>(
      `SELECT (SELECT max(days) FROM retention_policies WHERE data_class IN ('access-events', 'video')) AS days,
              (SELECT min(held_from) FROM legal_holds WHERE released_at IS NULL) AS held_from`,
    );
    const row = result.rows[0];
    this.keepDays = Math.max(this.defaultDays, row?.days ?? 0);
    this.heldFrom = row?.held_from?.getTime();
  }

  /** The earliest instant an event may be dated at `now`; undefined before the first read. */
  earliest(now: number): number | undefined {
    if (this.keepDays === undefined) return undefined;
    const retained = now - this.keepDays * DAY_MS;
    return this.heldFrom === undefined ? retained : Math.min(retained, this.heldFrom);
  }

  /** The longest retention in days, for messages. */
  get days(): number | undefined {
    return this.keepDays;
  }
}
