import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { CameraConfig, LegalHold, VideoConfig } from '../../config/video-config.js';
import type { ClockSyncStatus } from '../../controllers/door-ports.js';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import type { VideoEmit } from '../../protocol/video-event-kinds.js';
import { type CameraState, CameraSupervisor } from './camera-supervisor.js';
import { type DiskSpaceProbe, statfsProbe } from './disk-pressure.js';
import { type FfmpegBinaries, resolveFfmpegBinaries } from './ffmpeg-binary.js';
import { FfmpegSession } from './ffmpeg-session.js';
import { type ExportedRange, exportRange } from './footage-export.js';
import { holdsFromConfig } from './footage-holds.js';
import { FootageHousekeeping } from './footage-housekeeping.js';
import { FootageIntegrity } from './footage-integrity.js';
import { FootageLinker, type LinkResult } from './footage-linker.js';
import type { FootageMaintenance } from './footage-maintenance.js';
import {
  checkScratchRoom,
  choosePlaintextScratch,
  openScratch,
  type PlaintextScratch,
  tidyScratch,
} from './plaintext-scratch.js';
import { RecorderErrorCode, recorderError } from './recorder-errors.js';
import { recordingArgs } from './recording-args.js';
import { redact, urlWithCredentials } from './redact.js';
import type { DecryptRange } from './segment-crypto.js';
import type { FootageFile, SegmentIndex } from './segment-index.js';
import { SegmentIngest } from './segment-ingest.js';
import type { UptimeSource } from './uptime.js';
import type { VideoKeyStore } from './video-keys.js';

/** A camera as the recorder runs it: its config with the password resolved from its secret. */
export type CameraSpec = Omit<CameraConfig, 'password'> & { password?: string };

export interface RecorderOptions {
  cameras: readonly CameraSpec[];
  settings: Omit<VideoConfig, 'cameras'>;
  videoDir: string;
  /**
   * Plaintext segments while ffmpeg writes them, and `.work` in it for clips and playback;
   * default a folder on a memory file system, else `<videoDir>/.spool` (see plaintext-scratch).
   */
  spoolDir?: string;
  keyStore: VideoKeyStore;
  clock: Clock;
  log: Logger;
  emit: VideoEmit;
  binaries?: FfmpegBinaries;
  diskSpace?: DiskSpaceProbe;
  /** The gateway's clock check: retention deletes nothing by age while it fails. None: trusted. */
  clockSync?: ClockSyncStatus;
  /** Boot and uptime, which no clock setting moves (tests replace it). */
  uptime?: UptimeSource;
}

export interface CameraStatus {
  id: string;
  state: CameraState;
  pid: number | undefined;
  restarts: number;
  lastSegmentEnd: string | undefined;
}

export interface PlaybackFile extends ExportedRange {
  contentType: 'video/mp4';
  /** Deletes the plain file; call it when the response is done. */
  release(): void;
}

/**
 * The gateway's CCTV recorder: one supervised ffmpeg per camera, every finished segment
 * encrypted and indexed, retention and disk housekeeping, event footage and playback.
 */
export class Recorder {
  readonly index: SegmentIndex;
  readonly ingest: SegmentIngest;
  readonly maintenance: FootageMaintenance;
  private readonly integrity: FootageIntegrity;
  private readonly supervisors = new Map<string, CameraSupervisor>();
  private readonly lastEnd = new Map<string, number>();
  /** The plain size of each camera's last segment: what its spool needs, twice, to go on. */
  private readonly lastBytes = new Map<string, number>();
  private readonly binaries: FfmpegBinaries;
  private readonly scratch: PlaintextScratch;
  private readonly links: FootageLinker;
  private started = false;

  constructor(private readonly options: RecorderOptions) {
    const { settings, clock, log, emit, keyStore, videoDir } = options;
    this.binaries = options.binaries ?? resolveFfmpegBinaries();
    this.scratch = choosePlaintextScratch(videoDir, options.spoolDir);
    const housekeeping = new FootageHousekeeping(options);
    this.index = housekeeping.index;
    this.maintenance = housekeeping.maintenance;
    this.integrity = new FootageIntegrity(keyStore, (tampered) => {
      log.error(tampered, 'video: footage is not what was recorded');
      emit('video.tampered', tampered);
    });
    this.ingest = new SegmentIngest({
      index: this.index,
      keys: keyStore,
      ffprobe: this.binaries.ffprobe,
      clock,
      log,
      spoolSpace: () => statfsProbe(this.spoolDir),
    });
    this.ingest.indexed.on((file) => {
      this.lastEnd.set(file.camera, Math.max(this.lastEnd.get(file.camera) ?? 0, file.endMs));
      this.lastBytes.set(file.camera, file.plainBytes);
      emit('video.segment', {
        id: `${file.camera}/${file.day}/${file.file}`,
        camera: file.camera,
        start: new Date(file.startMs).toISOString(),
        end: new Date(file.endMs).toISOString(),
        bytes: file.bytes,
        keyId: file.keyId,
      });
    });
    this.ingest.rejected.on((rejected) => emit('video.segment-rejected', rejected));
    this.links = new FootageLinker({
      cameras: options.cameras,
      settings,
      keyStore,
      ingest: this.ingest,
      lastEnd: this.lastEnd,
      exportTools: () => this.exportTools(),
      clock,
      log,
      emit,
    });
    for (const camera of options.cameras.filter((c) => c.enabled))
      this.supervisors.set(camera.id, this.supervise(camera));
  }

  /** The day keys, wrapped under the site key (for a site key rotation). */
  get keyStore(): VideoKeyStore {
    return this.options.keyStore;
  }

  /** Where ffmpeg writes plaintext segments, one folder per camera. */
  get spoolDir(): string {
    return this.scratch.spoolDir;
  }

  /** Where clips and playback are joined, in plaintext, for as long as that takes. */
  get workDir(): string {
    return this.scratch.workDir;
  }

  /**
   * The work folder, made again if it is gone: a stop removes it from a memory file system, and
   * stored footage can still be played back or cut afterwards.
   */
  private readyWorkDir(): string {
    mkdirSync(this.scratch.workDir, { recursive: true, mode: 0o700 });
    return this.scratch.workDir;
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    // Scratch plaintext from a crash goes; segments left in the spool are stored now.
    const leftovers = openScratch(this.scratch, this.options.videoDir, this.options.log);
    for (const { camera, path } of leftovers)
      void this.ingest.add({ camera, path, startMs: undefined, endMs: undefined, salvaged: true });
    for (const supervisor of this.supervisors.values()) supervisor.start();
    // The cameras record meanwhile; the housekeeping yields to the doors between camera-days.
    await this.maintenance.start();
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    await this.maintenance.stop();
    await Promise.all([...this.supervisors.values()].map((s) => s.stop()));
    await this.ingest.stop();
    await this.links.settled();
    tidyScratch(this.scratch, this.options.videoDir);
  }

  status(): CameraStatus[] {
    return [...this.supervisors.entries()].map(([id, supervisor]) => {
      const end = this.lastEnd.get(id);
      return { id, ...supervisor.status, lastSegmentEnd: end ? new Date(end).toISOString() : undefined };
    });
  }

  /** Replaces the legal holds; footage they cover is neither expired nor pruned. */
  setLegalHolds(holds: readonly LegalHold[]): void {
    this.maintenance.setHolds(holdsFromConfig(holds));
  }

  /** Indexed segments of a camera overlapping a time range (for a timeline). */
  segments(camera: string, fromMs: number, toMs: number): FootageFile[] {
    return this.index.segmentsBetween(this.cameraSpec(camera).id, fromMs, toMs);
  }

  /** Links footage to a door event, per camera of `room` (or all); never rejects (see FootageLinker.link). */
  linkFootage(
    eventTime: number,
    eventId: string,
    options: { room?: string; cameras?: string[] } = {},
  ): Promise<LinkResult[]> {
    return this.links.link(eventTime, eventId, options);
  }

  /**
   * A decrypted MP4 of one camera's footage between two times (stream copy, cut at key frames,
   * `+faststart`), written to a private scratch file: serve it with range requests, then release().
   */
  async playback(camera: string, fromMs: number, toMs: number): Promise<PlaybackFile> {
    const id = this.cameraSpec(camera).id;
    // The decrypted segments and the joined file lie in the work folder together.
    const plain = this.index.segmentsBetween(id, fromMs, toMs).reduce((n, s) => n + s.plainBytes, 0);
    const workDir = this.readyWorkDir();
    if (plain > 0) checkScratchRoom(workDir, 2 * plain, this.recordingReserve(), statfsProbe);
    const target = join(
      workDir,
      `playback-${id}-${this.options.clock.now()}-${Math.random().toString(36).slice(2)}.mp4`,
    );
    try {
      const range = await exportRange(this.exportTools(), id, fromMs, toMs, target);
      return { ...range, contentType: 'video/mp4', release: () => rmSync(target, { force: true }) };
    } catch (error) {
      rmSync(target, { force: true });
      throw error;
    }
  }

  /** One stored file (segment, clip or snapshot) by its id `<camera>/<day>/<file>`, if it is there. */
  footageFile(id: string): FootageFile | undefined {
    const [camera, day, file] = id.split('/');
    if (!camera || !day || !this.options.cameras.some((c) => c.id === camera)) return undefined;
    if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) return undefined;
    return this.index.read(camera, day).find((f) => f.file === file);
  }

  /** Decrypts one stored file (segment, clip or snapshot) by id, optionally a byte range of it. */
  async openFootage(id: string, range: DecryptRange = {}) {
    const found = this.footageFile(id);
    if (!found) throw recorderError(RecorderErrorCode.noFootage, `no footage ${id}`);
    return this.integrity.open(found, range);
  }

  private supervise(camera: CameraSpec): CameraSupervisor {
    const { clock, log, settings, emit } = this.options;
    const cameraLog = log.child({ component: 'recorder', camera: camera.id });
    const spool = join(this.spoolDir, camera.id);
    const secrets = [
      camera.password,
      camera.username ? `${camera.username}:${camera.password ?? ''}` : undefined,
    ].filter((s): s is string => Boolean(s));
    const supervisor = new CameraSupervisor({
      camera: camera.id,
      spoolDir: spool,
      clock,
      log: cameraLog,
      backoff: {
        initialMs: settings.backoff.initialSeconds * 1000,
        maxMs: settings.backoff.maxSeconds * 1000,
      },
      createSession: (filePrefix) => {
        mkdirSync(spool, { recursive: true, mode: 0o700 });
        const session = new FfmpegSession({
          name: `camera:${camera.id}`,
          binary: this.binaries.ffmpeg,
          args: recordingArgs({
            inputUrl: urlWithCredentials(camera.url, camera.username, camera.password),
            transport: camera.transport,
            segmentSeconds: camera.segmentSeconds,
            timeoutSeconds: settings.stallSeconds,
            spoolDir: spool,
            filePrefix,
          }),
          secrets,
          clock,
          log: cameraLog,
          inactivityMs: settings.stallSeconds * 1000,
          progressOnFd3: true,
        });
        cameraLog.info({ url: redact(camera.url), command: session.commandLine }, 'camera: recording');
        return session;
      },
    });
    supervisor.segments.on((segment) => void this.ingest.add(segment));
    supervisor.up.on((up) => emit('camera.up', up));
    supervisor.down.on((down) => emit('camera.down', down));
    return supervisor;
  }

  /** What the spool keeps free for recording: two segments per camera (32 MiB each until seen). */
  private recordingReserve(): number {
    return [...this.supervisors.keys()].reduce(
      (n, id) => n + 2 * (this.lastBytes.get(id) ?? 32 * 1_048_576),
      0,
    );
  }

  private exportTools() {
    return {
      index: this.index,
      integrity: this.integrity,
      ffmpeg: this.binaries.ffmpeg,
      workDir: this.readyWorkDir(),
    };
  }

  private cameraSpec(id: string): CameraSpec {
    const camera = this.options.cameras.find((c) => c.id === id);
    if (!camera)
      throw recorderError(RecorderErrorCode.unknownCamera, `no camera ${JSON.stringify(id)} is configured`);
    return camera;
  }
}
