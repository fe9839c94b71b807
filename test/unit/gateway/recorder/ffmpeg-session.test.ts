import { describe, expect, it } from 'vitest';
import { FfmpegSession } from '../../../../src/gateway/recorder/ffmpeg-session.js';
import { FakeClock } from '../../../../src/lib/clock.js';
import { silentLogger } from '../../../../src/lib/logger.js';

/** Stand-ins for ffmpeg: small node programs that behave like it on stdin, stdout and fd 3. */
const node = process.execPath;
const quitsOnQ = `process.stdin.on('data', (d) => { if (String(d).includes('q')) { console.log('seg-000001.mp4,1.0,2.0'); process.exit(0); } });`;
const ignoresEverything = `process.stdin.resume(); process.on('SIGTERM', () => {}); setInterval(() => {}, 1000); console.log('ready');`;
const writesProgress = `const fs = require('node:fs'); let t = 0; const tick = () => { t += 500000; fs.writeSync(3, 'out_time_us=' + t + '\\nprogress=continue\\n'); if (t >= 1500000) process.exit(0); setTimeout(tick, 10); }; tick();`;

function session(script: string, clock = new FakeClock(), more = {}) {
  return new FfmpegSession({
    name: 'test',
    binary: node,
    args: ['-e', script],
    clock,
    log: silentLogger,
    inactivityMs: 5000,
    graceMs: 1000,
    killMs: 1000,
    ...more,
  });
}

describe('ffmpeg session', () => {
  it('stops gracefully with q, so the last segment is still listed', async () => {
    const s = session(quitsOnQ);
    const lines: string[] = [];
    s.lines.on((line) => lines.push(line));
    s.start();
    const end = await s.stop();
    expect(end).toMatchObject({ reason: 'requested', code: 0 });
    expect(lines).toEqual(['seg-000001.mp4,1.0,2.0']);
  });

  it('escalates to SIGTERM, then SIGKILL, when the process does not stop', async () => {
    const clock = new FakeClock();
    const s = session(ignoresEverything, clock);
    const ready = new Promise((resolve) => s.lines.on(resolve));
    s.start();
    await ready;
    const stopping = s.stop();
    clock.advance(1000);
    clock.advance(1000);
    expect(await stopping).toMatchObject({ reason: 'requested', signal: 'SIGKILL' });
  });

  it('is stopped by its watchdog when no progress arrives', async () => {
    const clock = new FakeClock();
    const s = session(ignoresEverything, clock, { startupMs: 3000 });
    const ready = new Promise((resolve) => s.lines.on(resolve));
    s.start();
    await ready;
    clock.advance(3000);
    clock.advance(2000);
    expect(await s.stopped).toMatchObject({
      reason: 'stall',
      detail: expect.stringContaining('no progress'),
    });
  });

  it('says its watchdog fired at once, while the process it stops has not ended yet', async () => {
    const clock = new FakeClock();
    const s = session(ignoresEverything, clock, { startupMs: 3000 });
    const ready = new Promise((resolve) => s.lines.on(resolve));
    const stalled: string[] = [];
    s.stalled.on((detail) => stalled.push(detail));
    let ended = false;
    void s.stopped.then(() => {
      ended = true;
    });
    s.start();
    await ready;
    clock.advance(3000);
    expect(stalled).toEqual(['watchdog: no progress for 3000 ms']);
    expect(ended).toBe(false);
    expect(s.running).toBe(true);
    clock.advance(1000);
    clock.advance(1000);
    expect(await s.stopped).toMatchObject({ reason: 'stall', signal: 'SIGKILL' });
  });

  it('passes progress reports from fd 3 on and ends with reason exit when the process ends by itself', async () => {
    const s = session(writesProgress, new FakeClock(), { progressOnFd3: true });
    const times: Array<number | undefined> = [];
    s.progress.on((report) => times.push(report.outTimeUs));
    s.start();
    expect(await s.stopped).toMatchObject({ reason: 'exit', code: 0 });
    expect(times).toEqual([500000, 1000000, 1500000]);
  });

  it('reports a binary that cannot be started', async () => {
    const s = new FfmpegSession({
      name: 'x',
      binary: '/nonexistent/ffmpeg',
      args: [],
      clock: new FakeClock(),
      log: silentLogger,
      inactivityMs: 0,
    });
    s.start();
    expect(await s.stopped).toMatchObject({
      reason: 'spawn-failed',
      detail: expect.stringContaining('ENOENT'),
    });
  });

  it('never shows credentials in its command line', () => {
    const s = session('', new FakeClock(), {
      args: ['-i', 'rtsp://admin:s3cret@cam/1'],
      secrets: ['s3cret'],
    });
    expect(s.commandLine).toContain('rtsp://***@cam/1');
    expect(s.commandLine).not.toContain('s3cret');
  });
});
