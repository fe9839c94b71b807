import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import type { RetentionConfig } from '../../config/dashboard-config.js';
import { DATA_CLASSES, type DataClass } from '../../controllers/retention/data-classes.js';
import {
  holdsFor,
  type LegalHoldRange,
  partitionsToInspect,
  planPartition,
} from '../../controllers/retention/event-partition-planner.js';
import { DAY_MS, PolicyBook } from '../../controllers/retention/policy-book.js';
import { planRowSweep } from '../../controllers/retention/row-sweep-planner.js';
import type { Clock } from '../../lib/clock.js';
import { CodedError } from '../../lib/coded-error.js';
import type { Logger } from '../../lib/logger.js';
import { JOB_LOCKS, withJobLock } from '../storage/database.js';
import { ensureEventPartitions } from '../storage/event-partitions.js';
import type { Queryable } from '../storage/event-store.js';
import { type RunStamp, writeDeletions } from './deletion-log.js';
import { EventSweeper } from './event-sweeper.js';
import type { ExpiringStore } from './expiring-store.js';
import type { PartitionSql } from './partition-sql.js';
import type { RetentionAlarms } from './retention-alarms.js';
import { RetentionErrorCode } from './retention-errors.js';
import type { DeletionEntry, HeldEntry, RetentionReport } from './retention-schemas.js';
import type { RetentionStore } from './retention-store.js';
import { ALARMS, QUARANTINE, RowSweeper } from './row-sweeper.js';

/**
 * One retention run: under an advisory lock (one instance at a time), it creates the coming
 * days' partitions, reads policies and holds, plans with the pure planners and carries the plan
 * out — events by partition drop or batched deletes, then alarms, quarantine and the registered
 * stores — writing each deletion to the log as it happens. A step that fails is reported and
 * retried by the next run; the others go on. A dry run does everything but change data (its
 * counts are logged, marked dry).
 */
export interface RetentionRunOptions {
  pool: Pool;
  store: RetentionStore;
  partitions: PartitionSql;
  settings: RetentionConfig;
  stores: ReadonlyMap<DataClass, ExpiringStore>;
  clock: Clock;
  log: Logger;
  shouldStop: () => boolean;
  /** Told how each real run ended; absent, failures are only logged and reported. */
  alarms?: RetentionAlarms;
}

/** PostgreSQL's error when a wait for a lock reached `lock_timeout`. */
const LOCK_NOT_AVAILABLE = '55P03';

/** The step that creates the coming days' event partitions, as failures name it. */
export const CREATE_AHEAD_STEP = 'events: create partitions ahead';

export async function runRetention(options: RetentionRunOptions, dryRun: boolean): Promise<RetentionReport> {
  const report = await withJobLock(options.pool, options.log, JOB_LOCKS.retention, () =>
    new RetentionRun(options, dryRun).run(),
  );
  if (!report) {
    throw new CodedError(
      RetentionErrorCode.busy,
      'another instance is running retention right now; try again shortly',
    );
  }
  return report;
}

class RetentionRun {
  private readonly stamp: RunStamp;
  private readonly entries: DeletionEntry[] = [];
  private readonly held: HeldEntry[] = [];
  private readonly failures: RetentionReport['failures'] = [];

  constructor(
    private readonly options: RetentionRunOptions,
    private readonly dryRun: boolean,
  ) {
    this.stamp = { runId: randomUUID(), startedAt: new Date(options.clock.now()), dryRun };
  }

  async run(): Promise<RetentionReport> {
    const { pool, store, settings, clock } = this.options;
    let partitionsCreated = 0;
    let partitionsMissing: string[] = [];
    if (!this.dryRun)
      await this.attempt(CREATE_AHEAD_STEP, async () => {
        try {
          partitionsCreated = await this.createAhead();
        } catch (error) {
          partitionsMissing = await this.nearDaysMissing().catch(() => []);
          throw error;
        }
      });
    // One after another: the job should not take the pool's connections from the ingest.
    const rules = await store.policies();
    const customers = await store.customerOfSites();
    const holds = await store.activeHoldRanges();
    const book = new PolicyBook(rules, settings.defaultDays, customers, clock.now());
    await this.sweepEvents(book, holds);
    const rows = new RowSweeper(pool, settings.batchSize, this.options.shouldStop);
    for (const table of [ALARMS, QUARANTINE]) {
      await this.attempt(`${table.dataClass}`, async () => {
        for (const site of await rows.sites(table)) {
          const sweep = planRowSweep(table.dataClass, site, book, holds);
          const { entry, held } = await rows.sweep(table, sweep, this.dryRun);
          this.noteHeld(table.dataClass, site, sweep.heldBy, held);
          if (entry) await this.record([entry], pool);
        }
      });
    }
    await this.sweepRegistered(book, holds);
    const report: RetentionReport = {
      runId: this.stamp.runId,
      dryRun: this.dryRun,
      startedAt: this.stamp.startedAt.toISOString(),
      finishedAt: new Date(clock.now()).toISOString(),
      partitionsCreated,
      entries: this.entries,
      held: this.held,
      failures: this.failures,
    };
    this.options.log.info(
      {
        runId: report.runId,
        dryRun: this.dryRun,
        deleted: this.entries.reduce((n, e) => n + e.count, 0),
        failures: this.failures.length,
      },
      this.dryRun ? 'retention dry run finished' : 'retention run finished',
    );
    if (!this.dryRun) await this.options.alarms?.runFinished(report, partitionsMissing);
    return report;
  }

  /** Today and tomorrow, when they have no partition: their events could not be stored. */
  private async nearDaysMissing(): Promise<string[]> {
    const today = Math.floor(this.options.clock.now() / DAY_MS) * DAY_MS;
    const days = [today, today + DAY_MS].map((ms) => new Date(ms).toISOString().slice(0, 10));
    return this.options.partitions.missingDays(this.options.pool, days);
  }

  /** Runs every hour for days ahead: a few attempts that time out on their lock cost nothing. */
  private async createAhead(): Promise<number> {
    const { pool, settings, clock } = this.options;
    const today = Math.floor(clock.now() / DAY_MS) * DAY_MS;
    const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
    return ensureEventPartitions(
      pool,
      day(today),
      day(today + settings.partitionsAheadDays * DAY_MS),
      settings.lockTimeoutSeconds * 1000,
    );
  }

  private async sweepEvents(book: PolicyBook, holds: readonly LegalHoldRange[]): Promise<void> {
    const { pool, partitions, settings, shouldStop } = this.options;
    const sweeper = new EventSweeper({
      pool,
      partitions,
      batchSize: settings.batchSize,
      shouldStop,
      lockTimeoutMs: settings.lockTimeoutSeconds * 1000,
    });
    let candidates: Awaited<ReturnType<PartitionSql['list']>> = [];
    await this.attempt('events: list partitions', async () => {
      candidates = partitionsToInspect(await partitions.list(pool), book);
    });
    // Inserts queue behind a drop waiting for its lock: after one such wait, no more this run.
    let dropTimedOut = false;
    for (const partition of candidates) {
      if (shouldStop()) return;
      await this.attempt(`events: ${partition.name}`, async () => {
        const plan = planPartition(partition, await sweeper.sites(partition), book, holds);
        if (!plan) return;
        if (dropTimedOut && plan.method === 'partition-drop' && !this.dryRun) {
          throw new CodedError(
            RetentionErrorCode.dropDeferred,
            'not tried in this run: an earlier drop timed out waiting for its lock on events',
          );
        }
        try {
          await sweeper.execute(plan, this.dryRun, {
            log: (entries, db) => writeDeletions(db, this.stamp, entries),
            done: (entries) => this.entries.push(...entries),
            held: (step, count) => this.noteHeld(step.dataClass, step.site, step.heldBy, count),
          });
        } catch (error) {
          if (plan.method === 'partition-drop' && (error as { code?: string }).code === LOCK_NOT_AVAILABLE)
            dropTimedOut = true;
          throw error;
        }
      });
    }
  }

  private async sweepRegistered(book: PolicyBook, holds: readonly LegalHoldRange[]): Promise<void> {
    for (const [dataClass, store] of this.options.stores) {
      if (this.options.shouldStop()) return;
      const siteBound = DATA_CLASSES[dataClass].scopes.includes('site');
      await this.attempt(dataClass, async () => {
        const entries = await store.deleteOlderThan({
          dryRun: this.dryRun,
          batchSize: this.options.settings.batchSize,
          cutoffFor: (site) => {
            const resolved = book.resolve(dataClass, siteBound ? site : null);
            return { cutoff: new Date(resolved.cutoff), source: resolved.source };
          },
          heldFor: (site) =>
            (siteBound ? holdsFor(site, holds) : holds).map(({ from, to }) => ({ from, to })),
        });
        await this.record(
          entries.filter((e) => e.count > 0),
          this.options.pool,
        );
      });
    }
  }

  private async record(entries: DeletionEntry[], db: Queryable): Promise<void> {
    await writeDeletions(db, this.stamp, entries);
    this.entries.push(...entries);
  }

  private noteHeld(
    dataClass: DataClass,
    site: string | null,
    holdIds: readonly number[],
    count: number,
  ): void {
    if (count === 0) return;
    const known = this.held.find((h) => h.dataClass === dataClass && h.site === site);
    if (!known) this.held.push({ dataClass, site, holds: [...holdIds], count });
    else {
      known.holds = [...new Set([...known.holds, ...holdIds])].sort((a, b) => a - b);
      known.count += count;
    }
  }

  private async attempt(step: string, work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (error) {
      const code =
        error instanceof CodedError ? error.code : ((error as { code?: string }).code ?? 'unknown');
      this.failures.push({ step, code, message: (error as Error).message });
      this.options.log.error(
        { err: error, step, runId: this.stamp.runId },
        'retention step failed; the next run retries it',
      );
    }
  }
}
