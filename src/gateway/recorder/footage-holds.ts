import type { LegalHold } from '../../config/video-config.js';

/** A legal hold in milliseconds: footage of `camera` (or every camera) overlapping it is kept. */
export interface Hold {
  id: string;
  camera: string | undefined;
  fromMs: number;
  toMs: number;
}

export function holdsFromConfig(holds: readonly LegalHold[]): Hold[] {
  return holds.map((h) => ({
    id: h.id,
    camera: h.camera,
    fromMs: Date.parse(h.from),
    toMs: Date.parse(h.to),
  }));
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
