import type { Clock, TimerHandle } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import type { ChainCheckpointer } from './chain-checkpoints.js';
import type { WitnessReconciler } from './witness-reconcile.js';

/**
 * Signs the finished days of every chain at start and then every `intervalMs`. Several
 * instances may run it: each chain's lock and the one-checkpoint-per-day key keep it single.
 * With a witness (audit.witnessFile) it first compares the database with it, so that a day whose
 * checkpoint was deleted is not signed anew over whatever the database now holds, and afterwards
 * appends what it signed. Without a signing key it only keeps the witness.
 */
export class CheckpointJob {
  private timer: TimerHandle | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly checkpointer: Pick<ChainCheckpointer, 'checkpointFinishedDays'> | undefined,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly intervalMs = 3_600_000,
    private readonly witness?: Pick<WitnessReconciler, 'reconcile'>,
  ) {}

  start(): void {
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    await this.running;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = this.clock.setTimeout(() => {
      this.running = this.tick().finally(() => {
        this.running = undefined;
      });
    }, ms);
  }

  private async tick(): Promise<void> {
    // A witness that cannot be read says nothing about deleted checkpoints: nothing is signed.
    if (await this.reconcileWitness()) {
      try {
        const made = (await this.checkpointer?.checkpointFinishedDays()) ?? [];
        if (made.length > 0) {
          this.log.info({ checkpoints: made.length }, 'audit chain days signed');
          await this.reconcileWitness();
        }
      } catch (error) {
        // A unique-key race with another instance or a broken chain: both are retried next hour,
        // and a broken chain is what `identgate audit verify` then locates.
        this.log.error({ err: error }, 'signing the audit chain checkpoints failed');
      }
    }
    this.schedule(this.intervalMs);
  }

  /** False when the witness could not be read or written (its alarm is raised). */
  private async reconcileWitness(): Promise<boolean> {
    if (!this.witness) return true;
    try {
      await this.witness.reconcile();
      return true;
    } catch (error) {
      this.log.error({ err: error }, 'the audit witness could not be compared; no checkpoint signed');
      return false;
    }
  }
}
