import { join } from 'node:path';
import type { FootageRef } from '../../protocol/video-event-kinds.js';
import { type ExportTools, exportRange, exportSnapshot, withScratch } from './footage-export.js';
import { RecorderErrorCode, recorderError } from './recorder-errors.js';
import { encryptFile } from './segment-crypto.js';
import type { FootageFile } from './segment-index.js';
import { dayOf } from './video-days.js';
import type { VideoKeyStore } from './video-keys.js';

/**
 * The footage of a door event: a JPEG of the moment and a clip from `before` to `after` it,
 * each encrypted like any footage into the event's day and referenced by id and the SHA-256 of
 * its plain bytes. The segments used are marked as linked, so disk pressure prunes them last.
 */
export interface LinkedFootage {
  snapshot: FootageRef;
  clip: FootageRef;
  fromMs: number;
  toMs: number;
  segments: FootageFile[];
}

const EVENT_ID = /^[A-Za-z0-9_-]{1,64}$/;

export async function linkEventFootage(
  tools: ExportTools & { keys: VideoKeyStore },
  camera: string,
  eventId: string,
  eventMs: number,
  beforeMs: number,
  afterMs: number,
): Promise<LinkedFootage> {
  if (!EVENT_ID.test(eventId))
    throw recorderError(
      RecorderErrorCode.noFootage,
      `event id ${JSON.stringify(eventId)} cannot name a file`,
    );
  const day = dayOf(eventMs);
  const { keyId, key } = tools.keys.keyFor(camera, day);
  const dir = tools.index.dayDir(camera, day);
  return withScratch(tools.workDir, async (scratch) => {
    const clipPlain = join(scratch, 'clip.mp4');
    const snapshotPlain = join(scratch, 'snapshot.jpg');
    const range = await exportRange(tools, camera, eventMs - beforeMs, eventMs + afterMs, clipPlain);
    const shown = await exportSnapshot(tools, camera, eventMs, snapshotPlain);
    const store = async (
      plain: string,
      kind: 'clip' | 'snapshot',
      ext: string,
      mime: string,
      startMs: number,
      endMs: number,
    ) => {
      const file = `evt-${eventId}-${kind}.${ext}.idgv`;
      const sealed = await encryptFile(plain, join(dir, file), key, keyId);
      tools.index.append(camera, day, {
        t: 'artifact',
        kind,
        event: eventId,
        file,
        start: new Date(startMs).toISOString(),
        end: new Date(endMs).toISOString(),
        bytes: sealed.bytes,
        plainBytes: sealed.plainBytes,
        keyId,
        sha256: sealed.sha256,
      });
      return { id: `${camera}/${day}/${file}`, sha256: sealed.sha256, bytes: sealed.plainBytes, keyId, mime };
    };
    const clip = await store(clipPlain, 'clip', 'mp4', 'video/mp4', range.fromMs, range.toMs);
    const snapshot = await store(snapshotPlain, 'snapshot', 'jpg', 'image/jpeg', shown.startMs, shown.endMs);
    for (const segment of range.segments) {
      tools.index.append(segment.camera, segment.day, { t: 'link', file: segment.file, event: eventId });
    }
    return { snapshot, clip, fromMs: range.fromMs, toMs: range.toMs, segments: range.segments };
  });
}
