import { rmSync } from 'node:fs';
import type { Logger } from '../../lib/logger.js';
import type { VideoEmit } from '../../protocol/video-event-kinds.js';
import type { DiskFile } from './reconcile.js';
import type { FootageFile, SegmentIndex } from './segment-index.js';
import { dayEnd, keyIdOf } from './video-days.js';
import type { VideoKeyStore } from './video-keys.js';

export type PruneReason = 'retention' | 'disk-pressure' | 'reconcile';

export interface RemovedSummary {
  files: number;
  bytes: number;
  keysDeleted: number;
}

/**
 * Carries out what retention, disk pressure and reconcile decided: deletes files and records
 * their removal in the index, deletes whole days with their keys, and reports each camera-day
 * it touched as a `video.pruned` event.
 */
export class FootageRemover {
  constructor(
    private readonly index: SegmentIndex,
    private readonly keys: VideoKeyStore,
    private readonly emit: VideoEmit,
    private readonly log: Logger,
    private readonly now: () => number,
  ) {}

  removeFiles(files: readonly FootageFile[], reason: PruneReason): RemovedSummary {
    const summary: RemovedSummary = { files: 0, bytes: 0, keysDeleted: 0 };
    for (const [dayKey, group] of groupBy(files, (f) => keyIdOf(f.camera, f.day))) {
      const [camera, day] = dayKey.split('/') as [string, string];
      let bytes = 0;
      for (const file of group) {
        rmSync(file.path, { force: true });
        this.index.append(camera, day, {
          t: 'removed',
          file: file.file,
          reason,
          at: new Date(this.now()).toISOString(),
        });
        bytes += file.bytes;
      }
      // A past day with nothing left loses its folder; its key stays until retention expires it.
      if (dayEnd(day) <= this.now() && this.index.read(camera, day).length === 0)
        this.index.removeDay(camera, day);
      summary.files += group.length;
      summary.bytes += bytes;
      this.log.info({ camera, day, reason, files: group.length, bytes }, 'video: footage deleted');
      this.emit('video.pruned', { camera, day, reason, segments: group.length, bytes, keyDeleted: false });
    }
    return summary;
  }

  /** Deletes a day's folder (files and index) and its data key. */
  removeDay(camera: string, day: string, reason: PruneReason): RemovedSummary {
    const files = this.index.read(camera, day);
    const bytes = files.reduce((n, f) => n + f.bytes, 0);
    this.index.removeDay(camera, day);
    const keyDeleted = this.keys.delete(keyIdOf(camera, day));
    this.log.info({ camera, day, reason, files: files.length, bytes, keyDeleted }, 'video: day deleted');
    this.emit('video.pruned', { camera, day, reason, segments: files.length, bytes, keyDeleted });
    return { files: files.length, bytes, keysDeleted: keyDeleted ? 1 : 0 };
  }

  /** Deletes files that no index row knows (reconcile). */
  removeOrphans(files: readonly DiskFile[]): RemovedSummary {
    const summary: RemovedSummary = { files: 0, bytes: 0, keysDeleted: 0 };
    for (const [dayKey, group] of groupBy(files, (f) => keyIdOf(f.camera, f.day))) {
      const [camera, day] = dayKey.split('/') as [string, string];
      for (const file of group) rmSync(file.path, { force: true });
      const bytes = group.reduce((n, f) => n + f.bytes, 0);
      summary.files += group.length;
      summary.bytes += bytes;
      this.log.warn(
        { camera, day, files: group.map((f) => f.file), bytes },
        'video: unindexed files deleted',
      );
      this.emit('video.pruned', {
        camera,
        day,
        reason: 'reconcile',
        segments: group.length,
        bytes,
        keyDeleted: false,
      });
    }
    return summary;
  }

  removeKey(keyId: string, reason: PruneReason): boolean {
    const [camera, day] = keyId.split('/') as [string, string];
    const deleted = this.keys.delete(keyId);
    if (deleted) this.emit('video.pruned', { camera, day, reason, segments: 0, bytes: 0, keyDeleted: true });
    return deleted;
  }
}

function groupBy<T>(items: readonly T[], keyOf: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    groups.set(key, [...(groups.get(key) ?? []), item]);
  }
  return groups;
}
