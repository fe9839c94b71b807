import { execFile } from 'node:child_process';
import { withPrivateUmask } from './private-umask.js';
import { RecorderErrorCode, recorderError } from './recorder-errors.js';
import { redact } from './redact.js';

/**
 * Short, one-shot ffmpeg and ffprobe runs (probing a segment, cutting a clip, a snapshot). They
 * work on local files only, so no credentials are involved, but their errors are redacted anyway.
 */
export interface MediaInfo {
  durationSeconds: number;
  codec: string;
  width: number | undefined;
  height: number | undefined;
}

export function runTool(binary: string, args: readonly string[], timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    // The clips, snapshots and playback it writes are plaintext footage: 0600 from the start.
    withPrivateUmask(() =>
      execFile(
        binary,
        [...args],
        { timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024 },
        (error, stdout, stderr) => {
          if (!error) {
            resolve(stdout);
            return;
          }
          const tail = redact(stderr.toString().trim().split('\n').slice(-3).join(' | ')).slice(0, 400);
          reject(
            recorderError(
              RecorderErrorCode.ffmpegFailed,
              `${binary.split('/').pop()} failed: ${tail || error.message}`,
              error,
            ),
          );
        },
      ),
    );
  });
}

/** Checks that a file is playable video and returns its duration (ffprobe reads the fragments). */
export async function probeMedia(ffprobe: string, path: string): Promise<MediaInfo> {
  let parsed: { format?: { duration?: string }; streams?: Array<Record<string, unknown>> };
  try {
    const out = await runTool(ffprobe, [
      '-v',
      'error',
      '-show_entries',
      'format=duration:stream=codec_type,codec_name,width,height',
      '-of',
      'json',
      path,
    ]);
    parsed = JSON.parse(out) as typeof parsed;
  } catch (error) {
    throw recorderError(RecorderErrorCode.invalidSegment, `ffprobe cannot read ${path}`, error);
  }
  const video = parsed.streams?.find((s) => s.codec_type === 'video');
  const durationSeconds = Number(parsed.format?.duration);
  if (!video || !Number.isFinite(durationSeconds) || durationSeconds <= 0) {
    throw recorderError(RecorderErrorCode.invalidSegment, `${path} has no video or no duration`);
  }
  return {
    durationSeconds,
    codec: String(video.codec_name ?? 'unknown'),
    width: typeof video.width === 'number' ? video.width : undefined,
    height: typeof video.height === 'number' ? video.height : undefined,
  };
}
