import { existsSync, mkdirSync, renameSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Clock, TimerHandle } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import { Signal } from '../../lib/signal.js';
import type { CompletedSegment } from './camera-supervisor.js';
import type { DiskSpace } from './disk-pressure.js';
import { probeMedia } from './ffmpeg-run.js';
import { checkFragmentedMp4, trimToLastFragment } from './mp4-boxes.js';
import { encryptFile } from './segment-crypto.js';
import type { FootageFile, SegmentIndex } from './segment-index.js';
import { compactTime, dayOf } from './video-days.js';
import { syncDir, type VideoKeyStore } from './video-keys.js';

export interface RejectedSegment {
  camera: string;
  file: string;
  detail: string;
}

export interface SegmentIngestOptions {
  index: SegmentIndex;
  keys: VideoKeyStore;
  ffprobe: string;
  clock: Clock;
  log: Logger;
  /** The spool's file system: held plaintext may take at most a quarter of it. */
  spoolSpace?: () => DiskSpace;
}

/** A segment that failed to be stored is kept in the spool and tried again for this long … */
export const HOLD_MAX_MS = 10 * 60_000;
/** … every RETRY_MS, while all the segments kept take at most this much (or a quarter of the spool). */
export const HOLD_MAX_BYTES = 256 * 1024 ** 2;
export const RETRY_MS = 30_000;

/** A segment checked and timed, ready to be encrypted and indexed. */
interface Checked {
  camera: string;
  path: string;
  name: string;
  startMs: number;
  endMs: number;
}

interface Held extends Checked {
  bytes: number;
  since: number;
  attempts: number;
  error: string;
}

/**
 * What happens to a segment ffmpeg finished: checked (box structure for a segment ffmpeg listed,
 * ffprobe for one a dead ffmpeg left behind), encrypted under its day's key into the day folder,
 * indexed (fsync'd), and only then is the plaintext in the spool deleted and the segment
 * announced. One camera's segments go through one at a time.
 *
 * A segment that is not playable is deleted at once. One that is, but cannot be stored (the day
 * key cannot be written, the footage disk refuses the file), is kept in the spool and tried again
 * every 30 s for up to 10 minutes, within HOLD_MAX_BYTES; the oldest kept are given up (deleted)
 * first. Either way `rejected` says so at once, so that the camera's alarm is raised.
 */
export class SegmentIngest {
  readonly indexed: Signal<FootageFile>;
  readonly rejected: Signal<RejectedSegment>;
  private readonly queues = new Map<string, Promise<void>>();
  private held: Held[] = [];
  private retryTimer: TimerHandle | undefined;

  constructor(private readonly options: SegmentIngestOptions) {
    this.indexed = new Signal('indexed', options.log);
    this.rejected = new Signal('rejected', options.log);
  }

  /** Queues a segment; the promise settles (never rejects) when it was indexed, kept or rejected. */
  add(segment: CompletedSegment): Promise<void> {
    return this.enqueue(segment.camera, () => this.process(segment));
  }

  /** Resolves once every queued segment is through. */
  async idle(): Promise<void> {
    await Promise.all(this.queues.values());
  }

  /** Segments kept for another try, oldest first (status, tests). */
  get heldSegments(): ReadonlyArray<{ camera: string; file: string; bytes: number; attempts: number }> {
    return this.held.map(({ camera, name, bytes, attempts }) => ({ camera, file: name, bytes, attempts }));
  }

  /**
   * Tries the kept segments once more and stops retrying. What still fails stays in the spool,
   * where the next start finds it and tries again.
   */
  async stop(): Promise<void> {
    this.cancelRetry();
    for (const camera of new Set(this.held.map((h) => h.camera)))
      void this.enqueue(camera, () => this.retry(camera));
    await this.idle();
    // A round that was under way may have set the timer again meanwhile.
    this.cancelRetry();
    if (this.held.length > 0)
      this.options.log.warn(
        { segments: this.held.map((h) => `${h.camera}/${h.name}`) },
        'video: segments not stored yet stay in the spool; the next start tries them again',
      );
    this.held = [];
  }

  private cancelRetry(): void {
    this.retryTimer?.cancel();
    this.retryTimer = undefined;
  }

  private enqueue(camera: string, job: () => Promise<void>): Promise<void> {
    const tail = this.queues.get(camera) ?? Promise.resolve();
    // Nobody awaits a segment's work (the supervisor hands it over and moves on): a failure is
    // logged here, and the camera's next segment still goes through.
    const next = tail
      .then(job)
      .catch((error: Error) =>
        this.options.log.error({ err: error, camera }, 'video: segment ingest failed'),
      );
    this.queues.set(camera, next);
    return next;
  }

  private async process(segment: CompletedSegment): Promise<void> {
    const name = segment.path.split('/').pop() ?? segment.path;
    if (segment.salvaged && sizeOf(segment.path) === 0) {
      // A dead ffmpeg had opened its next file and written nothing: no footage is lost.
      this.options.log.info({ camera: segment.camera, file: name }, 'video: empty leftover deleted');
      this.discard(segment.path);
      return;
    }
    let checked: Checked;
    try {
      checked = { camera: segment.camera, path: segment.path, name, ...(await this.check(segment)) };
    } catch (error) {
      this.options.log.warn({ err: error, camera: segment.camera, file: name }, 'video: segment rejected');
      // Not playable: there is nothing to keep, and plaintext footage must not linger.
      this.discard(segment.path);
      this.rejected.emit({ camera: segment.camera, file: name, detail: detailOf(error) });
      return;
    }
    try {
      await this.store(checked);
    } catch (error) {
      this.hold(checked, error);
    }
  }

  private async check(segment: CompletedSegment): Promise<{ startMs: number; endMs: number }> {
    const { path } = segment;
    if (!existsSync(path)) throw new Error('segment file disappeared before it was stored');
    if (segment.startMs !== undefined && segment.endMs !== undefined) {
      // ffmpeg listed it, so it closed it: a structural check suffices and costs no process.
      await checkFragmentedMp4(path);
      return { startMs: segment.startMs, endMs: segment.endMs };
    }
    // Left behind by a dead ffmpeg: cut back to its last whole fragment, then ffprobe measures it.
    const { cutBytes } = await trimToLastFragment(path);
    if (cutBytes > 0)
      this.options.log.warn(
        { camera: segment.camera, file: basename(path), cutBytes },
        'video: salvaged segment cut back to its last whole fragment',
      );
    const durationMs = Math.round((await probeMedia(this.options.ffprobe, path)).durationSeconds * 1000);
    const startMs = segment.startMs ?? statSync(path).mtimeMs - durationMs;
    return { startMs, endMs: startMs + durationMs };
  }

  private async store(segment: Checked): Promise<void> {
    const { index, keys, log } = this.options;
    const { camera, path, startMs, endMs } = segment;
    const day = dayOf(startMs);
    const { keyId, key } = keys.keyFor(camera, day);
    const dir = index.dayDir(camera, day);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const file = uniqueName(dir, `${compactTime(startMs)}.mp4.idgv`);
    const target = join(dir, file);
    let sealed: Awaited<ReturnType<typeof encryptFile>> | undefined;
    try {
      sealed = await encryptFile(path, `${target}.part`, key, keyId);
      renameSync(`${target}.part`, target);
      syncDir(dir);
      index.append(camera, day, {
        t: 'segment',
        file,
        start: new Date(startMs).toISOString(),
        end: new Date(endMs).toISOString(),
        bytes: sealed.bytes,
        plainBytes: sealed.plainBytes,
        keyId,
        sha256: sealed.sha256,
      });
    } catch (error) {
      // Nothing half-stored stays behind: the next try writes the segment afresh.
      rmSync(`${target}.part`, { force: true });
      rmSync(target, { force: true });
      throw error;
    }
    try {
      unlinkSync(path);
    } catch (error) {
      log.error(
        { err: error, camera, file: segment.name },
        'video: stored, but the plaintext could not be deleted',
      );
    }
    const { bytes, plainBytes, sha256 } = sealed;
    this.indexed.emit({
      camera,
      day,
      file,
      path: target,
      kind: 'segment',
      startMs,
      endMs,
      bytes,
      plainBytes,
      keyId,
      sha256,
      events: [],
    });
  }

  private hold(segment: Checked, error: unknown): void {
    const { clock, log } = this.options;
    const detail = detailOf(error);
    const bytes = sizeOf(segment.path);
    const limit = this.holdLimit();
    if (bytes === undefined || bytes > limit) {
      log.error(
        { err: error, camera: segment.camera, file: segment.name },
        'video: segment not stored and deleted',
      );
      this.discard(segment.path);
      const why = bytes === undefined ? 'the file is gone' : 'deleted: no room to keep it for another try';
      this.rejected.emit({ ...ref(segment), detail: `${detail}; ${why}` });
      return;
    }
    this.held.push({ ...segment, bytes, since: clock.now(), attempts: 1, error: detail });
    log.error(
      { err: error, camera: segment.camera, file: segment.name },
      'video: segment not stored; kept and tried again',
    );
    this.rejected.emit({
      ...ref(segment),
      detail: `${detail}; kept in the spool and tried again every ${RETRY_MS / 1000} s for ${HOLD_MAX_MS / 60_000} min`,
    });
    while (this.heldBytes() > limit) this.giveUp(this.held[0] as Held, 'no room to keep more');
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.retryTimer || this.held.length === 0) return;
    this.retryTimer = this.options.clock.setTimeout(() => {
      this.retryTimer = undefined;
      const cameras = new Set(this.held.map((h) => h.camera));
      for (const camera of cameras) void this.enqueue(camera, () => this.retry(camera));
      void Promise.all([...cameras].map((c) => this.queues.get(c))).then(() => this.scheduleRetry());
    }, RETRY_MS);
  }

  /** The camera's kept segments, oldest first, until one fails again. */
  private async retry(camera: string): Promise<void> {
    const now = this.options.clock.now();
    for (const segment of this.held.filter((h) => h.camera === camera)) {
      if (!this.held.includes(segment)) continue;
      if (now - segment.since >= HOLD_MAX_MS) {
        this.giveUp(segment, `not stored within ${HOLD_MAX_MS / 60_000} min`);
        continue;
      }
      segment.attempts += 1;
      try {
        await this.store(segment);
        this.held = this.held.filter((h) => h !== segment);
        this.options.log.info(
          { camera, file: segment.name, attempts: segment.attempts },
          'video: kept segment stored',
        );
      } catch (error) {
        segment.error = detailOf(error);
        return;
      }
    }
  }

  private giveUp(segment: Held, why: string): void {
    this.held = this.held.filter((h) => h !== segment);
    this.options.log.error(
      { camera: segment.camera, file: segment.name, attempts: segment.attempts, error: segment.error },
      `video: kept segment given up (${why}) and deleted`,
    );
    this.discard(segment.path);
    this.rejected.emit({
      ...ref(segment),
      detail: `${segment.error}; given up after ${segment.attempts} tries (${why}) and deleted`,
    });
  }

  private holdLimit(): number {
    let space: DiskSpace | undefined;
    try {
      space = this.options.spoolSpace?.();
    } catch (error) {
      this.options.log.warn(
        { err: error },
        'video: cannot measure the spool; keeping at most the fixed bound',
      );
    }
    return space ? Math.min(HOLD_MAX_BYTES, Math.floor(space.totalBytes / 4)) : HOLD_MAX_BYTES;
  }

  private heldBytes(): number {
    return this.held.reduce((sum, h) => sum + h.bytes, 0);
  }

  private discard(path: string): void {
    try {
      rmSync(path, { force: true });
    } catch (error) {
      this.options.log.error({ err: error, path }, 'video: could not delete a plaintext segment');
    }
  }
}

const ref = (segment: Checked) => ({ camera: segment.camera, file: segment.name });
/** An error's message, short enough for what the rejection adds to it (500 characters in all). */
const detailOf = (error: unknown) => (error instanceof Error ? error.message : String(error)).slice(0, 380);

function sizeOf(path: string): number | undefined {
  try {
    return statSync(path).size;
  } catch {
    // Gone: there is nothing to keep.
    return undefined;
  }
}

function uniqueName(dir: string, name: string): string {
  if (!existsSync(join(dir, name))) return name;
  for (let n = 1; ; n++) {
    const candidate = name.replace('.mp4.idgv', `-${n}.mp4.idgv`);
    if (!existsSync(join(dir, candidate))) return candidate;
  }
}
