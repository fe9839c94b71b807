import type { Clock, TimerHandle } from '../../lib/clock.js';

/**
 * MQTT keep-alive from the client's side: a PINGREQ every interval, and the broker counts as
 * gone when nothing at all (PINGRESP or any other packet) has arrived half an interval after a
 * PINGREQ. Any inbound bytes count, so a broker busy streaming messages is never declared dead
 * because its PINGRESP is queued behind them. Silence is detected at most 1.5 intervals after
 * the last inbound byte.
 */
export class KeepaliveWatch {
  private timer: TimerHandle | undefined;
  private heardSincePing = true;
  private stopped = false;

  constructor(
    private readonly clock: Clock,
    private readonly intervalMs: number,
    private readonly sendPing: () => void,
    private readonly onSilence: () => void,
  ) {}

  start(): void {
    if (this.intervalMs <= 0 || this.stopped) return;
    this.schedulePing(this.intervalMs);
  }

  /** Call on every chunk received from the broker. */
  heard(): void {
    this.heardSincePing = true;
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = undefined;
  }

  private schedulePing(delayMs: number): void {
    this.timer = this.clock.setTimeout(() => {
      if (this.stopped) return;
      this.heardSincePing = false;
      this.sendPing();
      const grace = Math.ceil(this.intervalMs / 2);
      this.timer = this.clock.setTimeout(() => this.check(grace), grace);
    }, delayMs);
  }

  private check(graceMs: number): void {
    if (this.stopped) return;
    if (!this.heardSincePing) {
      this.stop();
      this.onSilence();
      return;
    }
    this.schedulePing(this.intervalMs - graceMs);
  }
}
