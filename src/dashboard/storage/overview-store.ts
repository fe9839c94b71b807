import type { Pool } from 'pg';
import type { Logger } from '../../lib/logger.js';
import { FACETS, type LatestFact, type OverviewFacts } from '../monitoring/overview.js';
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

const STATE_FACETS = FACETS.filter(([, facet]) => facet !== 'segment');

export class OverviewStore {
  constructor(
    private readonly pool: Pool,
    private readonly log: Logger,
  ) {}

  read(bounds: OverviewBounds = DEFAULT_OVERVIEW_BOUNDS): Promise<OverviewFacts> {
    return withClient(this.pool, this.log, async (client) => {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      try {
        const gateways = await client.query<{ site: string; id: string }>('SELECT site, id FROM gateways');
        const doors = await client.query<{ site: string; id: string; room: string | null; name: string }>(
          'SELECT site, id, room, name FROM doors',
        );
        const rooms = await client.query<{ site: string; id: string; name: string }>(
          'SELECT site, id, name FROM rooms',
        );
        const cameras = await client.query<{ site: string; id: string }>('SELECT site, id FROM cameras');
        const latest = await client.query<FactRow>(
          `SELECT DISTINCT ON (e.site, e.gateway, f.facet, subject)
                  e.site, e.gateway, f.facet, e.kind, e.occurred_at, e.data,
                  CASE WHEN e.kind LIKE 'door.%' THEN e.door
                       WHEN e.kind LIKE 'camera.%' THEN e.data ->> 'camera'
                       ELSE coalesce(e.data ->> 'room', '') END AS subject
             FROM events e
             JOIN unnest($2::text[], $3::text[]) AS f(kind, facet) ON f.kind = e.kind
            WHERE e.occurred_at >= now() - make_interval(days => $1) AND e.kind = ANY($2::text[])
            ORDER BY e.site, e.gateway, f.facet, subject, e.occurred_at DESC, e.ingest_no DESC`,
          [bounds.lookbackDays, STATE_FACETS.map(([kind]) => kind), STATE_FACETS.map(([, facet]) => facet)],
        );
        const segments = await client.query<FactRow>(
          `SELECT DISTINCT ON (site, gateway, subject)
                  site, gateway, 'segment' AS facet, kind, occurred_at, '{}'::jsonb AS data,
                  data ->> 'camera' AS subject
             FROM events
            WHERE occurred_at >= now() - make_interval(mins => $1) AND kind = 'video.segment'
            ORDER BY site, gateway, subject, occurred_at DESC`,
          [bounds.segmentMinutes],
        );
        const last = await client.query<{ n: string }>('SELECT coalesce(max(ingest_no), 0) AS n FROM events');
        await client.query('COMMIT');
        return {
          gateways: gateways.rows,
          doors: doors.rows,
          rooms: rooms.rows,
          cameras: cameras.rows,
          latest: [...latest.rows, ...segments.rows].filter((r) => r.subject !== null).map(fromRow),
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
   * (within the look-back bound, as on the overview).
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
           OR EXISTS (SELECT 1 FROM events
                       WHERE site = $1 AND gateway = $2 AND kind = 'gateway.online' AND data -> 'doors' ? $3
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
