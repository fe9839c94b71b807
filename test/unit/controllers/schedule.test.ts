import { describe, expect, it } from 'vitest';
import {
  assertTimezone,
  isWithinSchedule,
  localTime,
  type WeeklySchedule,
} from '../../../src/controllers/schedule.js';

const office: WeeklySchedule = {
  timezone: 'Europe/Berlin',
  windows: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '07:00', to: '19:00' }],
};
const nights: WeeklySchedule = {
  timezone: 'Europe/Berlin',
  windows: [{ days: ['fri'], from: '22:00', to: '06:00' }],
};

describe('weekly schedules', () => {
  it("reads the local weekday and time in the schedule's zone, summer and winter", () => {
    expect(localTime(Date.UTC(2026, 0, 7, 6, 30), 'Europe/Berlin')).toEqual({
      day: 'wed',
      minute: 7 * 60 + 30,
    });
    expect(localTime(Date.UTC(2026, 6, 8, 5, 30), 'Europe/Berlin')).toEqual({
      day: 'wed',
      minute: 7 * 60 + 30,
    });
  });

  it('includes the start and excludes the end of a window', () => {
    expect(isWithinSchedule(office, Date.UTC(2026, 0, 7, 6, 0))).toBe(true); // 07:00 Berlin
    expect(isWithinSchedule(office, Date.UTC(2026, 0, 7, 5, 59))).toBe(false);
    expect(isWithinSchedule(office, Date.UTC(2026, 0, 7, 18, 0))).toBe(false); // 19:00 Berlin
  });

  it('is closed on days not listed', () => {
    expect(isWithinSchedule(office, Date.UTC(2026, 0, 10, 10, 0))).toBe(false); // Saturday
  });

  it('runs an overnight window into the next morning', () => {
    expect(isWithinSchedule(nights, Date.UTC(2026, 0, 9, 22, 30))).toBe(true); // Fri 23:30
    expect(isWithinSchedule(nights, Date.UTC(2026, 0, 10, 4, 30))).toBe(true); // Sat 05:30
    expect(isWithinSchedule(nights, Date.UTC(2026, 0, 10, 5, 30))).toBe(false); // Sat 06:30
    expect(isWithinSchedule(nights, Date.UTC(2026, 0, 8, 23, 30))).toBe(false); // Fri 00:30: Friday's window has not begun, Thursday has none
  });

  it('refuses an unknown time zone', () => {
    expect(() => assertTimezone('Mars/Olympus_Mons')).toThrow(/unknown time zone/);
  });
});
