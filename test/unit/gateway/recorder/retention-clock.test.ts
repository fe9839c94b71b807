import { describe, expect, it } from 'vitest';
import { planRetention, type RetentionPolicy } from '../../../../src/gateway/recorder/video-retention.js';
import { footage } from './footage-fixtures.js';

/** Retention decisions when the date footage was filed under cannot be trusted. */
const DAY = 86_400_000;
const now = Date.parse('2026-03-15T12:00:00Z');
const policy: RetentionPolicy = { defaultDays: 60, cameraDays: {}, holds: [] };
const boot = 'boot-a';
const days = (...refs: string[]) =>
  refs.map((r) => ({ camera: r.split('/')[0] as string, day: r.split('/')[1] as string }));
const key = (camera: string, day: string) => ({ keyId: `${camera}/${day}`, camera, day });

describe('video retention when the clock was or is wrong', () => {
  it('keeps footage this boot wrote less than the retention of uptime ago, whatever its date', () => {
    // Filed 70 days ago by the clock, but written 10 days of uptime ago: the clock jumped forward.
    const written = footage('cam-1', '2026-01-04T08:00:00Z', { written: { boot, upMs: 5 * DAY } });
    const plan = planRetention(
      now,
      policy,
      [written],
      days('cam-1/2026-01-04'),
      [key('cam-1', '2026-01-04')],
      {
        boot,
        upMs: 15 * DAY,
      },
    );
    expect(plan).toEqual({ files: [], days: [], keys: [], dates: [] });
  });

  it('deletes footage of this boot once both its date and its uptime age are past the retention', () => {
    const written = footage('cam-1', '2026-01-04T08:00:00Z', { written: { boot, upMs: DAY } });
    const plan = planRetention(now, policy, [written], days('cam-1/2026-01-04'), [], {
      boot,
      upMs: 62 * DAY,
    });
    expect(plan.days).toEqual(days('cam-1/2026-01-04'));
  });

  it('keeps footage recorded before the clock was set, with its day and key, dated anew by the uptime', () => {
    // A gateway without a battery clock booted in 2000 and recorded; 3 minutes later NTP answered.
    const unsynced = footage('cam-1', '2000-01-01T00:01:00Z', {
      written: { boot, upMs: 120_000 },
      unsynced: true,
    });
    const plan = planRetention(
      now,
      policy,
      [unsynced],
      days('cam-1/2000-01-01'),
      [key('cam-1', '2000-01-01')],
      {
        boot,
        upMs: 300_000,
      },
    );
    expect(plan.files).toEqual([]);
    expect(plan.days).toEqual([]);
    expect(plan.keys).toEqual([]);
    // Written 180 s of uptime ago: that is when it ended, in true time.
    expect(plan.dates).toEqual([{ file: unsynced, endMs: now - 180_000, basis: 'uptime' }]);
  });

  it('keeps unsynced footage of an earlier boot, whose age nobody knows, counting it as ending now', () => {
    const earlier = footage('cam-1', '2000-01-01T00:01:00Z', {
      written: { boot: 'boot-before', upMs: 120_000 },
      unsynced: true,
    });
    const plan = planRetention(now, policy, [earlier], days('cam-1/2000-01-01'), [], { boot, upMs: 60_000 });
    expect(plan.files).toEqual([]);
    expect(plan.days).toEqual([]);
    expect(plan.dates).toEqual([{ file: earlier, endMs: now, basis: 'first-seen' }]);
  });

  it('counts the retention of dated footage from its new date, and deletes it after that', () => {
    const dated = footage('cam-1', '2000-01-01T00:01:00Z', {
      written: { boot: 'boot-before', upMs: 120_000 },
      unsynced: true,
      datedEndMs: now - 59 * DAY,
    });
    const kept = planRetention(now, policy, [dated], days('cam-1/2000-01-01'), [], { boot, upMs: 1 });
    expect(kept).toEqual({ files: [], days: [], keys: [], dates: [] });
    const later = planRetention(now + 2 * DAY, policy, [dated], days('cam-1/2000-01-01'), [], {
      boot,
      upMs: 1,
    });
    expect(later.days).toEqual(days('cam-1/2000-01-01'));
  });

  it('deletes the expired files of a day that keeps unsynced footage, not the day', () => {
    const old = footage('cam-1', '2026-01-01T08:00:00Z');
    const unsynced = footage('cam-1', '2026-01-01T09:00:00Z', {
      written: { boot: 'boot-before', upMs: 1 },
      unsynced: true,
    });
    const plan = planRetention(now, policy, [old, unsynced], days('cam-1/2026-01-01'), [], { boot, upMs: 1 });
    expect(plan.files).toEqual([old]);
    expect(plan.days).toEqual([]);
    expect(plan.dates.map((d) => d.basis)).toEqual(['first-seen']);
  });

  it('goes by the date alone where the system has no uptime to tell', () => {
    const written = footage('cam-1', '2026-01-04T08:00:00Z', { written: { boot, upMs: 5 * DAY } });
    expect(planRetention(now, policy, [written], days('cam-1/2026-01-04'), []).days).toEqual(
      days('cam-1/2026-01-04'),
    );
  });
});
