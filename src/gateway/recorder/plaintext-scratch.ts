import { createHash } from 'node:crypto';
import {
  chmodSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  rmdirSync,
  rmSync,
  statfsSync,
  statSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import type { Logger } from '../../lib/logger.js';
import type { DiskSpaceProbe } from './disk-pressure.js';
import { RecorderErrorCode, recorderError } from './recorder-errors.js';

/**
 * Where the recorder's plaintext lives: the spool, in which ffmpeg writes each segment before it
 * is encrypted (`<spool>/<camera>/…`), and the work folder in which clips and playback are joined
 * (`<spool>/.work`). Unlinking a file does not erase it from a disk, so by default both are on a
 * file system in memory (tmpfs): systemd's RuntimeDirectory, then $XDG_RUNTIME_DIR, then
 * /dev/shm. Without one, they fall back to the footage directory (`<dir>/.spool`, `<dir>/.work`).
 */
export interface PlaintextScratch {
  spoolDir: string;
  workDir: string;
  origin: 'configured' | 'memory' | 'footage-dir';
  /** Memory file systems found but not used, and why (for the start-up log). */
  skipped: string[];
}

const TMPFS_MAGIC = 0x01021994;
const RAMFS_MAGIC = 0x858458f6;
type Env = Record<string, string | undefined>;

export function isInMemory(dir: string): boolean {
  try {
    const { type } = statfsSync(dir);
    return type === TMPFS_MAGIC || type === RAMFS_MAGIC;
  } catch {
    // Not there, or not ours to look at: not a candidate.
    return false;
  }
}

/** Where a memory file system is looked for, in this order. */
export function memoryBases(env: Env = process.env): string[] {
  const bases = [env.RUNTIME_DIRECTORY?.split(':')[0], env.XDG_RUNTIME_DIR, '/dev/shm'];
  return bases.filter((base): base is string => Boolean(base));
}

export function choosePlaintextScratch(
  videoDir: string,
  configured: string | undefined,
  bases: readonly string[] = memoryBases(),
): PlaintextScratch {
  if (configured) {
    const spoolDir = resolve(configured);
    return { spoolDir, workDir: join(spoolDir, '.work'), origin: 'configured', skipped: [] };
  }
  const skipped: string[] = [];
  // One folder per footage directory: gateways (and tests) on one machine never share a spool.
  const name = `identgate-video-${createHash('sha256').update(resolve(videoDir)).digest('hex').slice(0, 16)}`;
  for (const base of bases) {
    if (!isInMemory(base)) continue;
    const dir = join(base, name);
    const why = privateDirProblem(dir);
    if (why) {
      skipped.push(`${dir}: ${why}`);
      continue;
    }
    return { spoolDir: dir, workDir: join(dir, '.work'), origin: 'memory', skipped };
  }
  return {
    spoolDir: join(videoDir, '.spool'),
    workDir: join(videoDir, '.work'),
    origin: 'footage-dir',
    skipped,
  };
}

/**
 * Creates `dir` (0700) or checks the one there: a folder of this user's that no one else may
 * enter. /dev/shm is writable by everyone, and a folder someone else made in advance would let
 * them read the footage. Returns what is wrong, or undefined.
 */
function privateDirProblem(dir: string): string | undefined {
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') return (error as Error).message;
  }
  const stat = lstatSync(dir);
  if (!stat.isDirectory()) return 'not a folder (a link?)';
  if (stat.uid !== process.getuid?.()) return `owned by uid ${stat.uid}, not by this process`;
  if ((stat.mode & 0o077) !== 0) return `mode ${(stat.mode & 0o777).toString(8)}, not 0700`;
  return undefined;
}

/** A plaintext segment left in the spool (ffmpeg or the gateway died, or storing failed). */
export interface Leftover {
  camera: string;
  path: string;
}

/**
 * Prepares the folders at start: both 0700, the work folder emptied (scratch of a crash), and
 * returns the segments left in the spool — and in `<dir>/.spool` when the spool has moved since
 * (an update), whose `.work` goes too — so that they are stored now.
 */
export function openScratch(scratch: PlaintextScratch, videoDir: string, log: Logger): Leftover[] {
  const { spoolDir, workDir, origin, skipped } = scratch;
  for (const dir of [videoDir, spoolDir, workDir]) mkdirSync(dir, { recursive: true, mode: 0o700 });
  const mode = statSync(spoolDir).mode & 0o777;
  if (mode & 0o077) {
    try {
      chmodSync(spoolDir, 0o700);
    } catch (error) {
      log.warn({ err: error, spoolDir, mode: mode.toString(8) }, 'video: the spool is open to others');
    }
  }
  for (const name of readdirSync(workDir)) rmSync(join(workDir, name), { recursive: true, force: true });
  if (skipped.length > 0) log.warn({ skipped }, 'video: memory file systems not used for the spool');
  const shared = statSync(spoolDir).dev === statSync(videoDir).dev;
  const logged = { spoolDir, workDir, origin };
  if (shared)
    log.warn(
      logged,
      'video: the plaintext spool is on the footage disk: a deleted segment stays readable there until overwritten; set video.spoolDir to a tmpfs (docs/video.md)',
    );
  else log.info(logged, 'video: plaintext spool');
  const legacy = join(videoDir, '.spool');
  const leftovers = segmentsIn(spoolDir);
  if (resolve(legacy) !== resolve(spoolDir)) {
    leftovers.push(...segmentsIn(legacy));
    rmSync(join(videoDir, '.work'), { recursive: true, force: true });
  }
  return leftovers;
}

/** At stop: empty camera folders go, and the spool itself when the recorder chose it. */
export function tidyScratch(scratch: PlaintextScratch, videoDir: string): void {
  const legacy = join(videoDir, '.spool');
  for (const spool of new Set([scratch.spoolDir, legacy])) {
    for (const camera of list(spool)) if (!camera.startsWith('.')) removeIfEmpty(join(spool, camera));
  }
  removeIfEmpty(scratch.workDir);
  if (scratch.origin === 'memory') removeIfEmpty(scratch.spoolDir);
  if (resolve(legacy) !== resolve(scratch.spoolDir)) removeIfEmpty(legacy);
}

/**
 * Refuses a clip or playback that would fill the work folder's file system (a tmpfs is small)
 * beyond `reserveBytes`, which the spool needs to go on recording.
 */
export function checkScratchRoom(
  workDir: string,
  neededBytes: number,
  reserveBytes: number,
  probe: DiskSpaceProbe,
): void {
  const { freeBytes } = probe(workDir);
  if (neededBytes + reserveBytes <= freeBytes) return;
  const mib = (bytes: number) => Math.ceil(bytes / 1_048_576);
  throw recorderError(
    RecorderErrorCode.scratchFull,
    `joining this footage needs ${mib(neededBytes)} MiB of plaintext scratch, and ${mib(freeBytes)} MiB are free of which ${mib(reserveBytes)} MiB are kept for recording: ask for a shorter range, or give the spool more room`,
  );
}

function segmentsIn(spool: string): Leftover[] {
  return list(spool)
    .filter((camera) => !camera.startsWith('.'))
    .flatMap((camera) =>
      list(join(spool, camera))
        .filter((name) => name.endsWith('.mp4'))
        .sort()
        .map((name) => ({ camera, path: join(spool, camera, name) })),
    );
}

function removeIfEmpty(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // Not empty (kept segments wait for the next start), not there, or a mount point: it stays.
  }
}

function list(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    // No such folder: nothing in it.
    return [];
  }
}
