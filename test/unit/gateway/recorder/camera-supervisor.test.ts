import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type CameraDown,
  CameraSupervisor,
  type CameraUp,
  type CompletedSegment,
  type RecordingSession,
} from '../../../../src/gateway/recorder/camera-supervisor.js';
import type { ProgressReport } from '../../../../src/gateway/recorder/ffmpeg-output.js';
import type { SessionEnd, SessionEndReason } from '../../../../src/gateway/recorder/ffmpeg-session.js';
import { FakeClock } from '../../../../src/lib/clock.js';
import { silentLogger } from '../../../../src/lib/logger.js';
import { Signal } from '../../../../src/lib/signal.js';

/** A recording session driven by the test: it reports progress, lists segments and ends. */
class FakeSession implements RecordingSession {
  readonly lines = new Signal<string>('lines');
  readonly progress = new Signal<ProgressReport>('progress');
  readonly stalled = new Signal<string>('stalled');
  readonly stopped: Promise<SessionEnd>;
  readonly pid = 4242;
  started = false;
  private resolve!: (end: SessionEnd) => void;

  constructor() {
    this.stopped = new Promise((resolve) => {
      this.resolve = resolve;
    });
  }

  start(): void {
    this.started = true;
  }

  stop(reason: SessionEndReason = 'requested'): Promise<SessionEnd> {
    this.end(reason);
    return this.stopped;
  }

  wrote(seconds: number): void {
    this.progress.emit({
      outTimeUs: seconds * 1_000_000,
      frame: seconds * 10,
      totalSize: undefined,
      ended: false,
    });
  }

  end(reason: SessionEndReason = 'exit', detail = 'Connection refused'): void {
    this.resolve({ reason, code: 1, signal: null, detail });
  }
}

function setUp() {
  const clock = new FakeClock(Date.parse('2026-01-01T08:00:00Z'));
  const sessions: FakeSession[] = [];
  const supervisor = new CameraSupervisor({
    camera: 'cam-1',
    spoolDir: mkdtempSync(join(tmpdir(), 'idg-spool-')),
    clock,
    log: silentLogger,
    backoff: { initialMs: 1000, maxMs: 4000 },
    createSession: () => {
      const session = new FakeSession();
      sessions.push(session);
      return session;
    },
  });
  const downs: CameraDown[] = [];
  const ups: CameraUp[] = [];
  const segments: CompletedSegment[] = [];
  supervisor.down.on((d) => downs.push(d));
  supervisor.up.on((u) => ups.push(u));
  supervisor.segments.on((s) => segments.push(s));
  const current = () => sessions[sessions.length - 1] as FakeSession;
  const settle = () => new Promise((resolve) => setImmediate(resolve));
  return { clock, sessions, supervisor, downs, ups, segments, current, settle };
}

describe('camera supervisor', () => {
  it('reports the camera up once media is written', () => {
    const { supervisor, current, ups } = setUp();
    supervisor.start();
    current().wrote(0);
    expect(ups).toEqual([]);
    current().wrote(1.5);
    expect(ups).toEqual([{ camera: 'cam-1', downMs: undefined, restarts: 0 }]);
    expect(supervisor.status.state).toBe('up');
  });

  it('restarts an ended session with doubling delays up to the cap', async () => {
    const { supervisor, sessions, current, clock, downs, settle } = setUp();
    supervisor.start();
    const delays: number[] = [];
    for (let attempt = 0; attempt < 4; attempt++) {
      current().end('exit');
      await settle();
      const before = sessions.length;
      let waited = 0;
      while (sessions.length === before) {
        clock.advance(250);
        waited += 250;
      }
      delays.push(waited);
    }
    expect(delays).toEqual([1000, 2000, 4000, 4000]);
    expect(downs).toHaveLength(1);
    expect(downs[0]).toMatchObject({
      camera: 'cam-1',
      reason: 'exit',
      detail: 'Connection refused',
      retryInMs: 1000,
    });
  });

  it('reports down once per outage and up with the outage length when media flows again', async () => {
    const { supervisor, current, clock, downs, ups, settle } = setUp();
    supervisor.start();
    current().wrote(1);
    current().end('stall', 'watchdog: no progress for 15000 ms');
    await settle();
    expect(downs).toEqual([
      { camera: 'cam-1', reason: 'stall', detail: 'watchdog: no progress for 15000 ms', retryInMs: 1000 },
    ]);
    clock.advance(1000);
    current().end('exit');
    await settle();
    clock.advance(2000);
    current().wrote(1);
    expect(downs).toHaveLength(1);
    expect(ups.at(-1)).toEqual({ camera: 'cam-1', downMs: 3000, restarts: 2 });
  });

  it('reports the camera down when the watchdog fires, before ffmpeg has ended', async () => {
    const { supervisor, current, sessions, clock, downs, ups, settle } = setUp();
    supervisor.start();
    current().wrote(1);
    // The watchdog stops the session; the process takes its time to end (or, stuck in the
    // kernel, never does), and its last progress report is no sign of life.
    current().stalled.emit('watchdog: no progress for 15000 ms');
    current().wrote(1);
    expect(downs).toEqual([
      { camera: 'cam-1', reason: 'stall', detail: 'watchdog: no progress for 15000 ms', retryInMs: 1000 },
    ]);
    expect(supervisor.status.state).toBe('down');
    expect(ups).toHaveLength(1);
    expect(sessions).toHaveLength(1);

    clock.advance(8000);
    current().end('stall', 'watchdog: no progress for 15000 ms');
    await settle();
    expect(downs).toHaveLength(1);
    clock.advance(1000);
    expect(sessions).toHaveLength(2);
    current().wrote(1);
    expect(ups.at(-1)).toEqual({ camera: 'cam-1', downMs: 9000, restarts: 1 });
  });

  it('starts backoff afresh after a session completed a segment', async () => {
    const { supervisor, sessions, current, clock, settle } = setUp();
    supervisor.start();
    current().end('exit');
    await settle();
    clock.advance(1000);
    current().end('exit');
    await settle();
    clock.advance(2000);
    current().wrote(2);
    current().lines.emit('seg-000000.mp4,0.000000,1.000000');
    current().end('exit');
    await settle();
    clock.advance(1000);
    expect(sessions).toHaveLength(4);
  });

  it('dates segments by the wall clock at which their media was written', () => {
    const { supervisor, current, clock, segments } = setUp();
    supervisor.start();
    const t0 = clock.now();
    // ffmpeg writes 3 s buffered while probing in a burst; later reports run in real time.
    current().lines.emit('p-000000.mp4,0.000000,1.000000');
    current().wrote(3);
    clock.advance(1000);
    current().lines.emit('p-000001.mp4,1.000000,2.000000');
    current().wrote(4);
    const relative = segments.map((s) => [(s.startMs ?? 0) - t0, (s.endMs ?? 0) - t0]);
    expect(relative).toEqual([
      [-3000, -2000],
      [-2000, -1000],
    ]);
    expect(segments[0]?.path).toMatch(/p-000000\.mp4$/);
  });

  it('does not restart after stop, and stop is idempotent', async () => {
    const { supervisor, sessions, clock } = setUp();
    supervisor.start();
    await supervisor.stop();
    await supervisor.stop();
    clock.advance(60_000);
    expect(sessions).toHaveLength(1);
    expect(supervisor.status.state).toBe('stopped');
  });
});
