import type { Clock, TimerHandle } from '../lib/clock.js';

/**
 * How many refusals of one topic's payloads are reported one by one (an alarm each, and an answer
 * where one is due) within a window; those beyond are counted and reported together when the
 * window ends. Each report is an event the gateway signs, journals with fdatasync and publishes,
 * and each alarm stays open at the central side: without a bound, anyone who could publish on
 * the topic would turn a flood of forged payloads into as many events and open alarms.
 */
export class RefusalBudget {
  private windowStart = Number.NEGATIVE_INFINITY;
  private reported = 0;
  private held = 0;
  private flush: TimerHandle | undefined;

  constructor(
    private readonly clock: Clock,
    /** Reports the refusals held back in a window that has ended (how many). */
    private readonly summary: (count: number, windowMs: number) => void,
    private readonly perWindow = 20,
    private readonly windowMs = 60_000,
  ) {}

  /** Whether this refusal is reported on its own; if not, it is counted for the window's summary. */
  admit(): boolean {
    const now = this.clock.now();
    // A clock that stepped back (now before the window's start) opens a new window too.
    if (now - this.windowStart >= this.windowMs || now < this.windowStart) {
      this.windowStart = now;
      this.reported = 0;
    }
    if (this.reported < this.perWindow) {
      this.reported += 1;
      return true;
    }
    this.held += 1;
    this.flush ??= this.clock.setTimeout(
      () => this.report(),
      Math.min(this.windowMs, Math.max(0, this.windowStart + this.windowMs - now)),
    );
    return false;
  }

  /** Reports what is held now (at shutdown). */
  close(): void {
    this.flush?.cancel();
    this.report();
  }

  private report(): void {
    this.flush = undefined;
    const count = this.held;
    this.held = 0;
    if (count > 0) this.summary(count, this.windowMs);
  }
}
