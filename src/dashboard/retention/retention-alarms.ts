import type { Logger } from '../../lib/logger.js';
import type { AlarmStore, AlarmView } from '../storage/alarm-store.js';
import { CREATE_AHEAD_STEP } from './retention-run.js';
import type { RetentionReport } from './retention-schemas.js';

/** While steps of the latest run failed, or the whole run did; cleared by a run without failures. */
export const STEPS_FAILED_KEY = 'retention-failed';
/** While creating partitions ahead fails and today's or tomorrow's partition is missing. */
export const PARTITIONS_MISSING_KEY = 'retention-partitions-missing';

/**
 * The central alarms of the retention job, so that a failing run is seen and not only logged: a
 * step that keeps failing keeps its expired data beyond the promised period. Raised and cleared
 * after each real run (a dry run changes nothing, so it says nothing); a failure to raise or clear
 * one is logged and does not fail the run.
 */
export class RetentionAlarms {
  constructor(
    private readonly alarms: Pick<AlarmStore, 'raiseCentral' | 'clearCentral'>,
    private readonly log: Logger,
    private readonly changed?: (alarms: AlarmView[]) => void,
  ) {}

  /** `missingDays`: the near days without a partition, when creating them failed. */
  async runFinished(report: RetentionReport, missingDays: readonly string[]): Promise<void> {
    const steps = report.failures.map((f) => `${f.step} (${f.code}: ${f.message})`);
    await this.apply([
      report.failures.length === 0
        ? { clear: STEPS_FAILED_KEY }
        : {
            raise: STEPS_FAILED_KEY,
            severity: 'warning',
            detail: `retention run ${report.runId}: ${steps.length} step(s) failed and are retried by the next run; expired data they cover stays until then: ${steps.join('; ')}`,
          },
      missingDays.length === 0
        ? { clear: PARTITIONS_MISSING_KEY }
        : {
            raise: PARTITIONS_MISSING_KEY,
            severity: 'critical',
            detail: `no event partition for ${missingDays.join(', ')}, and the retention run could not create it: ${
              report.failures.find((f) => f.step === CREATE_AHEAD_STEP)?.message ?? 'unknown error'
            }. The ingest tries to create it for the day's first event but cannot store that day's events while this lasts: look for a long transaction or a schema change on events`,
          },
    ]);
  }

  /** The run ended before its steps (say, the database refused the policies' query). */
  async runFailed(error: Error): Promise<void> {
    await this.apply([
      {
        raise: STEPS_FAILED_KEY,
        severity: 'warning',
        detail: `the retention run failed before deleting anything, and is retried at the next interval: ${error.message}`,
      },
    ]);
  }

  private async apply(
    changes: Array<{ clear: string } | { raise: string; severity: 'warning' | 'critical'; detail: string }>,
  ): Promise<void> {
    const changed: AlarmView[] = [];
    for (const change of changes) {
      try {
        if ('clear' in change) changed.push(...(await this.alarms.clearCentral(change.clear, null, null)));
        else
          changed.push(
            ...(await this.alarms.raiseCentral({
              alarm: 'retention-failed',
              key: change.raise,
              severity: change.severity,
              detail: change.detail.slice(0, 500),
            })),
          );
      } catch (error) {
        this.log.error(
          { err: error, key: 'clear' in change ? change.clear : change.raise },
          'retention alarm could not be changed',
        );
      }
    }
    if (changed.length > 0) this.changed?.(changed);
  }
}
