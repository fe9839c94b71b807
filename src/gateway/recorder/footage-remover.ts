import { rmSync } from 'node:fs';
import type { Logger } from '../../lib/logger.js';
import type { VideoEmit } from '../../protocol/video-event-kinds.js';
import { type DiskFile, scanDay } from './reconcile.js';
import type { FootageFile, SegmentIndex } from './segment-index.js';
import { dayEnd, keyIdOf } from './video-days.js';
import type { VideoKeyStore } from './video-keys.js';

export type PruneReason = 'retention' | 'disk-pressure' | 'reconcile';

/** One deletion that did not happen; the next run of the same job tries it again. */
export interface RemovalFailure {
  camera: string;
  day: string;
  step: 'file' | 'folder' | 'key';
  detail: string;
}

export interface RemovedSummary {
  files: number;
  bytes: number;
  keysDeleted: number;
  failures: RemovalFailure[];
}

/**
 * Carries out what retention, disk pressure and reconcile decided: deletes files and records
 * their removal in the index, deletes whole days with their keys, and reports each camera-day
 * it touched as a `video.pruned` event. Each file, folder and key is tried on its own: one that
 * cannot be deleted (a read-only key disk, a busy file) is logged and returned as a failure, and
 * does not stop the deletions after it.
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
    const summary = emptySummary();
    for (const [dayKey, group] of groupBy(files, (f) => keyIdOf(f.camera, f.day))) {
      const [camera, day] = dayKey.split('/') as [string, string];
      let bytes = 0;
      let removed = 0;
      for (const file of group) {
        const done = this.attempt(summary, camera, day, 'file', file.file, () => {
          rmSync(file.path, { force: true });
          this.index.append(camera, day, {
            t: 'removed',
            file: file.file,
            reason,
            at: new Date(this.now()).toISOString(),
          });
        });
        if (!done) continue;
        bytes += file.bytes;
        removed += 1;
      }
      if (removed === 0) continue;
      // A past day with nothing left loses its folder; its key stays until retention expires it.
      this.attempt(summary, camera, day, 'folder', day, () => {
        if (dayEnd(day) <= this.now() && this.index.read(camera, day).length === 0)
          this.index.removeDay(camera, day);
      });
      summary.files += removed;
      summary.bytes += bytes;
      this.log.info({ camera, day, reason, files: removed, bytes }, 'video: footage deleted');
      this.emit('video.pruned', { camera, day, reason, segments: removed, bytes, keyDeleted: false });
    }
    return summary;
  }

  /**
   * Deletes a day's data key, then its folder (files and index). The key goes first: once it is
   * gone the day is unreadable everywhere, even if its folder cannot be deleted yet. A key that
   * cannot be deleted is tried again at the next run, also when the folder is gone by then.
   */
  removeDay(camera: string, day: string, reason: PruneReason): RemovedSummary {
    const summary = emptySummary();
    const files = this.countable(camera, day);
    const bytes = files.reduce((n, f) => n + f.bytes, 0);
    let keyDeleted = false;
    this.attempt(summary, camera, day, 'key', keyIdOf(camera, day), () => {
      keyDeleted = this.keys.delete(keyIdOf(camera, day));
    });
    const folderDeleted = this.attempt(summary, camera, day, 'folder', day, () =>
      this.index.removeDay(camera, day),
    );
    if (!folderDeleted && !keyDeleted) return summary;
    summary.files = folderDeleted ? files.length : 0;
    summary.bytes = folderDeleted ? bytes : 0;
    summary.keysDeleted = keyDeleted ? 1 : 0;
    this.log.info({ camera, day, reason, files: summary.files, bytes, keyDeleted }, 'video: day deleted');
    this.emit('video.pruned', {
      camera,
      day,
      reason,
      segments: summary.files,
      bytes: summary.bytes,
      keyDeleted,
    });
    return summary;
  }

  /** Deletes files that no index row knows (reconcile). */
  removeOrphans(files: readonly DiskFile[]): RemovedSummary {
    const summary = emptySummary();
    for (const [dayKey, group] of groupBy(files, (f) => keyIdOf(f.camera, f.day))) {
      const [camera, day] = dayKey.split('/') as [string, string];
      const removed = group.filter((file) =>
        this.attempt(summary, camera, day, 'file', file.file, () => rmSync(file.path, { force: true })),
      );
      if (removed.length === 0) continue;
      const bytes = removed.reduce((n, f) => n + f.bytes, 0);
      summary.files += removed.length;
      summary.bytes += bytes;
      this.log.warn(
        { camera, day, files: removed.map((f) => f.file), bytes },
        'video: unindexed files deleted',
      );
      this.emit('video.pruned', {
        camera,
        day,
        reason: 'reconcile',
        segments: removed.length,
        bytes,
        keyDeleted: false,
      });
    }
    return summary;
  }

  /** Deletes the key of a day whose folder is already gone. */
  removeKey(keyId: string, reason: PruneReason): RemovedSummary {
    const [camera, day] = keyId.split('/') as [string, string];
    const summary = emptySummary();
    let deleted = false;
    this.attempt(summary, camera, day, 'key', keyId, () => {
      deleted = this.keys.delete(keyId);
    });
    if (!deleted) return summary;
    summary.keysDeleted = 1;
    this.log.info({ camera, day, reason }, 'video: key deleted');
    this.emit('video.pruned', { camera, day, reason, segments: 0, bytes: 0, keyDeleted: true });
    return summary;
  }

  /**
   * The day's files, for the report only, from the folder rather than the index: retention deletes
   * a day without parsing its rows (video-retention.ts). A folder that cannot be listed does not
   * stop the deletion.
   */
  private countable(camera: string, day: string): Array<{ bytes: number }> {
    try {
      return scanDay(this.index, camera, day);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
        this.log.warn(
          { err: error, camera, day },
          'video: day folder unreadable, deleted without counting it',
        );
      return [];
    }
  }

  /** Runs one deletion; a failure is logged and added to the summary. Returns whether it worked. */
  private attempt(
    summary: RemovedSummary,
    camera: string,
    day: string,
    step: RemovalFailure['step'],
    target: string,
    action: () => void,
  ): boolean {
    try {
      action();
      return true;
    } catch (error) {
      const detail = `${target}: ${error instanceof Error ? error.message : String(error)}`.slice(0, 300);
      this.log.error(
        { err: error, camera, day, step, target },
        'video: deletion failed, tried again at the next run',
      );
      summary.failures.push({ camera, day, step, detail });
      return false;
    }
  }
}

function emptySummary(): RemovedSummary {
  return { files: 0, bytes: 0, keysDeleted: 0, failures: [] };
}

function groupBy<T>(items: readonly T[], keyOf: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    groups.set(key, [...(groups.get(key) ?? []), item]);
  }
  return groups;
}
