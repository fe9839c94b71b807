/**
 * Footage is filed and keyed by camera and UTC day: `<camera>/<YYYY-MM-DD>`. UTC keeps days the
 * same length all year and the same on every machine; a segment belongs to the day it started.
 */
export const DAY_MS = 86_400_000;
export const DAY_PATTERN = /^\d{4}-\d{2}-\d{2}$/;

export function dayOf(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

export function dayStart(day: string): number {
  return Date.parse(`${day}T00:00:00.000Z`);
}

export function dayEnd(day: string): number {
  return dayStart(day) + DAY_MS;
}

/** Every day touched by [fromMs, toMs]. */
export function daysBetween(fromMs: number, toMs: number): string[] {
  const days: string[] = [];
  for (let t = dayStart(dayOf(fromMs)); t <= toMs; t += DAY_MS) days.push(dayOf(t));
  return days;
}

export function keyIdOf(camera: string, day: string): string {
  return `${camera}/${day}`;
}

/** A file name that sorts by time and is safe everywhere: 20260101T080000.123Z. */
export function compactTime(ms: number): string {
  return new Date(ms).toISOString().replaceAll('-', '').replaceAll(':', '');
}
