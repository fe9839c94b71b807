import type { LegalHold } from '../../config/video-config.js';
import { RecorderErrorCode, recorderError } from './recorder-errors.js';

/** A legal hold in milliseconds: footage of `camera` (or every camera) overlapping it is kept. */
export interface Hold {
  id: string;
  camera: string | undefined;
  fromMs: number;
  toMs: number;
}

/**
 * The holds in milliseconds. One that would hold nothing (`to` not after `from`) is refused
 * (IDG_VIDEO_BAD_HOLD), not quietly taken: the configuration loader refuses it as well.
 */
export function holdsFromConfig(holds: readonly LegalHold[]): Hold[] {
  return holds.map((h) => {
    const fromMs = Date.parse(h.from);
    const toMs = Date.parse(h.to);
    if (!(toMs > fromMs))
      throw recorderError(
        RecorderErrorCode.badHold,
        `legal hold ${JSON.stringify(h.id)}: to (${h.to}) must be after from (${h.from})`,
      );
    return { id: h.id, camera: h.camera, fromMs, toMs };
  });
}

export function isHeld(
  footage: { camera: string; startMs: number; endMs: number },
  holds: readonly Hold[],
): boolean {
  return holds.some(
    (h) =>
      (h.camera === undefined || h.camera === footage.camera) &&
      footage.startMs < h.toMs &&
      footage.endMs > h.fromMs,
  );
}
