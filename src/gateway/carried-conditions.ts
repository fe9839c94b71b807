import type { AlarmBook } from '../controllers/alarm-book.js';
import type { Clock, TimerHandle } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import type { AlarmConditionFile } from './alarm-condition-file.js';
import { alarmConditionsLost } from './state-recovery.js';

/**
 * The alarm conditions a restart carries over (see AlarmBook): read at start before anything can
 * raise one, and after `settleMs` from the end of the start those that no subsystem observed
 * again are cleared, so that a condition which ended during the restart does not stay open at
 * the central side. Subsystems that can tell at their first look clear theirs sooner.
 *
 * The central side's request for a report of the conditions is answered once the book has
 * settled: by then every subsystem had its look, so a condition that still holds is in the
 * report, and one the central side holds open that the gateway no longer knows of (its file was
 * missing or lost) is not, and is closed there.
 */
export class CarriedConditions {
  private settleTimer: TimerHandle | undefined;
  private outboxWrote = false;
  private settled = false;
  /** Reports asked for before the book settled. */
  private readonly reports: Array<() => void> = [];

  constructor(
    private readonly alarms: AlarmBook,
    private readonly file: AlarmConditionFile,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  /** Seeds the book with the conditions of the last run; first thing at start. */
  load(): void {
    const read = this.file.load();
    if ('lost' in read) {
      this.log.error(
        { file: this.file.path, reason: read.lost },
        'alarm conditions lost: those active before the restart are unknown, and starting without them',
      );
      // Written back empty, so that the next start does not report the same loss again.
      this.file.save([]);
      alarmConditionsLost(this.alarms, read.lost);
      return;
    }
    // No file: a first start, or the first after an update; what the last run left open is not known.
    if (!read.missing) this.alarms.carryOver(read.conditions);
    if (read.conditions.length > 0)
      this.log.info(
        { conditions: read.conditions.map((c) => c.key) },
        'alarm conditions carried over from before the restart',
      );
  }

  /**
   * An event is on disk: the outbox writes. Its alarm clears only when a failing write succeeds
   * again, which after a restart is never seen.
   */
  durable(): void {
    if (this.outboxWrote) return;
    this.outboxWrote = true;
    this.alarms.endCarriedOver('outbox-write-failed', 'the outbox writes again after the restart');
  }

  /** The gateway has started: what nothing observes again within `settleMs` is cleared. */
  settle(settleMs: number): void {
    this.settleTimer = this.clock.setTimeout(() => {
      this.settleTimer = undefined;
      const seconds = Math.round(settleMs / 1000);
      const ended = this.alarms.endAllCarriedOver(
        `not observed again within ${seconds} s after the gateway restarted`,
      );
      if (ended.length > 0)
        this.log.info({ conditions: ended }, 'carried-over alarm conditions not observed again: cleared');
      this.settled = true;
      for (const report of this.reports.splice(0)) report();
    }, settleMs);
  }

  /**
   * Reports the conditions held (AlarmBook.report) for the central side's request, once the book
   * has settled; resolves with how many it holds. Never resolves when the gateway stops first.
   */
  report(request: string, salt: string): Promise<number> {
    const send = () => {
      const held = this.alarms.report(request, salt);
      this.log.info({ request, held }, 'alarm conditions reported to the central side');
      return held;
    };
    if (this.settled) return Promise.resolve(send());
    return new Promise((resolve, reject) =>
      this.reports.push(() => {
        try {
          resolve(send());
        } catch (error) {
          reject(error);
        }
      }),
    );
  }

  /** Ends the settle period's wait (the gateway stops); reports not yet sent are not sent. */
  stop(): void {
    this.settleTimer?.cancel();
    this.settleTimer = undefined;
    this.reports.length = 0;
  }

  /** Resolves once the file holds every list saved so far, and the alarm events that waited for it are out. */
  flushed(): Promise<void> {
    return this.file.flushed();
  }

  /** Waits until the file holds every condition saved, and keeps later ones at once (the last step of a stop). */
  close(): Promise<void> {
    return this.file.close();
  }
}
