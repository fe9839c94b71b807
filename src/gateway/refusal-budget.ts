import type { Clock, TimerHandle } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';

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
    private readonly log: Logger,
    /** The topic's name in the summary: `commands`, `credentials`. */
    private readonly topic: string,
    /** Raises the summary's alarm (it may throw once the outbox is closed: logged). */
    private readonly alarm: (detail: string) => void,
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
    this.flush ??= this.clock.setTimeout(() => this.report(), this.windowStart + this.windowMs - now);
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
    if (count === 0) return;
    this.log.warn(
      { count, topic: this.topic },
      'refusals beyond the bound were counted, not reported one by one',
    );
    try {
      this.alarm(
        `${count} more payloads on the ${this.topic} topic were refused within ${this.windowMs / 1000} s, without ${this.topic === 'commands' ? 'an answer or ' : ''}an alarm each`,
      );
    } catch (error) {
      this.log.error({ err: error, topic: this.topic }, 'could not report the refusals counted');
    }
  }
}
