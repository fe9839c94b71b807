import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runTool } from './ffmpeg-run.js';
import type { FootageIntegrity } from './footage-integrity.js';
import { RecorderErrorCode, recorderError } from './recorder-errors.js';
import type { FootageFile, SegmentIndex } from './segment-index.js';

/**
 * Turns encrypted segments back into one plain MP4 for a time range, without transcoding:
 * decrypt the overlapping segments into a private scratch folder, then let ffmpeg's concat
 * demuxer join them (stream copy, in/out points, `+faststart` so a browser can seek at once).
 * Cuts fall on key frames, so a clip may begin up to one GOP early. Every segment is checked
 * against its index row as it is decrypted (footage-integrity.ts): a swapped or edited one fails
 * the whole export.
 */
export interface ExportTools {
  index: SegmentIndex;
  integrity: FootageIntegrity;
  ffmpeg: string;
  /** A private (0700) folder on the gateway for short-lived plaintext. */
  workDir: string;
}

export interface ExportedRange {
  path: string;
  bytes: number;
  segments: FootageFile[];
  fromMs: number;
  toMs: number;
}

export async function exportRange(
  tools: ExportTools,
  camera: string,
  fromMs: number,
  toMs: number,
  target: string,
): Promise<ExportedRange> {
  const segments = tools.index.segmentsBetween(camera, fromMs, toMs);
  if (segments.length === 0) {
    throw recorderError(
      RecorderErrorCode.noFootage,
      `no footage of ${camera} between ${iso(fromMs)} and ${iso(toMs)}`,
    );
  }
  await withScratch(tools.workDir, async (scratch) => {
    const lines: string[] = ['ffconcat version 1.0'];
    for (const [at, segment] of segments.entries()) {
      const plain = join(scratch, `part-${at}.mp4`);
      await tools.integrity.decrypt(segment, plain);
      lines.push(`file '${plain}'`);
      if (at === 0 && fromMs > segment.startMs) lines.push(`inpoint ${seconds(fromMs - segment.startMs)}`);
      if (at === segments.length - 1 && toMs < segment.endMs)
        lines.push(`outpoint ${seconds(toMs - segment.startMs)}`);
    }
    const list = join(scratch, 'list.ffconcat');
    writeFileSync(list, `${lines.join('\n')}\n`, { mode: 0o600 });
    await runTool(tools.ffmpeg, [
      '-hide_banner',
      '-loglevel',
      'error',
      // A segment that breaks off must fail the join, not end it early with exit code 0.
      '-xerror',
      '-f',
      'concat',
      '-safe',
      '0',
      '-i',
      list,
      '-map',
      '0:v:0',
      '-c',
      'copy',
      '-movflags',
      '+faststart',
      '-y',
      target,
    ]);
  });
  const first = segments[0] as FootageFile;
  const last = segments[segments.length - 1] as FootageFile;
  return {
    path: target,
    bytes: statSync(target).size,
    segments,
    fromMs: Math.max(fromMs, first.startMs),
    toMs: Math.min(toMs, last.endMs),
  };
}

/** One JPEG of the frame shown at `atMs` (the only decoding the recorder ever does). */
export async function exportSnapshot(
  tools: ExportTools,
  camera: string,
  atMs: number,
  target: string,
): Promise<FootageFile> {
  const segment =
    tools.index.segmentsBetween(camera, atMs, atMs + 1)[0] ??
    tools.index.segmentsBetween(camera, atMs - 5_000, atMs + 5_000)[0];
  if (!segment) throw recorderError(RecorderErrorCode.noFootage, `no footage of ${camera} at ${iso(atMs)}`);
  const offset = Math.min(
    Math.max(0, atMs - segment.startMs),
    Math.max(0, segment.endMs - segment.startMs - 100),
  );
  await withScratch(tools.workDir, async (scratch) => {
    const plain = join(scratch, 'segment.mp4');
    await tools.integrity.decrypt(segment, plain);
    await runTool(tools.ffmpeg, [
      '-hide_banner',
      '-loglevel',
      'error',
      '-ss',
      seconds(offset),
      '-i',
      plain,
      '-frames:v',
      '1',
      '-c:v',
      'mjpeg',
      '-q:v',
      '3',
      '-f',
      'image2',
      '-y',
      target,
    ]);
  });
  return segment;
}

export async function withScratch<T>(workDir: string, use: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(workDir, 'scratch-'));
  try {
    return await use(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(3);
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
