import type { KeyObject } from 'node:crypto';
import type { Pool } from 'pg';
import { type DashboardConfig, retentionSettings } from '../config/dashboard-config.js';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import type { CentralKeyHistory } from './audit/central-keys.js';
import { ChainCheckpointer } from './audit/chain-checkpoints.js';
import { CheckpointJob } from './audit/checkpoint-job.js';
import { WitnessReconciler } from './audit/witness-reconcile.js';
import type { AuthService } from './auth/auth-service.js';
import { RetentionJob } from './retention/retention-job.js';
import type { RetentionService } from './retention/retention-service.js';
import type { AlarmStore, AlarmView } from './storage/alarm-store.js';

export interface ScheduledJobsOptions {
  config: DashboardConfig;
  auth: AuthService;
  retention: RetentionService;
  pool: Pool;
  /** Signs the audit chain's checkpoints; without it none are made. */
  signingKey: KeyObject | undefined;
  /** signingKey's public key and the keys it replaced: the chains are signed on from their checkpoints. */
  centralKeys: CentralKeyHistory;
  /** For the audit witness's alarms (audit.witnessFile). */
  alarms: AlarmStore;
  alarmsChanged?: (alarms: AlarmView[]) => void;
  clock: Clock;
  log: Logger;
}

/**
 * The dashboard's work on a timer, safe with several instances: session housekeeping, the
 * retention run (unless `retention.enabled` is false) and the audit chain's signed checkpoints
 * (with the central signing key) with their witness (audit.witnessFile).
 */
export class ScheduledJobs {
  private housekeeping: NodeJS.Timeout | undefined;
  private retentionJob: RetentionJob | undefined;
  private checkpointJob: CheckpointJob | undefined;

  constructor(private readonly options: ScheduledJobsOptions) {}

  /**
   * Ended sessions and old sign-in failures go every ten minutes (AuthService.housekeeping), from
   * when the API serves.
   */
  startHousekeeping(): void {
    const { auth, log } = this.options;
    this.housekeeping = setInterval(() => {
      auth.housekeeping().catch((error: Error) => log.warn({ err: error }, 'session housekeeping failed'));
    }, 10 * 60_000);
    this.housekeeping.unref();
  }

  /** Retention and checkpoints run at once and then on their own intervals. */
  startRetentionAndCheckpoints(): void {
    const { config, clock, log, signingKey } = this.options;
    const retention = retentionSettings(config);
    if (retention.enabled) {
      this.retentionJob = new RetentionJob({
        service: this.options.retention,
        clock,
        log: log.child({ component: 'retention' }),
        intervalMs: retention.intervalMinutes * 60_000,
      });
      this.retentionJob.start();
    }
    const witnessFile = config.audit?.witnessFile;
    if (signingKey || witnessFile) {
      const checkpointer = signingKey
        ? new ChainCheckpointer(this.options.pool, signingKey, this.options.centralKeys.retired)
        : undefined;
      const auditLog = log.child({ component: 'audit-chain' });
      const witness = witnessFile
        ? new WitnessReconciler({
            pool: this.options.pool,
            file: witnessFile,
            // Only an instance that signs can tell which lines its keys signed.
            ...(signingKey ? { keys: this.options.centralKeys } : {}),
            alarms: this.options.alarms,
            ...(this.options.alarmsChanged ? { alarmsChanged: this.options.alarmsChanged } : {}),
            log: auditLog,
          })
        : undefined;
      this.checkpointJob = new CheckpointJob(checkpointer, clock, auditLog, undefined, witness);
      this.checkpointJob.start();
    }
  }

  /** Stops housekeeping, the retention job, then the checkpoints, waiting for a run under way. */
  async stop(): Promise<void> {
    clearInterval(this.housekeeping);
    await this.retentionJob?.stop();
    this.retentionJob = undefined;
    await this.checkpointJob?.stop();
    this.checkpointJob = undefined;
  }
}
