import { join } from 'node:path';

/**
 * ffmpeg's argv for recording one camera: stream copy of the first video stream, RTSP over the
 * configured transport, fragmented-MP4 segments (readable up to the last fragment if ffmpeg dies),
 * the CSV segment list on stdout and progress on fd 3.
 */
export interface RecordingArgsInput {
  /** The camera URL with credentials: lives only in memory and in ffmpeg's argv. */
  inputUrl: string;
  transport: 'tcp' | 'udp';
  segmentSeconds: number;
  /** Socket timeout; ffmpeg gives up by itself when the camera sends nothing this long. */
  timeoutSeconds: number;
  spoolDir: string;
  /** Prefix of this session's files in the spool directory. */
  filePrefix: string;
}

export const SEGMENT_PATTERN_SUFFIX = '-%06d.mp4';

export function recordingArgs(input: RecordingArgsInput): string[] {
  return [
    '-hide_banner',
    '-nostats',
    '-loglevel',
    'warning',
    '-rtsp_transport',
    input.transport,
    '-timeout',
    String(Math.round(input.timeoutSeconds * 1_000_000)),
    '-i',
    input.inputUrl,
    '-map',
    '0:v:0',
    '-c',
    'copy',
    '-f',
    'segment',
    '-segment_time',
    String(input.segmentSeconds),
    '-reset_timestamps',
    '1',
    '-segment_format',
    'mp4',
    '-segment_format_options',
    'movflags=+frag_keyframe+empty_moov+default_base_moof',
    '-segment_list',
    'pipe:1',
    '-segment_list_type',
    'csv',
    '-progress',
    'pipe:3',
    '-stats_period',
    '1',
    join(input.spoolDir, `${input.filePrefix}${SEGMENT_PATTERN_SUFFIX}`),
  ];
}
