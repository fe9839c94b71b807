import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { type FootageFile, INDEX_FILE, type SegmentIndex } from './segment-index.js';

/**
 * Index and disk agree again: files without an index row (an orphan, e.g. a crash between
 * writing a file and indexing it) are deleted, rows whose file is gone are closed. A plan that
 * would touch more than a safety fraction of the index is refused without `force`: a missing
 * mount or a wrong directory must not look like "everything was deleted".
 */
export interface DiskFile {
  camera: string;
  day: string;
  file: string;
  path: string;
  bytes: number;
  mtimeMs: number;
}

export interface ReconcileOptions {
  now: number;
  /** Files younger than this are being written or indexed right now; they are left alone. */
  graceMs: number;
  maxFraction: number;
  force: boolean;
}

export interface ReconcilePlan {
  orphans: DiskFile[];
  missing: FootageFile[];
  indexed: number;
  refused: boolean;
}

export function planReconcile(
  indexed: readonly FootageFile[],
  onDisk: readonly DiskFile[],
  options: ReconcileOptions,
): ReconcilePlan {
  const key = (f: { camera: string; day: string; file: string }) => `${f.camera}/${f.day}/${f.file}`;
  const known = new Set(indexed.map(key));
  const present = new Set(onDisk.map(key));
  const orphans = onDisk.filter((f) => !known.has(key(f)) && options.now - f.mtimeMs >= options.graceMs);
  const missing = indexed.filter((f) => !present.has(key(f)));
  const limit = Math.max(1, Math.floor(options.maxFraction * indexed.length));
  const refused = !options.force && orphans.length + missing.length > limit;
  return { orphans, missing, indexed: indexed.length, refused };
}

/** Every footage file in the day folders (index files aside). */
export function scanFootageFiles(index: SegmentIndex): DiskFile[] {
  return index
    .cameras()
    .flatMap((camera) => index.days(camera).flatMap((day) => scanDay(index, camera, day)));
}

/** `scanFootageFiles` one camera-day per turn of the event loop (60 days hold 86,400 files a camera). */
export async function scanFootageFilesInSlices(index: SegmentIndex): Promise<DiskFile[]> {
  const files: DiskFile[] = [];
  for (const camera of index.cameras())
    for (const day of index.days(camera)) {
      await nextTurn();
      for (const file of scanDay(index, camera, day)) files.push(file);
    }
  return files;
}

/** The files of one day folder, index aside. */
export function scanDay(index: SegmentIndex, camera: string, day: string): DiskFile[] {
  const dir = index.dayDir(camera, day);
  const files: DiskFile[] = [];
  for (const file of readdirSync(dir)) {
    if (file === INDEX_FILE) continue;
    const path = join(dir, file);
    const stats = statSync(path);
    if (stats.isFile()) files.push({ camera, day, file, path, bytes: stats.size, mtimeMs: stats.mtimeMs });
  }
  return files;
}
