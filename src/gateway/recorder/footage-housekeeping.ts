import { readdirSync } from 'node:fs';
import type { VideoConfig } from '../../config/video-config.js';
import type { ClockSyncStatus } from '../../controllers/door-ports.js';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import type { VideoEmit } from '../../protocol/video-event-kinds.js';
import { type DiskSpaceProbe, statfsProbe } from './disk-pressure.js';
import { holdsFromConfig } from './footage-holds.js';
import { FootageMaintenance } from './footage-maintenance.js';
import { FootageRemover } from './footage-remover.js';
import { SegmentIndex } from './segment-index.js';
import { systemUptime, type UptimeSource } from './uptime.js';
import type { VideoKeyStore } from './video-keys.js';

export interface HousekeepingOptions {
  /** The configured cameras (none when the last was removed): their retention and segment length. */
  cameras: ReadonlyArray<{ id: string; retentionDays?: number; segmentSeconds: number }>;
  settings: Omit<VideoConfig, 'cameras'>;
  videoDir: string;
  keyStore: VideoKeyStore;
  clock: Clock;
  log: Logger;
  emit: VideoEmit;
  clockSync?: ClockSyncStatus;
  uptime?: UptimeSource;
  diskSpace?: DiskSpaceProbe;
}

/**
 * The footage index and what looks after the footage on disk: retention, disk pressure and
 * reconcile. The recorder runs it beside its cameras; a gateway whose last camera was taken out of
 * the configuration runs it alone, so that footage still expires with the retention its camera
 * last had (retention-memory.ts) instead of staying, with its keys, for ever.
 */
export class FootageHousekeeping {
  readonly index: SegmentIndex;
  readonly maintenance: FootageMaintenance;

  constructor(readonly options: HousekeepingOptions) {
    const { settings, clock, log, emit, keyStore, videoDir, cameras } = options;
    const uptime = options.uptime ?? systemUptime;
    this.index = new SegmentIndex(videoDir, log, {
      synchronised: () => options.clockSync?.synchronised() ?? true,
      uptime,
      dayKey: (keyId) => keyStore.lookup(keyId),
    });
    const remover = new FootageRemover(this.index, keyStore, emit, log, () => clock.now());
    const longestSegmentMs = Math.max(60, ...cameras.map((c) => c.segmentSeconds)) * 1000;
    this.maintenance = new FootageMaintenance({
      index: this.index,
      keys: keyStore,
      remover,
      clock,
      clockSync: options.clockSync,
      uptime,
      log,
      emit,
      cameras,
      policy: {
        defaultDays: settings.retentionDays,
        cameraDays: Object.fromEntries(
          cameras.flatMap((c) => (c.retentionDays ? [[c.id, c.retentionDays]] : [])),
        ),
        holds: holdsFromConfig(settings.legalHolds),
      },
      limits: { minFreeBytes: settings.minFreeBytes, minFreePercent: settings.minFreePercent },
      diskSpace: options.diskSpace ?? statfsProbe,
      reconcileMaxFraction: settings.reconcileMaxFraction,
      reconcileGraceMs: Math.max(5 * 60_000, 3 * longestSegmentMs),
      intervals: {
        retentionMs: settings.retentionCheckSeconds * 1000,
        diskMs: settings.diskCheckSeconds * 1000,
        reconcileMs: settings.reconcileSeconds * 1000,
      },
    });
  }

  /** The day keys, wrapped under the site key (for a site key rotation). */
  get keyStore(): VideoKeyStore {
    return this.options.keyStore;
  }

  /** Resolves once the first run of each job is done. */
  start(): Promise<void> {
    return this.maintenance.start();
  }

  stop(): Promise<void> {
    return this.maintenance.stop();
  }
}

/** Whether a footage or key folder holds anything: footage, or day keys, a camera left behind. */
export function holdsFootage(videoDir: string, keysDir: string): boolean {
  return [videoDir, keysDir].some((dir) => entries(dir).some((name) => !name.startsWith('.')));
}

function entries(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    // A folder that is not there holds nothing.
    return [];
  }
}
