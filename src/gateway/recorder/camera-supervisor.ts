import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock, TimerHandle } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import { Signal } from '../../lib/signal.js';
import type { CameraDownReason } from '../../protocol/video-event-kinds.js';
import { type BackoffPolicy, backoffDelay } from './backoff.js';
import { type ProgressReport, parseSegmentListLine, type SegmentListEntry } from './ffmpeg-output.js';
import type { SessionEnd, SessionEndReason } from './ffmpeg-session.js';

/** What the supervisor needs of a recording process; FfmpegSession is the real one. */
export interface RecordingSession {
  readonly lines: Signal<string>;
  readonly progress: Signal<ProgressReport>;
  /** The session's watchdog found no media moving and is stopping it (the detail). */
  readonly stalled: Signal<string>;
  readonly stopped: Promise<SessionEnd>;
  readonly pid: number | undefined;
  start(): void;
  stop(reason?: SessionEndReason): Promise<SessionEnd>;
}

/** A segment ffmpeg closed (or that a dead ffmpeg left behind), with wall-clock times when known. */
export interface CompletedSegment {
  camera: string;
  path: string;
  startMs: number | undefined;
  endMs: number | undefined;
  salvaged: boolean;
}

export interface CameraDown {
  camera: string;
  reason: CameraDownReason;
  detail: string;
  retryInMs: number;
}

export interface CameraUp {
  camera: string;
  downMs: number | undefined;
  restarts: number;
}

export type CameraState = 'idle' | 'starting' | 'up' | 'down' | 'stopped';

export interface CameraSupervisorOptions {
  camera: string;
  spoolDir: string;
  clock: Clock;
  log: Logger;
  backoff: BackoffPolicy;
  /** Builds a session whose files start with `filePrefix` in the spool directory. */
  createSession: (filePrefix: string) => RecordingSession;
}

/**
 * Keeps one camera recording: starts a session, restarts it with capped exponential backoff when
 * it exits or stalls, reports camera down once per outage and up when media flows again, and turns
 * the segment list into wall-clock segments. Files a dead session left unlisted are salvaged.
 */
export class CameraSupervisor {
  readonly segments: Signal<CompletedSegment>;
  readonly down: Signal<CameraDown>;
  readonly up: Signal<CameraUp>;
  private session: RecordingSession | undefined;
  private sessionCount = 0;
  private failures = 0;
  private restarts = 0;
  private state: CameraState = 'idle';
  private downSince: number | undefined;
  private restartTimer: TimerHandle | undefined;
  private running: Promise<void> | undefined;

  constructor(private readonly options: CameraSupervisorOptions) {
    this.segments = new Signal(`${options.camera}:segments`, options.log);
    this.down = new Signal(`${options.camera}:down`, options.log);
    this.up = new Signal(`${options.camera}:up`, options.log);
  }

  get status(): { state: CameraState; pid: number | undefined; restarts: number; failures: number } {
    return { state: this.state, pid: this.session?.pid, restarts: this.restarts, failures: this.failures };
  }

  start(): void {
    if (this.state !== 'idle') return;
    this.state = 'starting';
    this.launch();
  }

  /** Stops recording for good; the running segment is closed and listed before this resolves. */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    this.restartTimer?.cancel();
    await this.session?.stop('requested');
    await this.running;
  }

  private launch(): void {
    const { clock, camera } = this.options;
    this.sessionCount += 1;
    const prefix = `${camera}-${clock.now().toString(36)}-${this.sessionCount}`;
    const session = this.options.createSession(prefix);
    this.session = session;
    // Wall clock = anchor + media time. The anchor comes from progress reports (now minus media
    // time written), the smallest seen: ffmpeg writes the seconds it buffered while probing in a
    // burst, so early reports run ahead. Segments wait for a report past their end (≤ 1 s).
    let anchor: number | undefined;
    let writtenMs = 0;
    let lastEnd: number | undefined;
    // Once the watchdog fired, the camera is down at once: the process may take seconds to end,
    // or (stuck in the kernel) never, and its last progress reports are no sign of life.
    let stalled = false;
    const pending: SegmentListEntry[] = [];
    const listed = new Set<string>();
    const release = (untilMs: number) => {
      while (pending[0] && pending[0].endSeconds * 1000 <= untilMs) {
        const entry = pending.shift() as SegmentListEntry;
        const base = anchor ?? clock.now() - entry.endSeconds * 1000;
        const startMs = Math.round(base + entry.startSeconds * 1000);
        const endMs = Math.round(base + entry.endSeconds * 1000);
        lastEnd = endMs;
        const path = entry.file.startsWith('/') ? entry.file : join(this.options.spoolDir, entry.file);
        this.segments.emit({ camera, path, startMs, endMs, salvaged: false });
      }
    };
    session.lines.on((line) => {
      const entry = parseSegmentListLine(line);
      if (!entry) return;
      listed.add(entry.file);
      pending.push(entry);
      // A session that completed a segment is healthy: the next failure starts backoff afresh.
      this.failures = 0;
      if (anchor !== undefined) release(writtenMs);
    });
    session.stalled.on((detail) => {
      stalled = true;
      this.options.log.warn({ detail }, 'camera: no media, stopping ffmpeg');
      this.markDown('stall', detail, backoffDelay(this.failures + 1, this.options.backoff));
    });
    session.progress.on((report) => {
      if (report.outTimeUs === undefined || report.outTimeUs <= 0) return;
      if (!stalled) this.markUp();
      writtenMs = report.outTimeUs / 1000;
      anchor = Math.min(anchor ?? Number.POSITIVE_INFINITY, clock.now() - writtenMs);
      release(writtenMs);
    });
    session.start();
    // Awaited only by stop(): a failure in here must be logged now, not left unhandled.
    this.running = session.stopped
      .then((end) => {
        release(Number.POSITIVE_INFINITY);
        this.salvage(prefix, listed, lastEnd);
        this.onEnded(end);
      })
      .catch((error: Error) =>
        this.options.log.error({ err: error }, 'camera: handling the end of ffmpeg failed'),
      );
  }

  private markUp(): void {
    if (this.state === 'up' || this.state === 'stopped') return;
    const downMs = this.downSince === undefined ? undefined : this.options.clock.now() - this.downSince;
    this.state = 'up';
    this.downSince = undefined;
    this.up.emit({ camera: this.options.camera, downMs, restarts: this.restarts });
  }

  /** Reports the camera down once per outage; `retryInMs` counts from the end of the process. */
  private markDown(reason: CameraDownReason, detail: string, retryInMs: number): void {
    if (this.state === 'down' || this.state === 'stopped') return;
    this.state = 'down';
    this.downSince = this.options.clock.now();
    this.down.emit({ camera: this.options.camera, reason, detail, retryInMs });
  }

  private onEnded(end: SessionEnd): void {
    if (this.state === 'stopped') return;
    this.failures += 1;
    const retryInMs = backoffDelay(this.failures, this.options.backoff);
    const reason: CameraDownReason =
      end.reason === 'stall' ? 'stall' : end.reason === 'spawn-failed' ? 'spawn-failed' : 'exit';
    const detail = lastLine(end.detail) || `ffmpeg ended (code ${end.code}, signal ${end.signal})`;
    this.options.log.warn({ reason, detail, retryInMs }, 'camera: recording ended, restarting');
    this.markDown(reason, detail, retryInMs);
    this.restartTimer = this.options.clock.setTimeout(() => {
      if (this.state === 'stopped') return;
      this.restarts += 1;
      this.launch();
    }, retryInMs);
  }

  /** Files of a session that ended without listing them: the last, partly written segment. */
  private salvage(prefix: string, listed: Set<string>, lastEnd: number | undefined): void {
    let names: string[];
    try {
      names = readdirSync(this.options.spoolDir);
    } catch (error) {
      this.options.log.error({ err: error }, 'camera: cannot read the spool directory');
      return;
    }
    for (const name of names.sort()) {
      if (!name.startsWith(`${prefix}-`) || listed.has(name)) continue;
      const path = join(this.options.spoolDir, name);
      this.segments.emit({
        camera: this.options.camera,
        path,
        startMs: lastEnd,
        endMs: undefined,
        salvaged: true,
      });
    }
  }
}

function lastLine(text: string): string {
  const lines = text.split('\n').filter(Boolean);
  return (lines[lines.length - 1] ?? '').slice(0, 500);
}
