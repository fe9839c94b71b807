import type { Clock, TimerHandle } from '../../lib/clock.js';
import { hasCode } from '../../lib/coded-error.js';
import type { Logger } from '../../lib/logger.js';
import { RetentionErrorCode } from './retention-errors.js';
import type { RetentionService } from './retention-service.js';

/**
 * Runs retention once at start and then every `intervalMs`, measured from the start of the
 * previous run, so expired data is gone at most one interval after it expires. Several
 * dashboard instances may run the job: the run's advisory lock lets one through at a time.
 */
export interface RetentionJobOptions {
  service: Pick<RetentionService, 'runNow' | 'halt'>;
  clock: Clock;
  log: Logger;
  intervalMs: number;
}

export class RetentionJob {
  private timer: TimerHandle | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly options: RetentionJobOptions) {}

  start(): void {
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    this.options.service.halt();
    await this.running;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = this.options.clock.setTimeout(() => {
      this.running = this.tick().finally(() => {
        this.running = undefined;
      });
    }, ms);
  }

  private async tick(): Promise<void> {
    const { service, clock, log, intervalMs } = this.options;
    const started = clock.now();
    try {
      const report = await service.runNow({ dryRun: false });
      if (report.failures.length > 0)
        log.warn(
          { runId: report.runId, failures: report.failures },
          'retention run left steps for the next run',
        );
    } catch (error) {
      if (hasCode(error, RetentionErrorCode.busy)) log.debug('retention is running in another instance');
      else log.error({ err: error }, 'retention run failed; retrying at the next interval');
    }
    this.schedule(Math.max(0, started + intervalMs - clock.now()));
  }
}
