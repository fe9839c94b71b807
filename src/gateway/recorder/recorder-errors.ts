import { CodedError } from '../../lib/coded-error.js';

/** Every error the recorder raises on purpose, in one place. */
export const RecorderErrorCode = {
  /** No ffmpeg or ffprobe binary was found in any of the places looked at. */
  binaryNotFound: 'IDG_VIDEO_BINARY_NOT_FOUND',
  /** An encrypted footage file has an unknown header or version. */
  format: 'IDG_VIDEO_FORMAT',
  /** A chunk failed authentication: wrong key, tampered or reordered data. */
  auth: 'IDG_VIDEO_AUTH',
  /** The file ends before its final chunk: cut off or partly written. */
  truncated: 'IDG_VIDEO_TRUNCATED',
  /** The data key of a day is gone (deleted by retention) or could not be unwrapped. */
  keyMissing: 'IDG_VIDEO_KEY_MISSING',
  /** ffprobe did not accept a recorded segment. */
  invalidSegment: 'IDG_VIDEO_INVALID_SEGMENT',
  /** An ffmpeg run for a clip, snapshot or playback failed. */
  ffmpegFailed: 'IDG_VIDEO_FFMPEG_FAILED',
  /** No footage covers the requested time range. */
  noFootage: 'IDG_VIDEO_NO_FOOTAGE',
  /** The camera id is not configured. */
  unknownCamera: 'IDG_VIDEO_UNKNOWN_CAMERA',
  /** The recorder is not running. */
  notRunning: 'IDG_VIDEO_NOT_RUNNING',
  /** A legal hold that would hold nothing (it ends before it starts). */
  badHold: 'IDG_VIDEO_BAD_HOLD',
  /**
   * A footage file or its index row is not what was recorded: another file under its name, a
   * header naming another key, an index row whose MAC fails, or plaintext whose SHA-256 differs.
   */
  tampered: 'IDG_VIDEO_TAMPERED',
  /** Joining the footage asked for would leave the spool too little room to go on recording. */
  scratchFull: 'IDG_VIDEO_SCRATCH_FULL',
  /** A row could not be appended to the footage index whole (a full or failing disk). */
  indexWrite: 'IDG_VIDEO_INDEX_WRITE',
} as const;

export type RecorderErrorCode = (typeof RecorderErrorCode)[keyof typeof RecorderErrorCode];

export function recorderError(code: RecorderErrorCode, message: string, cause?: unknown): CodedError {
  return new CodedError(code, message, cause === undefined ? undefined : { cause });
}
