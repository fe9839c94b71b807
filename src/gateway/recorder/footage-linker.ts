import type { Clock, TimerHandle } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import type { VideoEmit } from '../../protocol/video-event-kinds.js';
import { type LinkedFootage, linkEventFootage } from './event-clips.js';
import type { ExportTools } from './footage-export.js';
import type { CameraSpec, RecorderOptions } from './recorder.js';
import type { SegmentIngest } from './segment-ingest.js';
import type { VideoKeyStore } from './video-keys.js';

/**
 * Footage for door events: waits until the cameras have recorded far enough past the event, then
 * stores a snapshot and a clip per camera (linkEventFootage) and emits `video.footage-linked`,
 * with `missing` for a camera that has none. Keeps the links in flight, so that a stop can wait
 * for them.
 */

export interface LinkResult {
  camera: string;
  footage?: LinkedFootage;
  missing?: string;
}

export interface FootageLinkerOptions {
  cameras: readonly CameraSpec[];
  settings: Pick<RecorderOptions['settings'], 'clip'>;
  keyStore: VideoKeyStore;
  /** Tells when a segment is indexed. */
  ingest: Pick<SegmentIngest, 'indexed'>;
  /** The end of each camera's newest indexed segment (epoch ms), kept by the recorder. */
  lastEnd: ReadonlyMap<string, number>;
  /** The index, integrity check, ffmpeg and work folder to cut footage with. */
  exportTools: () => ExportTools;
  clock: Clock;
  log: Logger;
  emit: VideoEmit;
}

export class FootageLinker {
  private readonly pendingLinks = new Set<Promise<unknown>>();

  constructor(private readonly options: FootageLinkerOptions) {}

  /**
   * Links footage to a door event: waits until the cameras (of `room`, or all) have recorded
   * `clip.afterSeconds` past the event, then stores a snapshot and a clip and emits
   * `video.footage-linked` per camera. Never rejects: a camera without footage is reported.
   */
  link(
    eventTime: number,
    eventId: string,
    options: { room?: string; cameras?: string[] } = {},
  ): Promise<LinkResult[]> {
    const cameras = this.options.cameras.filter(
      (c) =>
        c.enabled &&
        (options.cameras
          ? options.cameras.includes(c.id)
          : options.room === undefined || c.room === undefined || c.room === options.room),
    );
    // Called without await (followUpVideo): a camera's failure must end as `missing`, never as
    // a rejection nobody handles.
    const job = Promise.all(
      cameras.map((camera) =>
        this.linkCamera(camera, eventTime, eventId).catch((error: Error): LinkResult => {
          this.options.log.error(
            { err: error, camera: camera.id, event: eventId },
            'video: linking footage failed',
          );
          return { camera: camera.id, missing: error.message.slice(0, 500) };
        }),
      ),
    );
    this.pendingLinks.add(job);
    return job.finally(() => this.pendingLinks.delete(job));
  }

  /** Settles once every link in flight when called has ended. */
  settled(): Promise<unknown> {
    return Promise.allSettled([...this.pendingLinks]);
  }

  private async linkCamera(camera: CameraSpec, eventTime: number, eventId: string): Promise<LinkResult> {
    const { settings, emit, log } = this.options;
    const beforeMs = settings.clip.beforeSeconds * 1000;
    const afterMs = settings.clip.afterSeconds * 1000;
    const base = {
      event: eventId,
      camera: camera.id,
      from: new Date(eventTime - beforeMs).toISOString(),
      to: new Date(eventTime + afterMs).toISOString(),
    };
    try {
      await this.recordedUntil(
        camera.id,
        eventTime + afterMs,
        afterMs + 2 * camera.segmentSeconds * 1000 + 30_000,
      );
      const footage = await linkEventFootage(
        { ...this.options.exportTools(), keys: this.options.keyStore },
        camera.id,
        eventId,
        eventTime,
        beforeMs,
        afterMs,
      );
      emit('video.footage-linked', { ...base, snapshot: footage.snapshot, clip: footage.clip });
      return { camera: camera.id, footage };
    } catch (error) {
      const missing = error instanceof Error ? error.message.slice(0, 500) : String(error);
      log.warn({ err: error, camera: camera.id, event: eventId }, 'video: no footage linked to the event');
      emit('video.footage-linked', { ...base, missing });
      return { camera: camera.id, missing };
    }
  }

  /** Resolves once a segment ending at or after `untilMs` is indexed, or when `timeoutMs` passes. */
  private recordedUntil(camera: string, untilMs: number, timeoutMs: number): Promise<void> {
    const { clock } = this.options;
    return new Promise((resolve) => {
      let timer: TimerHandle | undefined;
      const done = () => {
        off();
        timer?.cancel();
        resolve();
      };
      const off = this.options.ingest.indexed.on((file) => {
        if (file.camera === camera && file.endMs >= untilMs) done();
      });
      if ((this.options.lastEnd.get(camera) ?? 0) >= untilMs) done();
      else timer = clock.setTimeout(done, timeoutMs);
    });
  }
}
