import { type Clock, systemClock } from '../../src/lib/clock.js';

/** The system clock, moved forward by hand: a test that needs a fresh TOTP step skips ahead. */
export class ShiftClock implements Clock {
  private offsetMs = 0;

  now(): number {
    return Date.now() + this.offsetMs;
  }

  setTimeout(callback: () => void, ms: number) {
    return systemClock.setTimeout(callback, ms);
  }

  advance(ms: number): void {
    this.offsetMs += ms;
  }
}
