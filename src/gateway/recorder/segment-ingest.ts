import { existsSync, mkdirSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../../lib/logger.js';
import { Signal } from '../../lib/signal.js';
import type { CompletedSegment } from './camera-supervisor.js';
import { probeMedia } from './ffmpeg-run.js';
import { checkFragmentedMp4 } from './mp4-boxes.js';
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
  log: Logger;
}

/**
 * What happens to a segment ffmpeg finished: checked (box structure for a segment ffmpeg listed,
 * ffprobe for one a dead ffmpeg left behind), encrypted under its day's
 * key into the day folder, indexed (fsync'd), and only then is the plaintext in the spool
 * deleted and the segment announced. One camera's segments go through one at a time.
 */
export class SegmentIngest {
  readonly indexed: Signal<FootageFile>;
  readonly rejected: Signal<RejectedSegment>;
  private readonly queues = new Map<string, Promise<void>>();

  constructor(private readonly options: SegmentIngestOptions) {
    this.indexed = new Signal('indexed', options.log);
    this.rejected = new Signal('rejected', options.log);
  }

  /** Queues a segment; the promise settles when it was indexed or rejected. */
  add(segment: CompletedSegment): Promise<void> {
    const tail = this.queues.get(segment.camera) ?? Promise.resolve();
    const next = tail.then(() => this.process(segment));
    this.queues.set(segment.camera, next);
    return next;
  }

  /** Resolves once every queued segment is through. */
  async idle(): Promise<void> {
    await Promise.all(this.queues.values());
  }

  private async process(segment: CompletedSegment): Promise<void> {
    const { log } = this.options;
    const name = segment.path.split('/').pop() ?? segment.path;
    try {
      await this.store(segment);
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      log.warn({ err: error, camera: segment.camera, file: name }, 'video: segment rejected');
      // Plaintext footage must not linger: a segment that cannot be stored is deleted.
      if (existsSync(segment.path)) unlinkSync(segment.path);
      this.rejected.emit({ camera: segment.camera, file: name, detail: detail.slice(0, 500) });
    }
  }

  private async store(segment: CompletedSegment): Promise<void> {
    const { index, keys, ffprobe } = this.options;
    const { camera, path } = segment;
    if (!existsSync(path)) throw new Error('segment file disappeared before it was stored');
    let startMs: number;
    let endMs: number;
    if (segment.startMs !== undefined && segment.endMs !== undefined) {
      // ffmpeg listed it, so it closed it: a structural check suffices and costs no process.
      await checkFragmentedMp4(path);
      startMs = segment.startMs;
      endMs = segment.endMs;
    } else {
      // Left behind by a dead ffmpeg: ffprobe finds out how much of it is playable.
      const durationMs = Math.round((await probeMedia(ffprobe, path)).durationSeconds * 1000);
      startMs = segment.startMs ?? statSync(path).mtimeMs - durationMs;
      endMs = startMs + durationMs;
    }
    const day = dayOf(startMs);
    const { keyId, key } = keys.keyFor(camera, day);
    const dir = index.dayDir(camera, day);
    const file = uniqueName(dir, `${compactTime(startMs)}.mp4.idgv`);
    const target = join(dir, file);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const sealed = await encryptFile(path, `${target}.part`, key, keyId);
    renameSync(`${target}.part`, target);
    syncDir(dir);
    const row = {
      t: 'segment' as const,
      file,
      start: new Date(startMs).toISOString(),
      end: new Date(endMs).toISOString(),
      bytes: sealed.bytes,
      plainBytes: sealed.plainBytes,
      keyId,
      sha256: sealed.sha256,
    };
    index.append(camera, day, row);
    unlinkSync(path);
    this.indexed.emit({
      camera,
      day,
      file,
      path: target,
      kind: 'segment',
      startMs,
      endMs,
      bytes: sealed.bytes,
      plainBytes: sealed.plainBytes,
      keyId,
      sha256: sealed.sha256,
      events: [],
    });
  }
}

function uniqueName(dir: string, name: string): string {
  if (!existsSync(join(dir, name))) return name;
  for (let n = 1; ; n++) {
    const candidate = name.replace('.mp4.idgv', `-${n}.mp4.idgv`);
    if (!existsSync(join(dir, candidate))) return candidate;
  }
}
