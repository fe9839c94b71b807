import { type Hold, isHeld } from './footage-holds.js';
import type { FootageFile } from './segment-index.js';
import type { Uptime } from './uptime.js';
import { DAY_MS, dayEnd, dayStart, keyIdOf } from './video-days.js';
import type { StoredKey } from './video-keys.js';

/**
 * What retention deletes, decided from the index, the key list, the time and the uptime alone.
 * The caller runs it only while the clock is synchronised (FootageMaintenance).
 *
 * - A file goes once its footage ended more than the camera's retention ago, unless a legal hold
 *   overlaps it.
 * - Its age is also bounded by the uptime: a file this boot wrote less than the retention period of
 *   uptime ago stays, whatever its date says — a clock set forward, or footage filed under a date
 *   from before the clock was set, cannot make it expire.
 * - Footage recorded while the clock was not synchronised has a date nobody can trust. Written in
 *   this boot, its true age is known from the uptime; from an earlier boot it is not, and it counts
 *   as ending when this run finds it — it is then kept at least as long as due, never less. Either
 *   way it is dated anew (`dates`, written to the index as `dated` rows) so the next boot knows.
 * - A day whose end is past retention goes whole (folder, index) with its data key, unless held
 *   footage or footage that has not expired by the rules above is in it. A key outlives its
 *   footage by at most one day, and a held day keeps its key.
 */
export interface RetentionPolicy {
  defaultDays: number;
  /** Per-camera retention: overrides, and the last one known for cameras no longer configured. */
  cameraDays: Readonly<Record<string, number>>;
  holds: readonly Hold[];
}

export interface DayRef {
  camera: string;
  day: string;
}

/** Unsynced footage and the end retention counts from for it from now on. */
export interface DatedFile {
  file: FootageFile;
  endMs: number;
  basis: 'uptime' | 'first-seen';
}

export interface RetentionPlan {
  /** Expired files in days that stay (because they are recent, or hold footage that stays). */
  files: FootageFile[];
  /** Whole days to delete: folder, index and key. */
  days: DayRef[];
  /** Keys of expired days that have no folder any more. */
  keys: string[];
  /** Unsynced footage to date anew. */
  dates: DatedFile[];
}

export function retentionMs(camera: string, policy: RetentionPolicy): number {
  return (policy.cameraDays[camera] ?? policy.defaultDays) * DAY_MS;
}

export function retentionCutoff(now: number, camera: string, policy: RetentionPolicy): number {
  return now - retentionMs(camera, policy);
}

/** Longest a segment may run past the end of the day it started in. */
const SEGMENT_SPILL_MS = 600_000;

export function planRetention(
  now: number,
  policy: RetentionPolicy,
  footage: readonly FootageFile[],
  days: readonly DayRef[],
  keys: readonly StoredKey[],
  uptime?: Uptime,
): RetentionPlan {
  const plan: RetentionPlan = { files: [], days: [], keys: [], dates: [] };
  const dayKeys = new Set(days.map((d) => keyIdOf(d.camera, d.day)));
  const dayHeld = (camera: string, day: string) =>
    isHeld({ camera, startMs: dayStart(day), endMs: dayEnd(day) + SEGMENT_SPILL_MS }, policy.holds);
  for (const { camera, day } of days) {
    const keepFor = retentionMs(camera, policy);
    const inDay = footage.filter((f) => f.camera === camera && f.day === day);
    const anyHeld = dayHeld(camera, day) || inDay.some((f) => isHeld(f, policy.holds));
    const expired = inDay.filter((f) => !isHeld(f, policy.holds) && hasExpired(f, now, keepFor, uptime));
    if (dayEnd(day) + SEGMENT_SPILL_MS <= now - keepFor && !anyHeld && expired.length === inDay.length) {
      plan.days.push({ camera, day });
      continue;
    }
    plan.files.push(...expired);
    plan.dates.push(...inDay.filter((f) => !expired.includes(f)).flatMap((f) => dating(f, now, uptime)));
  }
  for (const key of keys) {
    if (dayKeys.has(key.keyId)) continue;
    const cutoff = retentionCutoff(now, key.camera, policy);
    if (dayEnd(key.day) + SEGMENT_SPILL_MS <= cutoff && !dayHeld(key.camera, key.day))
      plan.keys.push(key.keyId);
  }
  return plan;
}

/** How long ago this boot wrote the file, if it did. */
function uptimeAge(file: FootageFile, uptime: Uptime | undefined): number | undefined {
  if (!uptime || !file.written || file.written.boot !== uptime.boot) return undefined;
  return uptime.upMs - file.written.upMs;
}

function hasExpired(file: FootageFile, now: number, keepFor: number, uptime: Uptime | undefined): boolean {
  const age = uptimeAge(file, uptime);
  if (age !== undefined && age < keepFor) return false;
  if (file.unsynced && file.datedEndMs === undefined) return age !== undefined;
  return (file.datedEndMs ?? file.endMs) <= now - keepFor;
}

function dating(file: FootageFile, now: number, uptime: Uptime | undefined): DatedFile[] {
  if (!file.unsynced || file.datedEndMs !== undefined) return [];
  const age = uptimeAge(file, uptime);
  return [
    age === undefined
      ? { file, endMs: now, basis: 'first-seen' }
      : { file, endMs: now - age, basis: 'uptime' },
  ];
}
