import { performance } from 'node:perf_hooks';
import type { Pool } from 'pg';
import type { EventGroup } from '../../controllers/retention/data-classes.js';
import type { EventDeleteStep, PartitionPlan } from '../../controllers/retention/event-partition-planner.js';
import type { TimeRange } from '../../controllers/retention/time-ranges.js';
import type { Queryable } from '../storage/event-store.js';
import { withTransaction } from '../storage/transaction.js';
import { EVENT_GROUP_SQL, eventGroupPredicate } from './event-sql.js';
import type { PartitionSql, StoredPartition } from './partition-sql.js';
import type { DeletionEntry } from './retention-schemas.js';

/**
 * Carries out the plan for one partition of `events`: drops it whole, or deletes each step's
 * ranges in batches of `batchSize` rows, each batch its own short transaction. The sequence
 * numbers of deleted events go with them (`retire`). A dry run counts the same rows and changes
 * nothing.
 */
/**
 * Where deletions go: `log` writes them (inside the drop's transaction), `done` after the commit;
 * `held` hears of expired rows that a legal hold kept.
 */
export interface DeletionRecorder {
  log(entries: DeletionEntry[], db: Queryable): Promise<void>;
  done(entries: DeletionEntry[]): void;
  held?(step: EventDeleteStep, count: number): void;
}

export interface EventSweeperOptions {
  pool: Pool;
  partitions: PartitionSql;
  batchSize: number;
  /** Asked between batches: a stopping dashboard does not wait for a long sweep. */
  shouldStop: () => boolean;
  /**
   * How long a drop waits for its locks before giving up until the next run: dropping a
   * partition takes ACCESS EXCLUSIVE on `events`, and every insert queues behind the wait.
   */
  lockTimeoutMs: number;
}

export class EventSweeper {
  constructor(private readonly options: EventSweeperOptions) {}

  /** The sites with rows in the partition, by skipping through the (site, occurred_at) index. */
  async sites(partition: StoredPartition): Promise<string[]> {
    const t = partition.table;
    const result = await this.options.pool.query<{ site: string }>(
      `WITH RECURSIVE s(site) AS (
         (SELECT site FROM ${t} ORDER BY site LIMIT 1)
         UNION ALL
         SELECT (SELECT site FROM ${t} WHERE site > s.site ORDER BY site LIMIT 1) FROM s WHERE s.site IS NOT NULL
       ) SELECT site FROM s WHERE site IS NOT NULL`,
    );
    return result.rows.map((r) => r.site);
  }

  async execute(
    plan: PartitionPlan<StoredPartition>,
    dryRun: boolean,
    record: DeletionRecorder,
  ): Promise<void> {
    if (plan.method === 'partition-drop') await this.drop(plan, dryRun, record);
    else {
      for (const step of plan.steps) {
        let held = 0;
        for (const range of step.held) held += await this.count(plan.partition, step, range);
        if (held > 0) record.held?.(step, held);
        for (const range of step.ranges) {
          if (this.options.shouldStop()) return;
          const started = performance.now();
          const count = dryRun
            ? await this.count(plan.partition, step, range)
            : await this.deleteRange(plan.partition, step, range);
          const entry = toEntry(step, range, count, 'delete', performance.now() - started);
          if (count === 0) continue;
          await record.log([entry], this.options.pool);
          record.done([entry]);
        }
      }
    }
  }

  private async drop(
    plan: PartitionPlan<StoredPartition>,
    dryRun: boolean,
    record: DeletionRecorder,
  ): Promise<void> {
    const { partition } = plan;
    const started = performance.now();
    const summarise = (counts: Map<string, number>) => {
      const range = { from: partition.from, to: partition.to };
      const ms = performance.now() - started;
      return plan.steps
        .map((step) =>
          toEntry(step, range, counts.get(`${step.site}/${step.group}`) ?? 0, 'partition-drop', ms),
        )
        .filter((entry) => entry.count > 0);
    };
    if (dryRun) {
      const entries = summarise(await this.countByGroup(this.options.pool, partition));
      await record.log(entries, this.options.pool);
      record.done(entries);
      return;
    }
    const entries = await withTransaction(this.options.pool, async (db) => {
      await db.query(`SELECT set_config('lock_timeout', $1, true)`, [`${this.options.lockTimeoutMs}ms`]);
      // No late event may slip into the partition between counting and dropping.
      await db.query(`LOCK TABLE ${partition.table} IN SHARE MODE`);
      const counts = await this.countByGroup(db, partition);
      const highest = await db.query<Highest>(
        `SELECT site, gateway, max(seq) AS hi FROM ${partition.table} GROUP BY site, gateway`,
      );
      await retire(db, highest.rows);
      await this.options.partitions.drop(db, partition);
      const dropped = summarise(counts);
      await record.log(dropped, db);
      return dropped;
    });
    record.done(entries);
  }

  private async countByGroup(db: Queryable, partition: StoredPartition): Promise<Map<string, number>> {
    const result = await db.query<{ site: string; grp: EventGroup; n: number }>(
      `SELECT site, ${EVENT_GROUP_SQL} AS grp, count(*)::int AS n FROM ${partition.table} GROUP BY 1, 2`,
    );
    return new Map(result.rows.map((r) => [`${r.site}/${r.grp}`, r.n]));
  }

  private async count(partition: StoredPartition, step: EventDeleteStep, range: TimeRange): Promise<number> {
    const result = await this.options.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${partition.table}
        WHERE site = $1 AND occurred_at >= $2 AND occurred_at < $3 AND ${eventGroupPredicate(step.group)}`,
      [step.site, new Date(range.from), new Date(range.to)],
    );
    return result.rows[0]?.n ?? 0;
  }

  private async deleteRange(
    partition: StoredPartition,
    step: EventDeleteStep,
    range: TimeRange,
  ): Promise<number> {
    const { pool, batchSize, shouldStop } = this.options;
    const t = partition.table;
    let total = 0;
    for (;;) {
      const deleted = await withTransaction(pool, async (db) => {
        const gone = await db.query<Highest & { n: number }>(
          `WITH gone AS (
             DELETE FROM ${t} WHERE ctid = ANY(ARRAY(
               SELECT ctid FROM ${t}
                WHERE site = $1 AND occurred_at >= $2 AND occurred_at < $3 AND ${eventGroupPredicate(step.group)}
                LIMIT $4))
             RETURNING site, gateway, seq
           ) SELECT site, gateway, max(seq) AS hi, count(*)::int AS n FROM gone GROUP BY site, gateway`,
          [step.site, new Date(range.from), new Date(range.to), batchSize],
        );
        await retire(db, gone.rows);
        return gone.rows.reduce((n, r) => n + r.n, 0);
      });
      total += deleted;
      if (deleted < batchSize || shouldStop()) return total;
    }
  }
}

interface Highest {
  site: string;
  gateway: string;
  /** The highest sequence number among the deleted events of this gateway. */
  hi: string;
}

/**
 * Moves each gateway's `retired_through` up to the highest number deleted and forgets the
 * numbers up to there: one primary-key range per gateway, so the cost follows the deleted
 * events, not the size of event_sequences. Numbers of events kept longer (a hold, a class with
 * a longer period) go too; the watermark still refuses a replay of any of them.
 *
 * Never past the gateway's contiguous watermark (everything up to it is present, or recorded
 * lost): the numbers above it may still arrive. A gateway whose clock went back (an event dated
 * years ago, with a current number) would otherwise have the numbers below that event's, not
 * yet arrived, refused as replays once retention deleted it. Numbers of deleted events above
 * the watermark keep their rows until a later run retires them.
 */
async function retire(db: Queryable, highest: readonly Highest[]): Promise<void> {
  for (const { site, gateway, hi } of highest) {
    await db.query(
      `WITH previous AS (
         SELECT retired_through, contiguous_through FROM gateway_sequences
          WHERE site = $1 AND gateway = $2 FOR UPDATE
       ), target AS (
         SELECT least($3::bigint, (SELECT contiguous_through FROM previous)) AS upto
       ), moved AS (
         UPDATE gateway_sequences SET retired_through = (SELECT upto FROM target)
          WHERE site = $1 AND gateway = $2
            AND (retired_through IS NULL OR retired_through < (SELECT upto FROM target))
       )
       DELETE FROM event_sequences
        WHERE site = $1 AND gateway = $2 AND seq <= (SELECT upto FROM target)
          AND seq > coalesce((SELECT retired_through FROM previous), 0)`,
      [site, gateway, hi],
    );
  }
}

function toEntry(
  step: EventDeleteStep,
  range: TimeRange,
  count: number,
  method: 'partition-drop' | 'delete',
  ms: number,
): DeletionEntry {
  return {
    dataClass: step.dataClass,
    scope: step.source,
    site: step.site,
    from: new Date(range.from).toISOString(),
    to: new Date(range.to).toISOString(),
    count,
    method,
    durationMs: Math.round(ms),
  };
}
