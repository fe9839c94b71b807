import type { Pool } from 'pg';
import type { DataClass } from '../../controllers/retention/data-classes.js';
import type { Queryable } from '../storage/event-store.js';
import type { DeletionEntry, DeletionLogRow, DeletionMethod } from './retention-schemas.js';

/** The deletion log: per run, class, scope, span, count, method, duration. Never whose data it was. */
export interface RunStamp {
  runId: string;
  startedAt: Date;
  dryRun: boolean;
}

export async function writeDeletions(
  db: Queryable,
  run: RunStamp,
  entries: readonly DeletionEntry[],
): Promise<void> {
  if (entries.length === 0) return;
  await db.query(
    `INSERT INTO deletion_log (run_id, started_at, data_class, scope, site, span_from, span_to, deleted, method, duration_ms, dry_run)
     SELECT $1, $2, e.data_class, e.scope, e.site, e.span_from, e.span_to, e.deleted, e.method, e.duration_ms, $10
       FROM unnest($3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::timestamptz[], $8::bigint[],
                   $9::text[], $11::int[])
         AS e(data_class, scope, site, span_from, span_to, deleted, method, duration_ms)`,
    [
      run.runId,
      run.startedAt,
      entries.map((e) => e.dataClass),
      entries.map((e) => e.scope),
      entries.map((e) => e.site),
      entries.map((e) => e.from),
      entries.map((e) => e.to),
      entries.map((e) => e.count),
      entries.map((e) => e.method),
      run.dryRun,
      entries.map((e) => e.durationMs),
    ],
  );
}

interface Row {
  run_id: string;
  started_at: Date;
  data_class: DataClass;
  scope: string;
  site: string | null;
  span_from: Date | null;
  span_to: Date | null;
  deleted: string;
  method: DeletionMethod;
  duration_ms: number;
  dry_run: boolean;
}

export async function readDeletions(
  pool: Pool,
  options: { limit?: number; runId?: string } = {},
): Promise<DeletionLogRow[]> {
  const result = await pool.query<Row>(
    `SELECT * FROM deletion_log WHERE $2::uuid IS NULL OR run_id = $2 ORDER BY id DESC LIMIT $1`,
    [options.limit ?? 500, options.runId ?? null],
  );
  return result.rows.map((r) => ({
    runId: r.run_id,
    startedAt: r.started_at.toISOString(),
    dryRun: r.dry_run,
    dataClass: r.data_class,
    scope: r.scope,
    site: r.site,
    from: r.span_from?.toISOString() ?? null,
    to: r.span_to?.toISOString() ?? null,
    count: Number(r.deleted),
    method: r.method,
    durationMs: r.duration_ms,
  }));
}
