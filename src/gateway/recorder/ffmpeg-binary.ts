import { accessSync, constants } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, dirname, join } from 'node:path';
import { RecorderErrorCode, recorderError } from './recorder-errors.js';

/**
 * Where ffmpeg and ffprobe come from, in this order: IDENTGATE_FFMPEG / IDENTGATE_FFPROBE,
 * FFMPEG_PATH / FFPROBE_PATH, ffmpeg-static's binary when its download succeeded (an optional
 * dependency; ffprobe is looked for beside it), then the PATH.
 */
export interface FfmpegBinaries {
  ffmpeg: string;
  ffprobe: string;
  /** Where each was found, for the start-up log. */
  source: { ffmpeg: string; ffprobe: string };
}

type Env = Record<string, string | undefined>;

export interface ResolveOptions {
  env?: Env;
  /** ffmpeg-static's binary path, or undefined when the package or its binary is absent. */
  staticPath?: string | undefined;
}

export function resolveFfmpegBinaries(options: ResolveOptions = {}): FfmpegBinaries {
  const env = options.env ?? process.env;
  const staticPath = 'staticPath' in options ? options.staticPath : ffmpegStaticPath();
  const ffmpeg = firstFound('ffmpeg', [
    ['IDENTGATE_FFMPEG', env.IDENTGATE_FFMPEG],
    ['FFMPEG_PATH', env.FFMPEG_PATH],
    ['ffmpeg-static', staticPath],
    ['PATH', onPath('ffmpeg', env)],
  ]);
  const ffprobe = firstFound('ffprobe', [
    ['IDENTGATE_FFPROBE', env.IDENTGATE_FFPROBE],
    ['FFPROBE_PATH', env.FFPROBE_PATH],
    ['beside ffmpeg', join(dirname(ffmpeg.path), 'ffprobe')],
    ['PATH', onPath('ffprobe', env)],
  ]);
  return {
    ffmpeg: ffmpeg.path,
    ffprobe: ffprobe.path,
    source: { ffmpeg: ffmpeg.source, ffprobe: ffprobe.source },
  };
}

function firstFound(name: string, candidates: Array<[string, string | undefined]>) {
  for (const [source, path] of candidates) {
    if (path && isExecutable(path)) return { source, path };
  }
  const looked = candidates.map(([source, path]) => `${source}${path ? ` (${path})` : ''}`).join(', ');
  throw recorderError(
    RecorderErrorCode.binaryNotFound,
    `no ${name} found; looked at ${looked}. Install ffmpeg (apt-get install ffmpeg) or set IDENTGATE_${name.toUpperCase()}`,
  );
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    // Not there or not executable: the next candidate is tried; the caller reports all of them.
    return false;
  }
}

function onPath(name: string, env: Env): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir && isExecutable(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

/** ffmpeg-static exports the path of the binary it downloaded at install time, or null. */
function ffmpegStaticPath(): string | undefined {
  try {
    const exported: unknown = createRequire(import.meta.url)('ffmpeg-static');
    return typeof exported === 'string' ? exported : undefined;
  } catch {
    // An optional dependency: where its install failed it is simply not there.
    return undefined;
  }
}
