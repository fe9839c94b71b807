import { join, resolve } from 'node:path';
import { resolveSecret } from '../../config/load-config.js';
import type { VideoConfig } from '../../config/video-config.js';
import type { ClockSyncStatus } from '../../controllers/door-ports.js';
import type { Clock } from '../../lib/clock.js';
import { KeyRing } from '../../lib/key-ring.js';
import type { Logger } from '../../lib/logger.js';
import type { VideoEmit } from '../../protocol/video-event-kinds.js';
import type { FfmpegBinaries } from './ffmpeg-binary.js';
import { FootageHousekeeping, holdsFootage } from './footage-housekeeping.js';
import { type CameraSpec, Recorder } from './recorder.js';
import { videoSiteKeys } from './site-keys.js';
import { VideoKeyStore } from './video-keys.js';

export interface RecorderFromConfigOptions {
  video: VideoConfig;
  /** The gateway's state directory: default home of footage, keys and the site key. */
  stateDir: string;
  clock: Clock;
  /** The gateway's clock check, which video retention waits for (the doors' ClockSyncMonitor). */
  clockSync?: ClockSyncStatus;
  log: Logger;
  emit: VideoEmit;
  env?: Record<string, string | undefined>;
  binaries?: FfmpegBinaries;
}

/**
 * Builds the recorder from the `video` section of the gateway configuration: resolves the
 * directories, the site key (a secret, or a key file created in the state directory) and the
 * camera passwords, which from here on live only in memory.
 */
export function createRecorder(options: RecorderFromConfigOptions): Recorder {
  const { video, env = process.env } = options;
  const { videoDir, keysDir } = videoDirs(options);
  const cameras: CameraSpec[] = video.cameras.map((camera, at) => ({
    ...camera,
    password: camera.password
      ? resolveSecret(camera.password, `video.cameras[${at}].password`, env)
      : undefined,
  }));
  const { cameras: _configured, ...settings } = video;
  return new Recorder({
    cameras,
    settings,
    videoDir,
    spoolDir: video.spoolDir ? resolve(video.spoolDir) : undefined,
    keyStore: keyStoreOf(options, keysDir),
    clock: options.clock,
    clockSync: options.clockSync,
    log: options.log.child({ component: 'recorder' }),
    emit: options.emit,
    binaries: options.binaries,
  });
}

/**
 * For a gateway with no camera configured: the housekeeping of the footage and day keys cameras
 * left behind (retention, disk pressure, reconcile), or nothing when the folders hold none.
 */
export function createFootageHousekeeping(
  options: Omit<RecorderFromConfigOptions, 'binaries'>,
): FootageHousekeeping | undefined {
  const { videoDir, keysDir } = videoDirs(options);
  if (!holdsFootage(videoDir, keysDir)) return undefined;
  const { cameras: _configured, ...settings } = options.video;
  return new FootageHousekeeping({
    cameras: [],
    settings,
    videoDir,
    keyStore: keyStoreOf(options, keysDir),
    clock: options.clock,
    clockSync: options.clockSync,
    log: options.log.child({ component: 'recorder' }),
    emit: options.emit,
  });
}

function videoDirs({ video, stateDir }: Pick<RecorderFromConfigOptions, 'video' | 'stateDir'>) {
  return {
    videoDir: resolve(video.dir ?? join(stateDir, 'video')),
    keysDir: resolve(video.keysDir ?? join(stateDir, 'video-keys')),
  };
}

function keyStoreOf(options: Omit<RecorderFromConfigOptions, 'binaries'>, keysDir: string): VideoKeyStore {
  const siteKeys = videoSiteKeys(options.video, options.stateDir, options.env ?? process.env);
  return new VideoKeyStore(keysDir, new KeyRing(siteKeys.current, siteKeys.decryptOnly));
}
