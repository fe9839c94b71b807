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

/**
 * Longest a segment may run past the end of the day it started in (and a clip start before the day
 * it is filed under: its lead is at most 300 s).
 */
const SEGMENT_SPILL_MS = 600_000;

export function planRetention(
  now: number,
  policy: RetentionPolicy,
  footage: readonly FootageFile[],
  days: readonly DayRef[],
  keys: readonly StoredKey[],
  uptime?: Uptime,
): RetentionPlan {
  const plan: RetentionPlan = { files: [], days: [], keys: planKeys(now, policy, days, keys), dates: [] };
  const byDay = new Map<string, FootageFile[]>();
  for (const file of footage) {
    const key = keyIdOf(file.camera, file.day);
    const group = byDay.get(key);
    if (group) group.push(file);
    else byDay.set(key, [file]);
  }
  for (const { camera, day } of days) {
    const part = planDay(now, policy, camera, day, byDay.get(keyIdOf(camera, day)) ?? [], uptime);
    plan.files.push(...part.files);
    plan.days.push(...part.days);
    plan.dates.push(...part.dates);
  }
  return plan;
}

/** What retention does with one camera-day, given the footage its index names. */
export function planDay(
  now: number,
  policy: RetentionPolicy,
  camera: string,
  day: string,
  inDay: readonly FootageFile[],
  uptime?: Uptime,
): Omit<RetentionPlan, 'keys'> {
  const keepFor = retentionMs(camera, policy);
  const anyHeld = dayHeld(camera, day, policy) || inDay.some((f) => isHeld(f, policy.holds));
  const expired = new Set(
    inDay.filter((f) => !isHeld(f, policy.holds) && hasExpired(f, now, keepFor, uptime)),
  );
  if (dayEnd(day) + SEGMENT_SPILL_MS <= now - keepFor && !anyHeld && expired.size === inDay.length)
    return { files: [], days: [{ camera, day }], dates: [] };
  return {
    files: [...expired],
    days: [],
    dates: inDay.filter((f) => !expired.has(f)).flatMap((f) => dating(f, now, uptime)),
  };
}

/**
 * What a day's index bytes allow to be decided without parsing a row — as planDay would decide
 * from the rows. `drop`: the day is past retention, no hold touches it, and no row can keep it
 * (none unsynchronised, none written by this boot, whose uptime bounds a file's age); `keep`: the
 * day is younger than retention and no row is unsynchronised, so no file in it can expire and none
 * needs dating; `rows`: the rows decide. A false match of the text only costs the parsing.
 */
export function triageDay(
  now: number,
  policy: RetentionPolicy,
  camera: string,
  day: string,
  index: Buffer | undefined,
  uptime?: Uptime,
): 'drop' | 'keep' | 'rows' {
  const cutoff = retentionCutoff(now, camera, policy);
  const has = (text: string) => index?.includes(text) ?? false;
  if (has('"unsynced"')) return 'rows';
  if (dayStart(day) - SEGMENT_SPILL_MS > cutoff) return 'keep';
  // A clip filed under this day may start up to its lead before it.
  const touched = {
    camera,
    startMs: dayStart(day) - SEGMENT_SPILL_MS,
    endMs: dayEnd(day) + SEGMENT_SPILL_MS,
  };
  if (touched.endMs > cutoff || isHeld(touched, policy.holds)) return 'rows';
  if (uptime && has(JSON.stringify(uptime.boot))) return 'rows';
  return 'drop';
}

/** Keys of expired days that have no folder any more (`days`: every day folder there is). */
export function planKeys(
  now: number,
  policy: RetentionPolicy,
  days: readonly DayRef[],
  keys: readonly StoredKey[],
): string[] {
  const dayKeys = new Set(days.map((d) => keyIdOf(d.camera, d.day)));
  return keys
    .filter(
      (key) =>
        !dayKeys.has(key.keyId) &&
        dayEnd(key.day) + SEGMENT_SPILL_MS <= retentionCutoff(now, key.camera, policy) &&
        !dayHeld(key.camera, key.day, policy),
    )
    .map((key) => key.keyId);
}

/** A hold overlaps the day, or the segments that started in it and ran past its end. */
function dayHeld(camera: string, day: string, policy: RetentionPolicy): boolean {
  return isHeld({ camera, startMs: dayStart(day), endMs: dayEnd(day) + SEGMENT_SPILL_MS }, policy.holds);
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
