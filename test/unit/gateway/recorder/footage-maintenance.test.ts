import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { VideoConfig } from '../../../../src/config/video-config.js';
import { type CameraSpec, Recorder } from '../../../../src/gateway/recorder/recorder.js';
import { SegmentIndex } from '../../../../src/gateway/recorder/segment-index.js';
import { VideoKeyStore } from '../../../../src/gateway/recorder/video-keys.js';
import type { Clock } from '../../../../src/lib/clock.js';
import { createLogger, silentLogger } from '../../../../src/lib/logger.js';
import { EventLog, videoSettings } from '../../../helpers/recorder-rig.js';

/** Retention runs of a recorder without cameras over footage laid out by hand (no ffmpeg needed). */
const now = Date.parse('2026-06-01T00:00:00Z');
const clock: Clock = { now: () => now, setTimeout: () => ({ cancel: () => undefined }) };
const roots: string[] = [];
afterEach(() => {
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

/** A key store whose deletions fail while `refusing` is set, as on a key disk gone read-only. */
class FlakyKeys extends VideoKeyStore {
  refusing = false;
  override delete(keyId: string): boolean {
    if (this.refusing)
      throw Object.assign(new Error(`EROFS: read-only file system, unlink '${keyId}.key'`), {
        code: 'EROFS',
      });
    return super.delete(keyId);
  }
}

function layout(cameras: string[], days: string[]) {
  const root = mkdtempSync(join(tmpdir(), 'idg-maint-'));
  roots.push(root);
  const videoDir = join(root, 'video');
  const keys = new FlakyKeys(join(root, 'keys'), randomBytes(32));
  const index = new SegmentIndex(videoDir, silentLogger);
  for (const camera of cameras)
    for (const day of days) {
      keys.keyFor(camera, day);
      mkdirSync(index.dayDir(camera, day), { recursive: true });
      writeFileSync(join(index.dayDir(camera, day), 'seg.mp4.idgv'), 'ciphertext');
      index.append(camera, day, {
        t: 'segment',
        file: 'seg.mp4.idgv',
        start: `${day}T10:00:00.000Z`,
        end: `${day}T10:01:00.000Z`,
        bytes: 10,
        plainBytes: 10,
        keyId: `${camera}/${day}`,
        sha256: '0'.repeat(64),
      });
    }
  return { videoDir, keys, index };
}

function recorder(
  at: { videoDir: string; keys: VideoKeyStore },
  more: {
    settings?: Partial<VideoConfig>;
    cameras?: CameraSpec[];
    synchronised?: () => boolean;
    logs?: string[];
  } = {},
) {
  const events = new EventLog();
  const { cameras: _none, ...settings } = videoSettings({ retentionDays: 30, ...more.settings });
  const logs = more.logs;
  const instance = new Recorder({
    cameras: more.cameras ?? [],
    settings,
    videoDir: at.videoDir,
    keyStore: at.keys,
    clock,
    log: logs ? createLogger({ level: 'info', format: 'json', write: (l) => logs.push(l) }) : silentLogger,
    emit: events.emit,
    binaries: { ffmpeg: 'ffmpeg', ffprobe: 'ffprobe', source: { ffmpeg: 'test', ffprobe: 'test' } },
    diskSpace: () => ({ freeBytes: 1e12, totalBytes: 2e12 }),
    clockSync: more.synchronised ? { synchronised: more.synchronised } : undefined,
    uptime: () => undefined,
  });
  return { recorder: instance, events };
}

const oldDays = ['2026-01-01', '2026-01-02', '2026-01-03'];

describe('video retention runs: failures', () => {
  it('deletes every expired folder although the keys cannot be deleted, and tries the keys again at the next run', async () => {
    const at = layout(['cam-a', 'cam-b'], oldDays);
    at.keys.refusing = true;
    const { recorder: rec, events } = recorder(at);
    await rec.start(); // retention runs once at start

    expect(oldDays.filter((d) => existsSync(at.index.dayDir('cam-a', d)))).toEqual([]);
    expect(oldDays.filter((d) => existsSync(at.index.dayDir('cam-b', d)))).toEqual([]);
    expect(at.keys.list()).toHaveLength(6);
    expect(events.of('video.retention-failed')).toEqual([
      expect.objectContaining({ failed: 6, resolved: false }),
    ]);
    expect(events.of('video.retention-failed')[0]?.failures[0]).toMatchObject({
      camera: 'cam-a',
      day: '2026-01-01',
      step: 'key',
      detail: expect.stringContaining('EROFS'),
    });

    at.keys.refusing = false;
    await rec.maintenance.enforceRetention();
    expect(at.keys.list()).toEqual([]);
    expect(events.of('video.pruned').filter((p) => p.keyDeleted)).toHaveLength(6);
    expect(events.of('video.retention-failed').at(-1)).toEqual({ failed: 0, failures: [], resolved: true });
    await rec.stop();
  });

  it('reports the same failing steps once, not at every run', async () => {
    const at = layout(['cam-a'], oldDays);
    at.keys.refusing = true;
    const { recorder: rec, events } = recorder(at);
    await rec.start();
    await rec.maintenance.enforceRetention();
    await rec.maintenance.enforceRetention();
    expect(events.of('video.retention-failed')).toHaveLength(1);
    await rec.stop();
  });

  it('deletes the key of a day whose folder cannot be deleted, and the other days', async () => {
    const at = layout(['cam-a'], oldDays);
    const { recorder: rec, events } = recorder(at);
    const removeDay = rec.index.removeDay.bind(rec.index);
    rec.index.removeDay = (camera, day) => {
      if (day === '2026-01-01') throw Object.assign(new Error('EBUSY: resource busy'), { code: 'EBUSY' });
      removeDay(camera, day);
    };
    await rec.start();
    expect(at.keys.list().map((k) => k.keyId)).toEqual([]);
    expect(oldDays.filter((d) => existsSync(at.index.dayDir('cam-a', d)))).toEqual(['2026-01-01']);
    expect(events.of('video.retention-failed')[0]).toMatchObject({
      failed: 1,
      failures: [{ camera: 'cam-a', day: '2026-01-01', step: 'folder' }],
    });
    await rec.stop();
  });
});

describe('video retention runs: the clock', () => {
  it('deletes nothing by age while the clock is not synchronised, says so once, and catches up once it is', async () => {
    const at = layout(['cam-a'], oldDays);
    let synchronised = false;
    const { recorder: rec, events } = recorder(at, { synchronised: () => synchronised });
    await rec.start();
    await rec.maintenance.enforceRetention();
    expect(oldDays.filter((d) => existsSync(at.index.dayDir('cam-a', d)))).toEqual(oldDays);
    expect(at.keys.list()).toHaveLength(3);
    expect(events.of('video.retention-paused')).toEqual([
      { reason: 'clock-unsynchronised', resolved: false },
    ]);

    synchronised = true;
    await rec.maintenance.enforceRetention();
    expect(oldDays.filter((d) => existsSync(at.index.dayDir('cam-a', d)))).toEqual([]);
    expect(at.keys.list()).toEqual([]);
    expect(events.of('video.retention-paused').at(-1)).toEqual({
      reason: 'clock-unsynchronised',
      resolved: true,
    });
    await rec.stop();
  });
});

describe('video retention runs: a camera removed from the configuration', () => {
  const camera = (retentionDays?: number): CameraSpec => ({
    id: 'cam-a',
    url: 'rtsp://10.0.0.1/s',
    transport: 'tcp',
    segmentSeconds: 60,
    enabled: false,
    ...(retentionDays ? { retentionDays } : {}),
  });

  it('keeps the footage for the retention the camera last had, not the default', async () => {
    // 2026-04-01 is 61 days before now: past the default 30 days, within the camera's own 90.
    const at = layout(['cam-a'], ['2026-04-01']);
    const first = recorder(at, { cameras: [camera(90)] });
    await first.recorder.start();
    await first.recorder.stop();

    const logs: string[] = [];
    const second = recorder(at, { cameras: [], logs });
    await second.recorder.start();
    expect(existsSync(at.index.dayDir('cam-a', '2026-04-01'))).toBe(true);
    expect(
      logs.some(
        (l) => l.includes('kept for the retention the camera last had') && l.includes('"retentionDays":90'),
      ),
    ).toBe(true);
    await second.recorder.stop();
  });

  it('falls back to the default, with a warning, when its retention was never remembered', async () => {
    const at = layout(['cam-a'], ['2026-04-01']);
    const logs: string[] = [];
    const { recorder: rec } = recorder(at, { cameras: [], logs });
    await rec.start();
    expect(existsSync(at.index.dayDir('cam-a', '2026-04-01'))).toBe(false);
    expect(logs.some((l) => l.includes('its retention is not known'))).toBe(true);
    await rec.stop();
  });
});

describe('video retention runs: the doors’ event loop', () => {
  const days = ['2026-01-01', '2026-01-02', '2026-05-30', '2026-05-31'];

  it('deletes a day wholly past retention, and passes over a day within it, without parsing their rows', async () => {
    const at = layout(['cam-a'], days);
    const { recorder: rec } = recorder(at);
    const parse = vi.spyOn(rec.index, 'parse');
    await rec.maintenance.enforceRetention();
    expect(days.filter((d) => existsSync(at.index.dayDir('cam-a', d)))).toEqual(['2026-05-30', '2026-05-31']);
    expect(at.keys.list().map((k) => k.day)).toEqual(['2026-05-30', '2026-05-31']);
    expect(parse).not.toHaveBeenCalled();
  });

  it('parses a past day holding footage of an unsynchronised clock, and keeps that footage', async () => {
    const at = layout(['cam-a'], ['2026-01-01']);
    at.index.append('cam-a', '2026-01-01', {
      t: 'segment',
      file: 'unsynced.mp4.idgv',
      start: '2026-01-01T11:00:00.000Z',
      end: '2026-01-01T11:01:00.000Z',
      bytes: 10,
      plainBytes: 10,
      keyId: 'cam-a/2026-01-01',
      sha256: '0'.repeat(64),
      unsynced: true,
    });
    const { recorder: rec } = recorder(at);
    const parse = vi.spyOn(rec.index, 'parse');
    const plan = await rec.maintenance.enforceRetention();
    expect(parse).toHaveBeenCalledWith('cam-a', '2026-01-01', expect.anything());
    expect(plan.days).toEqual([]);
    expect(plan.dates.map((d) => d.file.file)).toEqual(['unsynced.mp4.idgv']);
    expect(at.index.read('cam-a', '2026-01-01').map((f) => f.file)).toEqual(['unsynced.mp4.idgv']);
  });

  it('lets other work run between camera-days instead of taking the event loop for the whole run', async () => {
    const at = layout(['cam-a', 'cam-b'], days);
    const { recorder: rec } = recorder(at);
    const order: string[] = [];
    const readBytes = rec.index.readBytes.bind(rec.index);
    rec.index.readBytes = (camera, day) => {
      order.push(`${camera}/${day}`);
      return readBytes(camera, day);
    };
    const run = rec.maintenance.enforceRetention();
    setImmediate(() => order.push('other work'));
    await run;
    expect(order).toHaveLength(days.length * 2 + 1);
    expect(order.indexOf('other work')).toBeLessThan(order.length - 1);
  });
});
