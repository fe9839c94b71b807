import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultVideoConfig } from '../../../src/config/video-config.js';
import { runTool } from '../../../src/gateway/recorder/ffmpeg-run.js';
import { Recorder } from '../../../src/gateway/recorder/recorder.js';
import { VideoKeyStore } from '../../../src/gateway/recorder/video-keys.js';
import { systemClock } from '../../../src/lib/clock.js';
import { silentLogger } from '../../../src/lib/logger.js';
import { binaries } from '../../helpers/recorder-rig.js';

/**
 * A segment a dying ffmpeg left with its last fragment cut short is salvaged cut back to its last
 * whole fragment, so that a join across it plays what follows; a join whose input breaks off
 * fails (-xerror) rather than answering with less than it claims.
 */
describe('playback across a salvaged segment whose last fragment was cut off', () => {
  let root: string;
  let recorder: Recorder;
  const t0 = Date.parse('2026-03-01T08:00:00.000Z');

  const duration = async (path: string) =>
    Number(
      JSON.parse(
        await runTool(binaries.ffprobe, [
          '-v',
          'error',
          '-show_entries',
          'format=duration',
          '-of',
          'json',
          path,
        ]),
      ).format.duration,
    );

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'idg-cut-'));
    const make = async (path: string, seconds: number) =>
      runTool(binaries.ffmpeg, [
        ...['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25'],
        ...['-t', String(seconds), '-c:v', 'libx264', '-g', '25', '-f', 'mp4'],
        ...['-movflags', '+frag_keyframe+empty_moov+default_base_moof', '-y', path],
      ]);
    const spool = join(root, 'spool', 'cam-1');
    mkdirSync(spool, { recursive: true });
    const whole = join(root, 'whole.mp4');
    await make(whole, 6);
    const cut = join(spool, 'cam-1-x-1-000001.mp4');
    const bytes = readFileSync(whole);
    writeFileSync(cut, bytes.subarray(0, Math.floor((bytes.length * 2) / 3))); // mid-fragment
    const next = join(spool, 'cam-1-x-2-000001.mp4');
    await make(next, 6);

    const { cameras: _none, ...settings } = defaultVideoConfig();
    recorder = new Recorder({
      cameras: [
        { id: 'cam-1', url: 'rtsp://127.0.0.1/none', transport: 'tcp', segmentSeconds: 6, enabled: false },
      ],
      settings,
      videoDir: join(root, 'video'),
      spoolDir: join(root, 'spool'),
      keyStore: new VideoKeyStore(join(root, 'keys'), randomBytes(32)),
      clock: systemClock,
      log: silentLogger,
      emit: () => undefined,
      binaries,
    });
    // As the supervisor hands them over: the dead session's leftover, then the next session's segment.
    await recorder.ingest.add({ camera: 'cam-1', path: cut, startMs: t0, endMs: undefined, salvaged: true });
    await recorder.ingest.add({
      camera: 'cam-1',
      path: next,
      startMs: t0 + 4000,
      endMs: t0 + 10_000,
      salvaged: false,
    });
    expect(recorder.index.read('cam-1', '2026-03-01')).toHaveLength(2);
    expect(statSync(whole).size).toBeGreaterThan(0);
  }, 120_000);

  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('stores the salvaged segment cut back to its last whole fragment, and plays the segment after it', async () => {
    const [salvaged, after] = recorder.index.read('cam-1', '2026-03-01');
    const salvagedMs = (salvaged?.endMs ?? 0) - (salvaged?.startMs ?? 0);
    expect(salvagedMs).toBeGreaterThan(2000);
    expect(salvagedMs).toBeLessThan(4200);
    const file = await recorder.playback('cam-1', t0, t0 + 10_000);
    try {
      const stored = (salvagedMs + ((after?.endMs ?? 0) - (after?.startMs ?? 0))) / 1000;
      expect(await duration(file.path)).toBeGreaterThan(stored - 0.5);
    } finally {
      file.release();
    }
  });
});
