import { type ChildProcess, spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import type { Clock, TimerHandle } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import { Signal } from '../../lib/signal.js';
import { lineSplitter, ProgressParser, type ProgressReport } from './ffmpeg-output.js';
import { withPrivateUmask } from './private-umask.js';
import { redact, redactCommand } from './redact.js';

export type SessionEndReason = 'requested' | 'stall' | 'exit' | 'spawn-failed';

export interface SessionEnd {
  reason: SessionEndReason;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The last lines ffmpeg wrote to stderr, redacted. */
  detail: string;
}

export interface FfmpegSessionOptions {
  name: string;
  binary: string;
  args: readonly string[];
  /** Strings never to be logged (camera passwords); URL user-info is always redacted. */
  secrets?: readonly string[];
  clock: Clock;
  log: Logger;
  /** No progress for this long stops the session with reason `stall`; 0 turns the watchdog off. */
  inactivityMs: number;
  /**
   * The first progress may take longer: connecting and probing the stream (ffmpeg reads a few
   * seconds of it before writing anything). Default: inactivityMs + 10 s.
   */
  startupMs?: number;
  /** Passes `-progress pipe:3` output through `progress`; the args must ask for it. */
  progressOnFd3?: boolean;
  /** How long ffmpeg gets to finish after `q` before SIGTERM, and after SIGTERM before SIGKILL. */
  graceMs?: number;
  killMs?: number;
}

const STDERR_LINES_KEPT = 12;

/**
 * One ffmpeg process as an object: start(), an idempotent stop(reason) that asks ffmpeg to
 * finish (`q` on stdin, so the last segment is closed and listed), then SIGTERM, then SIGKILL,
 * and a `stopped` promise that resolves once the process and all its pipes are closed. Media
 * progress feeds an inactivity watchdog.
 */
export class FfmpegSession {
  /** Lines ffmpeg writes to stdout (the segment list when recording). */
  readonly lines: Signal<string>;
  readonly progress: Signal<ProgressReport>;
  /**
   * The watchdog fired (its message): the session is being stopped with reason `stall`. Comes
   * before `stopped`, which waits for the process to end, however long that takes.
   */
  readonly stalled: Signal<string>;
  readonly stopped: Promise<SessionEnd>;
  readonly commandLine: string;
  private resolveStopped!: (end: SessionEnd) => void;
  private child: ChildProcess | undefined;
  private stopReason: SessionEndReason | undefined;
  private spawnFailed = false;
  private ended = false;
  private readonly timers: TimerHandle[] = [];
  private watchdog: TimerHandle | undefined;
  private lastActivity = '';
  private readonly stderrTail: string[] = [];

  constructor(private readonly options: FfmpegSessionOptions) {
    this.lines = new Signal(`${options.name}:stdout`, options.log);
    this.progress = new Signal(`${options.name}:progress`, options.log);
    this.stalled = new Signal(`${options.name}:stalled`, options.log);
    this.commandLine = redactCommand(options.binary, options.args, options.secrets);
    this.stopped = new Promise((resolve) => {
      this.resolveStopped = resolve;
    });
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && !this.ended;
  }

  start(): void {
    if (this.child) throw new Error(`${this.options.name}: session already started`);
    const { binary, args, log } = this.options;
    log.debug({ command: this.commandLine }, 'ffmpeg: starting');
    const stdio: Array<'pipe' | 'ignore'> = ['pipe', 'pipe', 'pipe'];
    if (this.options.progressOnFd3) stdio.push('pipe');
    const child = withPrivateUmask(() => spawn(binary, [...args], { stdio }));
    this.child = child;
    child.on('error', (error) => {
      // Spawning failed (no such binary); a running child's pipe errors arrive on the streams.
      this.spawnFailed = true;
      this.noteStderr(`spawn failed: ${error.message}`);
    });
    child.stdin?.on('error', (error) => log.debug({ err: error }, 'ffmpeg: stdin closed early'));
    child.stdout?.on(
      'data',
      lineSplitter((line) => this.lines.emit(line)),
    );
    child.stderr?.on(
      'data',
      lineSplitter((line) => this.noteStderr(line)),
    );
    const fd3 = child.stdio[3] as Readable | null | undefined;
    if (fd3) {
      const parser = new ProgressParser();
      fd3.on(
        'data',
        lineSplitter((line) => {
          const report = parser.push(line);
          if (!report) return;
          this.noteActivity(report);
          this.progress.emit(report);
        }),
      );
    }
    child.on('close', (code, signal) => this.finish(code, signal));
    this.armWatchdog(this.options.startupMs ?? this.options.inactivityMs + 10_000);
  }

  /** Asks ffmpeg to stop; safe to call any number of times. Resolves with how it ended. */
  stop(reason: SessionEndReason = 'requested'): Promise<SessionEnd> {
    if (this.ended || this.stopReason) return this.stopped;
    this.stopReason = reason;
    const child = this.child;
    if (!child) {
      this.finish(null, null);
      return this.stopped;
    }
    this.options.log.debug({ reason }, 'ffmpeg: stopping');
    if (child.stdin?.writable) child.stdin.end('q\n');
    const graceMs = this.options.graceMs ?? 5000;
    const killMs = this.options.killMs ?? 3000;
    this.timers.push(
      this.options.clock.setTimeout(() => {
        child.kill('SIGTERM');
        this.timers.push(
          this.options.clock.setTimeout(() => {
            child.kill('SIGKILL');
            // Only a process stuck in the kernel (a hung disk) outlives SIGKILL: say so, once.
            this.timers.push(
              this.options.clock.setTimeout(
                () =>
                  this.options.log.error(
                    { pid: child.pid, reason },
                    'ffmpeg: still not ended after SIGKILL; no restart until it ends',
                  ),
                killMs,
              ),
            );
          }, killMs),
        );
      }, graceMs),
    );
    return this.stopped;
  }

  /** The redacted stderr lines kept so far. */
  get recentErrors(): string {
    return this.stderrTail.join('\n');
  }

  private noteStderr(line: string): void {
    const clean = redact(line, this.options.secrets);
    this.stderrTail.push(clean);
    if (this.stderrTail.length > STDERR_LINES_KEPT) this.stderrTail.shift();
    this.options.log.debug({ line: clean }, 'ffmpeg');
  }

  private noteActivity(report: ProgressReport): void {
    const fingerprint = `${report.outTimeUs}/${report.totalSize}/${report.frame}`;
    // Progress blocks keep coming while ffmpeg waits; only media moving forward is activity.
    if (!report.outTimeUs && !report.frame) return;
    if (fingerprint === this.lastActivity) return;
    this.lastActivity = fingerprint;
    this.armWatchdog(this.options.inactivityMs);
  }

  private armWatchdog(ms: number): void {
    this.watchdog?.cancel();
    if (this.options.inactivityMs <= 0 || this.ended) return;
    this.watchdog = this.options.clock.setTimeout(() => {
      const detail = `watchdog: no progress for ${ms} ms`;
      this.noteStderr(detail);
      void this.stop('stall');
      this.stalled.emit(detail);
    }, ms);
  }

  private finish(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.ended) return;
    this.ended = true;
    this.watchdog?.cancel();
    for (const timer of this.timers) timer.cancel();
    const reason = this.stopReason ?? (this.spawnFailed ? 'spawn-failed' : 'exit');
    const end: SessionEnd = { reason, code, signal, detail: this.recentErrors };
    this.options.log.debug({ ...end }, 'ffmpeg: ended');
    this.resolveStopped(end);
  }
}
