import { performance } from 'node:perf_hooks';
import type { Pool } from 'pg';
import type { RowSweep } from '../../controllers/retention/row-sweep-planner.js';
import type { DeletionEntry } from './retention-schemas.js';

/**
 * Batched deletes for the classes kept row by row: alarms (by their last activity, in any
 * state, a resolution with its comment included) and quarantined payloads (by when they arrived). A row whose time span touches a held
 * span stays. A dry run counts the same rows.
 */
export interface RowTable {
  dataClass: 'alarms' | 'quarantine';
  table: string;
  /** When the row's personal data last changed; it expires that long after. */
  time: string;
  /** When the row began (a hold on any part of [start, time] keeps it). */
  start: string;
  /** The rows of one site; $1 is the site (null: rows without one). Absent: the class has no site. */
  siteFilter?: string;
}

export const ALARMS: RowTable = {
  dataClass: 'alarms',
  table: 'alarms',
  time: 'greatest(raised_at, last_seen_at, cleared_at, acknowledged_at, resolved_at)',
  start: 'raised_at',
  siteFilter: 'site IS NOT DISTINCT FROM $1',
};

export const QUARANTINE: RowTable = {
  dataClass: 'quarantine',
  table: 'quarantine',
  time: 'received_at',
  start: 'received_at',
};

export class RowSweeper {
  constructor(
    private readonly pool: Pool,
    private readonly batchSize: number,
    private readonly shouldStop: () => boolean,
  ) {}

  /** The sites that have rows in an alarm-like table (null for rows without a site). */
  async sites(table: RowTable): Promise<Array<string | null>> {
    if (!table.siteFilter) return [null];
    const result = await this.pool.query<{ site: string | null }>(`SELECT DISTINCT site FROM ${table.table}`);
    return result.rows.map((r) => r.site);
  }

  /** Deletes (or counts) the expired rows; `held` is how many expired rows the holds kept. */
  async sweep(
    table: RowTable,
    sweep: RowSweep,
    dryRun: boolean,
  ): Promise<{ entry: DeletionEntry | undefined; held: number }> {
    const started = performance.now();
    // $1 site, $2 cutoff, $3/$4 held spans.
    const expired = `${table.siteFilter ?? '$1::text IS NULL'} AND ${table.time} < $2`;
    const isHeld = `EXISTS (SELECT 1 FROM unnest($3::timestamptz[], $4::timestamptz[]) AS h(held_from, held_to)
                             WHERE ${table.start} < h.held_to AND ${table.time} >= h.held_from)`;
    const where = `${expired} AND NOT ${isHeld}`;
    const params = [
      sweep.site,
      new Date(sweep.cutoff),
      sweep.held.map((h) => new Date(h.from)),
      sweep.held.map((h) => new Date(h.to)),
    ];
    const seen: { count: number; from?: Date; to?: Date } = { count: 0 };
    const widen = (row: { n: number; first: Date | null; last: Date | null } | undefined) => {
      seen.count += row?.n ?? 0;
      if (row?.first && (!seen.from || row.first < seen.from)) seen.from = row.first;
      if (row?.last && (!seen.to || row.last > seen.to)) seen.to = row.last;
      return row?.n ?? 0;
    };
    if (dryRun) {
      const result = await this.pool.query<{ n: number; first: Date | null; last: Date | null }>(
        `SELECT count(*)::int AS n, min(${table.time}) AS first, max(${table.time}) AS last
           FROM ${table.table} WHERE ${where}`,
        params,
      );
      widen(result.rows[0]);
    } else {
      for (;;) {
        const result = await this.pool.query<{ n: number; first: Date | null; last: Date | null }>(
          `WITH gone AS (
             DELETE FROM ${table.table} WHERE id = ANY(ARRAY(SELECT id FROM ${table.table} WHERE ${where} LIMIT $5))
             RETURNING ${table.time} AS t
           ) SELECT count(*)::int AS n, min(t) AS first, max(t) AS last FROM gone`,
          [...params, this.batchSize],
        );
        if (widen(result.rows[0]) < this.batchSize || this.shouldStop()) break;
      }
    }
    let held = 0;
    if (sweep.held.length > 0) {
      const result = await this.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM ${table.table} WHERE ${expired} AND ${isHeld}`,
        params,
      );
      held = result.rows[0]?.n ?? 0;
    }
    if (seen.count === 0) return { entry: undefined, held };
    const entry: DeletionEntry = {
      dataClass: table.dataClass,
      scope: sweep.source,
      site: sweep.site,
      from: seen.from?.toISOString() ?? null,
      to: seen.to?.toISOString() ?? null,
      count: seen.count,
      method: 'delete',
      durationMs: Math.round(performance.now() - started),
    };
    return { entry, held };
  }
}
