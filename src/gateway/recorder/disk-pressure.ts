import { statfsSync } from 'node:fs';
import { type Hold, isHeld } from './footage-holds.js';
import type { FootageFile } from './segment-index.js';

/**
 * What to delete when the disk runs full: the oldest footage no event refers to first, then the
 * oldest event-linked footage, and never footage under a legal hold. Pruning goes 10 % beyond
 * the threshold so that it does not run again a minute later.
 */
export interface DiskSpace {
  freeBytes: number;
  totalBytes: number;
}

/** The disk-space port; tests pass a fake. */
export type DiskSpaceProbe = (dir: string) => DiskSpace;

export const statfsProbe: DiskSpaceProbe = (dir) => {
  const stats = statfsSync(dir);
  return { freeBytes: stats.bavail * stats.bsize, totalBytes: stats.blocks * stats.bsize };
};

export interface PressureLimits {
  minFreeBytes: number;
  minFreePercent: number;
}

export function thresholdBytes(space: DiskSpace, limits: PressureLimits): number {
  return Math.max(limits.minFreeBytes, Math.ceil((space.totalBytes * limits.minFreePercent) / 100));
}

/** Bytes to delete now; 0 when there is enough space. */
export function bytesToFree(space: DiskSpace, limits: PressureLimits): number {
  const threshold = thresholdBytes(space, limits);
  if (space.freeBytes >= threshold) return 0;
  return Math.ceil(threshold * 1.1) - space.freeBytes;
}

export interface PressurePlan {
  remove: FootageFile[];
  freedBytes: number;
  linkedRemoved: number;
  /** Bytes still missing after every deletable file is gone (held footage is never deleted). */
  shortfallBytes: number;
}

export function planPressureRelief(
  footage: readonly FootageFile[],
  holds: readonly Hold[],
  needBytes: number,
): PressurePlan {
  const deletable = footage.filter((f) => !isHeld(f, holds));
  const byAge = (a: FootageFile, b: FootageFile) => a.startMs - b.startMs || a.file.localeCompare(b.file);
  const ordered = [
    ...deletable.filter((f) => f.events.length === 0).sort(byAge),
    ...deletable.filter((f) => f.events.length > 0).sort(byAge),
  ];
  const plan: PressurePlan = { remove: [], freedBytes: 0, linkedRemoved: 0, shortfallBytes: 0 };
  for (const file of ordered) {
    if (plan.freedBytes >= needBytes) break;
    plan.remove.push(file);
    plan.freedBytes += file.bytes;
    if (file.events.length > 0) plan.linkedRemoved += 1;
  }
  plan.shortfallBytes = Math.max(0, needBytes - plan.freedBytes);
  return plan;
}
