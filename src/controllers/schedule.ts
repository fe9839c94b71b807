import type { WeeklySchedule } from '../protocol/credential-set.js';

export type { WeeklySchedule };

const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timezone: string): Intl.DateTimeFormat {
  let f = formatters.get(timezone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: timezone,
      weekday: 'short',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    });
    formatters.set(timezone, f);
  }
  return f;
}

/** Local weekday and minute of the day at `epochMs` in `timezone`. */
export function localTime(epochMs: number, timezone: string): { day: (typeof DAYS)[number]; minute: number } {
  let weekday = 'Sun';
  let hour = 0;
  let minute = 0;
  for (const part of formatter(timezone).formatToParts(epochMs)) {
    if (part.type === 'weekday') weekday = part.value;
    else if (part.type === 'hour') hour = Number(part.value);
    else if (part.type === 'minute') minute = Number(part.value);
  }
  const day = DAYS.find((d) => d === weekday.toLowerCase().slice(0, 3)) ?? 'sun';
  return { day, minute: hour * 60 + minute };
}

const toMinutes = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

export function isWithinSchedule(schedule: WeeklySchedule, epochMs: number): boolean {
  const { day, minute } = localTime(epochMs, schedule.timezone);
  const yesterday = DAYS[(DAYS.indexOf(day) + 6) % 7] as (typeof DAYS)[number];
  return schedule.windows.some((window) => {
    const from = toMinutes(window.from);
    const to = toMinutes(window.to);
    if (from < to) return window.days.includes(day) && minute >= from && minute < to;
    // Overnight window: the evening part today, or the morning part of a window that began yesterday.
    return (window.days.includes(day) && minute >= from) || (window.days.includes(yesterday) && minute < to);
  });
}

/** Throws a readable error for an unknown IANA time zone (checked when credentials are loaded). */
export function assertTimezone(timezone: string): void {
  try {
    formatter(timezone);
  } catch {
    throw new Error(`unknown time zone "${timezone}"`);
  }
}
