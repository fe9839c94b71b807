import type { Pool } from 'pg';
import type { Logger } from '../../lib/logger.js';
import type { LatestFact, OverviewFacts } from '../monitoring/overview.js';
import { withClient } from './database.js';

/**
 * Reads what the live overview is derived from, in one consistent snapshot (so that
 * `lastIngestNo` matches the state): the directory, the registered gateways and the newest event
 * per fact.
 *
 * Look-back bound: only events that occurred in the last `lookbackDays` (7 by default) are read,
 * so that the cost is that of a week of events (the day partitions of that week, pruned by
 * `occurred_at`), not of the whole retention period. A fact older than that shows as unknown
 * (a door's lock state, a room's occupancy) until its next event; a gateway heard from only
 * before then shows as offline. Video segments, the most frequent kind, are read for the last
 * `segmentMinutes` only: a recording camera writes one every few seconds.
 */
export interface OverviewBounds {
  lookbackDays: number;
  segmentMinutes: number;
}

export const DEFAULT_OVERVIEW_BOUNDS: OverviewBounds = { lookbackDays: 7, segmentMinutes: 60 };

export class OverviewStore {
  constructor(
    private readonly pool: Pool,
    private readonly log: Logger,
  ) {}

  read(bounds: OverviewBounds = DEFAULT_OVERVIEW_BOUNDS): Promise<OverviewFacts> {
    return withClient(this.pool, this.log, async (client) => {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      try {
        // A retired gateway is not shown: its last sign of life would keep it "online" for days.
        const gateways = await client.query<{ site: string; id: string }>(
          'SELECT site, id FROM gateways WHERE retired_at IS NULL',
        );
        const doors = await client.query<{ site: string; id: string; room: string | null; name: string }>(
          'SELECT site, id, room, name FROM doors',
        );
        const rooms = await client.query<{ site: string; id: string; name: string }>(
          'SELECT site, id, name FROM rooms',
        );
        const cameras = await client.query<{ site: string; id: string }>('SELECT site, id FROM cameras');
        // Kept by the ingest (latest-facts.ts): a few rows per door, room, gateway and camera.
        // A lockdown or an evacuation holds until it is ended, however long ago it began.
        const latest = await client.query<FactRow>(
          `SELECT site, gateway, facet, subject, kind, occurred_at, data FROM latest_facts
            WHERE CASE WHEN facet = 'segment' THEN occurred_at >= now() - make_interval(mins => $2)
                       WHEN facet IN ('lockdown', 'evacuation') THEN true
                       ELSE occurred_at >= now() - make_interval(days => $1) END`,
          [bounds.lookbackDays, bounds.segmentMinutes],
        );
        const last = await client.query<{ n: string }>('SELECT coalesce(max(ingest_no), 0) AS n FROM events');
        await client.query('COMMIT');
        return {
          gateways: gateways.rows,
          doors: doors.rows,
          rooms: rooms.rows,
          cameras: cameras.rows,
          latest: latest.rows.map(fromRow),
          lastIngestNo: Number(last.rows[0]?.n ?? 0),
        };
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      }
    });
  }

  /**
   * Whether `door` is a door of that gateway as far as the central side knows: in the directory,
   * named by one of the gateway's stored events, or listed when the gateway last came online
   * (within the look-back bound, as on the overview). The last is read from the overview's facts
   * by their key: the gateway's events of the look-back week took 0.5 s on 3,000,000 events, before
   * every remote unlock.
   */
  async knowsDoor(
    site: string,
    gateway: string,
    door: string,
    bounds: OverviewBounds = DEFAULT_OVERVIEW_BOUNDS,
  ): Promise<boolean> {
    const result = await this.pool.query<{ known: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM doors WHERE site = $1 AND id = $3)
           OR EXISTS (SELECT 1 FROM events WHERE site = $1 AND door = $3 AND gateway = $2)
           OR EXISTS (SELECT 1 FROM latest_facts
                       WHERE site = $1 AND gateway = $2 AND facet = 'doors' AND subject = '' AND data -> 'doors' ? $3
                         AND occurred_at >= now() - make_interval(days => $4)) AS known`,
      [site, gateway, door, bounds.lookbackDays],
    );
    return result.rows[0]?.known === true;
  }
}

interface FactRow {
  site: string;
  gateway: string;
  facet: LatestFact['facet'];
  subject: string | null;
  kind: string;
  occurred_at: Date;
  data: Record<string, unknown>;
}

const fromRow = (r: FactRow): LatestFact => ({
  site: r.site,
  gateway: r.gateway,
  facet: r.facet,
  subject: r.subject as string,
  kind: r.kind,
  occurredAt: r.occurred_at.toISOString(),
  data: r.data,
});
