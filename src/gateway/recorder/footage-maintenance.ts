import { setImmediate as nextTurn } from 'node:timers/promises';
import type { ClockSyncStatus } from '../../controllers/door-ports.js';
import type { Clock, TimerHandle } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import type { VideoEmit } from '../../protocol/video-event-kinds.js';
import {
  bytesToFree,
  type DiskSpaceProbe,
  type PressureLimits,
  planPressureRelief,
  thresholdBytes,
} from './disk-pressure.js';
import type { Hold } from './footage-holds.js';
import type { FootageRemover } from './footage-remover.js';
import { planReconcile, type ReconcilePlan, scanFootageFilesInSlices } from './reconcile.js';
import { type ConfiguredCamera, rememberRetention } from './retention-memory.js';
import { type RetentionFailure, RetentionReport } from './retention-report.js';
import type { SegmentIndex } from './segment-index.js';
import type { UptimeSource } from './uptime.js';
import type { VideoKeyStore } from './video-keys.js';
import {
  type DatedFile,
  type DayRef,
  planDay,
  planKeys,
  type RetentionPlan,
  type RetentionPolicy,
  triageDay,
} from './video-retention.js';

export interface MaintenanceOptions {
  index: SegmentIndex;
  keys: VideoKeyStore;
  remover: FootageRemover;
  clock: Clock;
  /** Retention deletes nothing by age while this says the clock is not synchronised; none: trusted. */
  clockSync?: ClockSyncStatus;
  uptime: UptimeSource;
  log: Logger;
  emit: VideoEmit;
  policy: RetentionPolicy;
  /** The configured cameras: their retention is remembered for when one is removed (retention-memory.ts). */
  cameras: readonly ConfiguredCamera[];
  limits: PressureLimits;
  diskSpace: DiskSpaceProbe;
  reconcileMaxFraction: number;
  /** Files younger than this are left to the ingest (reconcile's grace). */
  reconcileGraceMs: number;
  intervals: { retentionMs: number; diskMs: number; reconcileMs: number };
}

export interface PressureResult {
  neededBytes: number;
  freedBytes: number;
  deletedFiles: number;
  resolved: boolean;
}

/**
 * Runs the footage housekeeping on the injected clock: retention, disk-pressure pruning and
 * index/disk reconciliation, each as decide-then-execute. Each can also be run on demand.
 *
 * The gateway's one event loop also runs the doors, and 60 days of a camera's index are 86,400
 * rows: the jobs run one after another, never side by side, and read, decide and delete one
 * camera-day per turn of the loop, so that a badge read waits for one day's work at most.
 */
export class FootageMaintenance {
  private timers: TimerHandle[] = [];
  private running = false;
  /** The job running now and those waiting behind it. */
  private queue: Promise<unknown> = Promise.resolve();
  /** Counts the stops: a retention run in progress at a stop ends at its next day. */
  private stops = 0;
  /** The last run left the disk short (only held footage was left): the alarm is open. */
  private short = false;
  private readonly report: RetentionReport;

  constructor(private options: MaintenanceOptions) {
    this.report = new RetentionReport(options.emit, options.log);
  }

  /** Starts the timers; resolves once the first run of each job is done. */
  start(): Promise<void> {
    this.running = true;
    const { intervals, index, policy, cameras, log } = this.options;
    const cameraDays = rememberRetention({
      videoDir: index.videoDir,
      cameras,
      defaultDays: policy.defaultDays,
      onDisk: index.cameras(),
      log,
    });
    this.options.policy = { ...policy, cameraDays };
    return Promise.all([
      this.every(intervals.diskMs, () => this.relieveDiskPressure()),
      this.every(intervals.retentionMs, () => this.enforceRetention()),
      this.every(intervals.reconcileMs, () => this.reconcile()),
    ]).then(() => undefined);
  }

  /** Replaces the legal holds (from configuration, or placed at run time by an operator). */
  setHolds(holds: readonly Hold[]): void {
    this.options.policy = { ...this.options.policy, holds };
  }

  /** Stops the timers; resolves once the job running now is done (it stops at its next day). */
  async stop(): Promise<void> {
    this.running = false;
    this.stops += 1;
    for (const timer of this.timers) timer.cancel();
    this.timers = [];
    await this.queue;
  }

  /**
   * Deletes what is past retention and not held: files, whole days, their keys (video-retention.ts
   * decides). Nothing while the clock is not synchronised: an age computed from a wrong clock
   * would destroy footage for good (`video.retention-paused`). Each deletion is tried on its own;
   * what fails is tried again at the next run and reported (`video.retention-failed`).
   */
  enforceRetention(): Promise<RetentionPlan> {
    return this.serially(() => this.retain());
  }

  private async retain(): Promise<RetentionPlan> {
    const { index, keys, remover, clock, clockSync, uptime } = this.options;
    const plan: RetentionPlan = { files: [], days: [], keys: [], dates: [] };
    if (clockSync && !clockSync.synchronised()) {
      this.report.paused(true);
      return plan;
    }
    this.report.paused(false);
    const now = clock.now();
    const up = uptime();
    const failures: RetentionFailure[] = [];
    const stops = this.stops;
    let days: DayRef[];
    try {
      days = index.cameras().flatMap((camera) => index.days(camera).map((day) => ({ camera, day })));
      plan.keys = planKeys(now, this.options.policy, days, keys.list());
    } catch (error) {
      this.report.ran([{ step: 'plan', detail: messageOf(error) }]);
      throw error;
    }
    for (const { camera, day } of days) {
      if (this.stops !== stops) break;
      await nextTurn();
      let part: Omit<RetentionPlan, 'keys'>;
      try {
        const { policy } = this.options;
        const bytes = await index.readBytes(camera, day);
        const triage = triageDay(now, policy, camera, day, bytes, up);
        if (triage === 'keep') continue;
        part =
          triage === 'drop'
            ? { files: [], days: [{ camera, day }], dates: [] }
            : planDay(now, policy, camera, day, bytes ? index.parse(camera, day, bytes) : [], up);
      } catch (error) {
        failures.push({ camera, day, step: 'plan', detail: messageOf(error) });
        continue;
      }
      failures.push(...this.date(part.dates));
      failures.push(...remover.removeFiles(part.files, 'retention').failures);
      for (const whole of part.days)
        failures.push(...remover.removeDay(whole.camera, whole.day, 'retention').failures);
      plan.files.push(...part.files);
      plan.days.push(...part.days);
      plan.dates.push(...part.dates);
    }
    for (const keyId of plan.keys) failures.push(...remover.removeKey(keyId, 'retention').failures);
    this.report.ran(failures);
    return plan;
  }

  /** Writes the new dates of unsynced footage to the index, and reports each camera-day. */
  private date(dates: readonly DatedFile[]): RetentionFailure[] {
    const { index, clock, log, emit } = this.options;
    const failures: RetentionFailure[] = [];
    const groups = new Map<string, DatedFile[]>();
    for (const dated of dates) {
      const key = `${dated.file.camera}/${dated.file.day}/${dated.basis}`;
      const group = groups.get(key);
      if (group) group.push(dated);
      else groups.set(key, [dated]);
    }
    for (const group of groups.values()) {
      const { camera, day } = (group[0] as DatedFile).file;
      const basis = (group[0] as DatedFile).basis;
      try {
        for (const { file, endMs } of group) {
          index.append(camera, day, {
            t: 'dated',
            file: file.file,
            end: new Date(endMs).toISOString(),
            basis,
            at: new Date(clock.now()).toISOString(),
          });
        }
      } catch (error) {
        log.error(
          { err: error, camera, day },
          'video: cannot date misdated footage, tried again at the next run',
        );
        failures.push({ camera, day, step: 'date', detail: String((error as Error).message).slice(0, 300) });
        continue;
      }
      // A day of one-second segments has 86,400 rows: too many to spread into Math.min.
      const from = new Date(
        group.reduce((n, d) => Math.min(n, d.endMs), Number.POSITIVE_INFINITY),
      ).toISOString();
      const to = new Date(group.reduce((n, d) => Math.max(n, d.endMs), 0)).toISOString();
      log.warn(
        { camera, day, files: group.length, basis, from, to },
        'video: footage recorded under an unsynchronised clock is dated anew for retention',
      );
      emit('video.footage-misdated', { camera, day, files: group.length, basis, from, to });
    }
    return failures;
  }

  /** Frees space when the disk is below its threshold; raises `video.disk-pressure` either way. */
  relieveDiskPressure(): Promise<PressureResult> {
    return this.serially(() => this.relieve());
  }

  private async relieve(): Promise<PressureResult> {
    const { index, remover, limits, diskSpace, policy, log, emit } = this.options;
    const space = diskSpace(index.videoDir);
    const needed = bytesToFree(space, limits);
    if (needed === 0) {
      // Space was freed by other means (an operator, a hold released and retention run): the
      // alarm held open by the last run ends. After a restart the alarm's settle period does it.
      if (this.short) {
        this.short = false;
        log.info({ freeBytes: space.freeBytes }, 'video: enough free space again');
        emit('video.disk-pressure', {
          freeBytes: space.freeBytes,
          totalBytes: space.totalBytes,
          thresholdBytes: thresholdBytes(space, limits),
          freedBytes: 0,
          deletedFiles: 0,
          deletedLinked: 0,
          resolved: true,
        });
      }
      return { neededBytes: 0, freedBytes: 0, deletedFiles: 0, resolved: true };
    }
    const plan = planPressureRelief(await index.allInSlices(), policy.holds, needed);
    remover.removeFiles(plan.remove, 'disk-pressure');
    const resolved = plan.shortfallBytes === 0;
    this.short = !resolved;
    log[resolved ? 'warn' : 'error'](
      {
        freeBytes: space.freeBytes,
        neededBytes: needed,
        freedBytes: plan.freedBytes,
        files: plan.remove.length,
      },
      resolved
        ? 'video: disk pressure, oldest footage deleted'
        : 'video: disk full and nothing more may be deleted',
    );
    emit('video.disk-pressure', {
      freeBytes: space.freeBytes,
      totalBytes: space.totalBytes,
      thresholdBytes: thresholdBytes(space, limits),
      freedBytes: plan.freedBytes,
      deletedFiles: plan.remove.length,
      deletedLinked: plan.linkedRemoved,
      resolved,
    });
    return { neededBytes: needed, freedBytes: plan.freedBytes, deletedFiles: plan.remove.length, resolved };
  }

  /** Makes index and disk agree; refuses (and raises an alarm) past the safety fraction. */
  reconcile(options: { force?: boolean } = {}): Promise<ReconcilePlan> {
    return this.serially(() => this.reconcileNow(options));
  }

  private async reconcileNow(options: { force?: boolean }): Promise<ReconcilePlan> {
    const { index, remover, clock, log, emit, reconcileMaxFraction, reconcileGraceMs } = this.options;
    const indexed = await index.allInSlices();
    const plan = planReconcile(indexed, await scanFootageFilesInSlices(index), {
      now: clock.now(),
      graceMs: reconcileGraceMs,
      maxFraction: reconcileMaxFraction,
      force: options.force ?? false,
    });
    if (plan.refused) {
      log.error(
        { orphans: plan.orphans.length, missing: plan.missing.length, indexed: plan.indexed },
        'video: reconcile refused',
      );
      emit('video.reconcile-refused', {
        orphanFiles: plan.orphans.length,
        missingFiles: plan.missing.length,
        indexedFiles: plan.indexed,
        maxFraction: reconcileMaxFraction,
      });
      return plan;
    }
    remover.removeOrphans(plan.orphans);
    remover.removeFiles(plan.missing, 'reconcile');
    return plan;
  }

  /** Runs a job once those before it are done: two jobs never delete side by side. */
  private serially<T>(job: () => Promise<T>): Promise<T> {
    const run = this.queue.then(job);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Runs a job now and then every `ms` after it ended; resolves once the first run is done. */
  private async every(ms: number, task: () => Promise<unknown>): Promise<void> {
    const slot = this.timers.length;
    this.timers.push({ cancel: () => {} });
    const run = async () => {
      if (!this.running) return;
      try {
        await task();
      } catch (error) {
        this.options.log.error({ err: error }, 'video: maintenance task failed');
      }
      if (this.running) this.timers[slot] = this.options.clock.setTimeout(() => void run(), ms);
    };
    await run();
  }
}

const messageOf = (error: unknown) => String(error instanceof Error ? error.message : error).slice(0, 300);
