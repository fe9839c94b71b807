import { beforeEach, describe, expect, it } from 'vitest';
import type { AuditEntry } from '../../../src/dashboard/audit/audit-log.js';
import { floodAlarmKey, LoginCheckThrottle } from '../../../src/dashboard/presence/login-check-throttle.js';
import type { Clock } from '../../../src/lib/clock.js';
import { silentLogger } from '../../../src/lib/logger.js';

/**
 * The system clock as the dashboard has it: `now()` is the wall clock, which NTP may set back;
 * timers run on elapsed time, which it does not touch.
 */
class WallClock implements Clock {
  private wall = Date.UTC(2026, 0, 1, 8, 0, 0);
  private elapsed = 0;
  private timers: Array<{ due: number; callback: () => void; cancelled: boolean }> = [];

  now(): number {
    return this.wall;
  }

  setTimeout(callback: () => void, ms: number) {
    const timer = { due: this.elapsed + Math.max(0, ms), callback, cancelled: false };
    this.timers.push(timer);
    return { cancel: () => (timer.cancelled = true) };
  }

  /** Time passes: the wall clock and the timers move on together. */
  pass(ms: number): void {
    this.wall += ms;
    this.elapsed += ms;
    for (const timer of this.timers.filter((t) => !t.cancelled && t.due <= this.elapsed)) {
      timer.cancelled = true;
      timer.callback();
    }
  }

  /** The wall clock is set back (a clock that ran ahead, corrected); no time passes. */
  setBack(ms: number): void {
    this.wall -= ms;
  }
}

/**
 * NTP may set the wall clock back: neither a flood nor its warning may stay open for as long as
 * the step, nor may the next person logging in be throttled for it.
 */
describe('the login-check throttle when the wall clock is set back', () => {
  const HOUR = 3_600_000;
  const calmMs = 10_000;
  let clock: WallClock;
  let entries: AuditEntry[];
  let open: Set<string>;
  let throttle: LoginCheckThrottle;

  beforeEach(async () => {
    clock = new WallClock();
    entries = [];
    open = new Set();
    throttle = new LoginCheckThrottle({
      limits: { burst: 5, intervalMs: 2_000 },
      audit: {
        record: async (entry: AuditEntry) => {
          entries.push(entry);
          return entries.length;
        },
      },
      alarms: {
        raiseCentralUnlessOpen: async (alarm) => {
          open.add(alarm.key);
          return [];
        },
        clearCentralAnySite: async (key) => {
          open.delete(key);
          return [];
        },
        clearCentralOfType: async () => [],
      },
      alarmsChanged: () => {},
      siteOf: () => 'hq',
      clock,
      log: silentLogger,
    });
    // A flood: the burst, then one throttled check.
    for (let i = 0; i < 6; i++) await throttle.admit('ws-1');
    await throttle.idle();
    expect(open.has(floodAlarmKey('ws-1'))).toBe(true);
  });

  it('ends a flood and clears its warning once the workstation has been calm for the refill time', async () => {
    clock.setBack(HOUR);
    clock.pass(calmMs + 1);
    await throttle.idle();
    expect({
      ended: entries.some((e) => e.action === 'workstation.login-throttle-ended'),
      warningOpen: open.has(floodAlarmKey('ws-1')),
    }).toEqual({ ended: true, warningOpen: false });
  });

  it('admits a person who logs in well after the flood stopped', async () => {
    clock.setBack(HOUR);
    // Ten minutes without any check: far beyond the 2 s a token takes and the 10 s calm time.
    clock.pass(10 * 60_000);
    expect(await throttle.admit('ws-1')).toBe(true);
  });
});
