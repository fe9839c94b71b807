import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../../lib/logger.js';
import { writeFileAtomic } from '../../lib/state-files.js';

/**
 * Taking a camera out of the configuration is not a decision about the footage it recorded. That
 * footage keeps the retention its camera last had: kept no longer than the operator set (a
 * shorter per-camera retention is a promise to the people filmed) and deleted no sooner (a longer
 * one may be an obligation). The default would break one of the two whenever the camera had its
 * own. So each start writes every configured camera's retention beside the footage, and footage
 * of a camera no longer configured is kept for the days remembered for it — or the default, with
 * a warning, when it was removed before this was remembered. Listing the camera again (with
 * `enabled: false`) sets its retention explicitly.
 */
export const RETENTION_MEMORY_FILE = '.camera-retention.json';

export interface ConfiguredCamera {
  id: string;
  retentionDays?: number;
}

/** Per-camera retention days: the configured overrides, and the remembered days of cameras no longer configured. */
export function rememberRetention(options: {
  videoDir: string;
  cameras: readonly ConfiguredCamera[];
  defaultDays: number;
  /** Cameras that have footage folders. */
  onDisk: readonly string[];
  log: Logger;
}): Record<string, number> {
  const { videoDir, cameras, defaultDays, onDisk, log } = options;
  const path = join(videoDir, RETENTION_MEMORY_FILE);
  const remembered = readMemory(path, log);
  const current = Object.fromEntries(cameras.map((c) => [c.id, c.retentionDays ?? defaultDays]));
  const merged = { ...remembered, ...current };
  if (JSON.stringify(merged) !== JSON.stringify(remembered)) {
    try {
      writeFileAtomic(path, `${JSON.stringify({ cameras: merged }, null, 2)}\n`);
    } catch (error) {
      log.error({ err: error, path }, 'video: cannot remember the cameras’ retention beside the footage');
    }
  }
  const days: Record<string, number> = Object.fromEntries(
    cameras.flatMap((c) => (c.retentionDays ? [[c.id, c.retentionDays]] : [])),
  );
  for (const camera of onDisk.filter((id) => !(id in current))) {
    const known = remembered[camera];
    days[camera] = known ?? defaultDays;
    log.warn(
      { camera, retentionDays: days[camera], remembered: known !== undefined },
      known !== undefined
        ? 'video: a camera no longer configured has footage; it is kept for the retention the camera last had'
        : 'video: a camera no longer configured has footage, and its retention is not known; it is kept for the default retention (list the camera with enabled: false to set one)',
    );
  }
  return days;
}

function readMemory(path: string, log: Logger): Record<string, number> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    // First start with this file: nothing remembered yet.
    return {};
  }
  try {
    const cameras = (JSON.parse(text) as { cameras?: unknown }).cameras;
    if (cameras === null || typeof cameras !== 'object') throw new Error('no "cameras" object');
    return Object.fromEntries(
      Object.entries(cameras).filter(
        (entry): entry is [string, number] => Number.isInteger(entry[1]) && (entry[1] as number) > 0,
      ),
    );
  } catch (error) {
    log.error(
      { err: error, path },
      'video: remembered camera retention unreadable; starting from the configuration',
    );
    return {};
  }
}
