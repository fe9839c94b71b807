import type { Logger } from '../../lib/logger.js';
import type { VideoEmit } from '../../protocol/video-event-kinds.js';

/** A step of a retention run that did not happen; the next run tries it again. */
export interface RetentionFailure {
  camera?: string;
  day?: string;
  step: 'file' | 'folder' | 'key' | 'date' | 'plan';
  detail: string;
}

const REPORTED_FAILURES = 10;

/**
 * Tells the central side when retention stops doing its job, and when it does it again — not at
 * every run: `video.retention-paused` when runs start or stop being skipped for an unsynchronised
 * clock, `video.retention-failed` when the set of failing steps changes, and once with
 * `resolved` when a run after failing ones did everything due. The gateway makes alarms of them.
 */
export class RetentionReport {
  private isPaused = false;
  /** The failing steps of the last run that had any, while no clean run followed. */
  private failing: string | undefined;

  constructor(
    private readonly emit: VideoEmit,
    private readonly log: Logger,
  ) {}

  paused(paused: boolean): void {
    if (paused === this.isPaused) return;
    this.isPaused = paused;
    if (paused)
      this.log.warn('video: retention paused, the clock is not synchronised: nothing is deleted by age');
    else this.log.info('video: retention resumed, the clock is synchronised');
    this.emit('video.retention-paused', { reason: 'clock-unsynchronised', resolved: !paused });
  }

  ran(failures: readonly RetentionFailure[]): void {
    if (failures.length === 0) {
      if (this.failing === undefined) return;
      this.failing = undefined;
      this.log.info('video: retention did everything due again');
      this.emit('video.retention-failed', { failed: 0, failures: [], resolved: true });
      return;
    }
    const signature = failures
      .map((f) => `${f.camera ?? ''}/${f.day ?? ''}/${f.step}`)
      .sort()
      .join(' ');
    if (signature === this.failing) return;
    this.failing = signature;
    const reported = failures.slice(0, REPORTED_FAILURES).map((f) => ({
      ...(f.camera ? { camera: f.camera } : {}),
      ...(f.day ? { day: f.day } : {}),
      step: f.step,
      detail: f.detail.slice(0, 500),
    }));
    this.log.error({ failed: failures.length, failures: reported }, 'video: retention left deletions undone');
    this.emit('video.retention-failed', { failed: failures.length, failures: reported, resolved: false });
  }
}
