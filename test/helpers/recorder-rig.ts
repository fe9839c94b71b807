import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Value from 'typebox/value';
import { VideoConfig } from '../../src/config/video-config.js';
import type { ClockSyncStatus } from '../../src/controllers/door-ports.js';
import type { DiskSpaceProbe } from '../../src/gateway/recorder/disk-pressure.js';
import { resolveFfmpegBinaries } from '../../src/gateway/recorder/ffmpeg-binary.js';
import { type CameraSpec, Recorder } from '../../src/gateway/recorder/recorder.js';
import { SyntheticCamera } from '../../src/gateway/recorder/synthetic-camera.js';
import type { UptimeSource } from '../../src/gateway/recorder/uptime.js';
import { VideoKeyStore } from '../../src/gateway/recorder/video-keys.js';
import { type Clock, systemClock } from '../../src/lib/clock.js';
import { type Logger, silentLogger } from '../../src/lib/logger.js';
import type { VideoEventData, VideoEventKind } from '../../src/protocol/video-event-kinds.js';

export interface EmittedEvent {
  kind: VideoEventKind;
  data: Record<string, unknown>;
}

/** Everything the recorder emitted, and a way to await the next matching event. */
export class EventLog {
  readonly events: EmittedEvent[] = [];
  private waiters: Array<{ match: (e: EmittedEvent) => boolean; resolve: (e: EmittedEvent) => void }> = [];

  readonly emit = <K extends VideoEventKind>(kind: K, data: VideoEventData<K>) => {
    const event = { kind, data: data as Record<string, unknown> };
    this.events.push(event);
    for (const waiter of [...this.waiters]) {
      if (!waiter.match(event)) continue;
      this.waiters = this.waiters.filter((w) => w !== waiter);
      waiter.resolve(event);
    }
  };

  of<K extends VideoEventKind>(kind: K): Array<VideoEventData<K>> {
    return this.events.filter((e) => e.kind === kind).map((e) => e.data as VideoEventData<K>);
  }

  /** The next event of `kind` (after those already seen, unless `includePast`) matching `match`. */
  next<K extends VideoEventKind>(
    kind: K,
    match: (data: VideoEventData<K>) => boolean = () => true,
    timeoutMs = 30_000,
  ): Promise<VideoEventData<K>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${kind}`));
      }, timeoutMs);
      const done = (event: EmittedEvent) => {
        clearTimeout(timer);
        resolve(event.data as VideoEventData<K>);
      };
      this.waiters.push({
        match: (e) => e.kind === kind && match(e.data as VideoEventData<K>),
        resolve: done,
      });
    });
  }

  /** Waits until `count` events of `kind` were emitted in total. */
  async count(kind: VideoEventKind, count: number, timeoutMs = 30_000): Promise<void> {
    while (this.of(kind).length < count) await this.next(kind, () => true, timeoutMs);
  }
}

export const binaries = resolveFfmpegBinaries();

/** The files left under a folder (the spool), relative to it; none when it is gone. */
export function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name).slice(dir.length + 1));
}

export function videoSettings(overrides: Partial<VideoConfig> = {}): VideoConfig {
  const defaults = Value.Default(VideoConfig, {}) as VideoConfig;
  return {
    ...defaults,
    stallSeconds: 3,
    backoff: { initialSeconds: 0.2, maxSeconds: 2 },
    clip: { beforeSeconds: 1, afterSeconds: 1 },
    // Housekeeping is run by hand in tests.
    diskCheckSeconds: 3600,
    retentionCheckSeconds: 86_400,
    reconcileSeconds: 86_400,
    minFreeBytes: 0,
    minFreePercent: 0,
    ...overrides,
  };
}

export interface Rig {
  source: SyntheticCamera;
  recorder: Recorder;
  events: EventLog;
  keys: VideoKeyStore;
  siteKey: Buffer;
  videoDir: string;
  keysDir: string;
  camera: CameraSpec;
  stop(): Promise<void>;
}

export interface RigOptions {
  settings?: Partial<VideoConfig>;
  camera?: Partial<CameraSpec>;
  credentials?: { username: string; password: string };
  clock?: Clock;
  diskSpace?: DiskSpaceProbe;
  log?: Logger;
  /** A test that moves its clock to let footage age moves the uptime with it (see uptime.ts). */
  uptime?: UptimeSource;
  clockSync?: ClockSyncStatus;
  /** Replaces the rig's key store (one whose disk fails, say); gets the rig's keys directory. */
  keyStore?: (keysDir: string, siteKey: Buffer) => VideoKeyStore;
}

/** A synthetic RTSP camera and a recorder pulling from it, in fresh directories. */
export async function startRig(options: RigOptions = {}): Promise<Rig> {
  const root = mkdtempSync(join(tmpdir(), 'idg-video-'));
  const videoDir = join(root, 'video');
  const keysDir = join(root, 'video-keys');
  const log = options.log ?? silentLogger;
  const source = new SyntheticCamera({ ffmpeg: binaries.ffmpeg, log, credentials: options.credentials });
  await source.start();
  const siteKey = randomBytes(32);
  const keys = options.keyStore?.(keysDir, siteKey) ?? new VideoKeyStore(keysDir, siteKey);
  const events = new EventLog();
  const camera: CameraSpec = {
    id: 'cam-1',
    room: 'ident-1',
    url: source.url,
    transport: 'udp',
    segmentSeconds: 1,
    enabled: true,
    username: options.credentials?.username,
    password: options.credentials?.password,
    ...options.camera,
  };
  const { cameras: _ignored, ...settings } = videoSettings(options.settings);
  const recorder = new Recorder({
    cameras: [camera],
    settings,
    videoDir,
    keyStore: keys,
    clock: options.clock ?? systemClock,
    log,
    emit: events.emit,
    binaries,
    diskSpace: options.diskSpace,
    uptime: options.uptime,
    clockSync: options.clockSync,
  });
  await recorder.start();
  return {
    source,
    recorder,
    events,
    keys,
    siteKey,
    videoDir,
    keysDir,
    camera,
    stop: async () => {
      await recorder.stop();
      await source.stop();
      rmSync(root, { recursive: true, force: true });
      // The spool is in memory, outside the rig's folder: what a test left there goes too.
      rmSync(recorder.spoolDir, { recursive: true, force: true });
    },
  };
}
