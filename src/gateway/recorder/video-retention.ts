import { type Hold, isHeld } from './footage-holds.js';
import type { FootageFile } from './segment-index.js';
import { DAY_MS, dayEnd, dayStart, keyIdOf } from './video-days.js';
import type { StoredKey } from './video-keys.js';

/**
 * What retention deletes, decided from the index, the key list and the time alone:
 * - a file whose footage ended more than the camera's retention ago goes, unless a legal hold
 *   overlaps it;
 * - a day whose end is past retention goes whole (folder, index) with its data key, unless held
 *   footage is in it. A key outlives its footage by at most one day, and a held day keeps its key.
 */
export interface RetentionPolicy {
  defaultDays: number;
  /** Per-camera overrides. */
  cameraDays: Readonly<Record<string, number>>;
  holds: readonly Hold[];
}

export interface DayRef {
  camera: string;
  day: string;
}

export interface RetentionPlan {
  /** Expired files in days that stay (because they are recent, or hold held footage). */
  files: FootageFile[];
  /** Whole days to delete: folder, index and key. */
  days: DayRef[];
  /** Keys of expired days that have no folder any more. */
  keys: string[];
}

export function retentionCutoff(now: number, camera: string, policy: RetentionPolicy): number {
  return now - (policy.cameraDays[camera] ?? policy.defaultDays) * DAY_MS;
}

/** Longest a segment may run past the end of the day it started in. */
const SEGMENT_SPILL_MS = 600_000;

export function planRetention(
  now: number,
  policy: RetentionPolicy,
  footage: readonly FootageFile[],
  days: readonly DayRef[],
  keys: readonly StoredKey[],
): RetentionPlan {
  const plan: RetentionPlan = { files: [], days: [], keys: [] };
  const dayKeys = new Set(days.map((d) => keyIdOf(d.camera, d.day)));
  const dayHeld = (camera: string, day: string) =>
    isHeld({ camera, startMs: dayStart(day), endMs: dayEnd(day) + SEGMENT_SPILL_MS }, policy.holds);
  for (const { camera, day } of days) {
    const cutoff = retentionCutoff(now, camera, policy);
    const inDay = footage.filter((f) => f.camera === camera && f.day === day);
    const anyHeld = dayHeld(camera, day) || inDay.some((f) => isHeld(f, policy.holds));
    if (dayEnd(day) + SEGMENT_SPILL_MS <= cutoff && !anyHeld) {
      plan.days.push({ camera, day });
      continue;
    }
    plan.files.push(...inDay.filter((f) => f.endMs <= cutoff && !isHeld(f, policy.holds)));
  }
  for (const key of keys) {
    if (dayKeys.has(key.keyId)) continue;
    const cutoff = retentionCutoff(now, key.camera, policy);
    if (dayEnd(key.day) + SEGMENT_SPILL_MS <= cutoff && !dayHeld(key.camera, key.day))
      plan.keys.push(key.keyId);
  }
  return plan;
}
