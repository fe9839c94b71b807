import type { FootageFile } from '../../../../src/gateway/recorder/segment-index.js';

/** A piece of indexed footage starting at an ISO time, one minute long unless told. */
export function footage(camera: string, startIso: string, more: Partial<FootageFile> = {}): FootageFile {
  const startMs = Date.parse(startIso);
  const day = startIso.slice(0, 10);
  const file = `${startIso.replaceAll(':', '')}.mp4.idgv`;
  return {
    camera,
    day,
    file,
    path: `/video/${camera}/${day}/${file}`,
    kind: 'segment',
    startMs,
    endMs: startMs + 60_000,
    bytes: 1000,
    plainBytes: 984,
    keyId: `${camera}/${day}`,
    sha256: '0'.repeat(64),
    events: [],
    ...more,
  };
}
