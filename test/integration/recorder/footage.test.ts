import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DiskSpace } from '../../../src/gateway/recorder/disk-pressure.js';
import { runTool } from '../../../src/gateway/recorder/ffmpeg-run.js';
import { holdsFromConfig, isHeld } from '../../../src/gateway/recorder/footage-holds.js';
import { type Clock, systemClock } from '../../../src/lib/clock.js';
import { hasCode } from '../../../src/lib/coded-error.js';
import { binaries, type Rig, startRig } from '../../helpers/recorder-rig.js';

const DAY = 86_400_000;
/** Small, so that a few seconds of test footage are worth pruning for. */
const THRESHOLD = 200_000;

/** The system clock, moved forward on demand to let footage age. */
class OffsetClock implements Clock {
  offsetMs = 0;
  now = () => Date.now() + this.offsetMs;
  setTimeout = (callback: () => void, ms: number) => systemClock.setTimeout(callback, ms);
}

async function probe(path: string) {
  const out = await runTool(binaries.ffprobe, [
    '-v',
    'error',
    '-show_entries',
    'format=duration,format_name',
    '-of',
    'json',
    path,
  ]);
  return JSON.parse(out).format as { duration: string; format_name: string };
}

describe('footage: event links, playback, disk pressure and retention', () => {
  let rig: Rig;
  const clock = new OffsetClock();
  const disk: DiskSpace = { freeBytes: 100 * 1024 ** 3, totalBytes: 200 * 1024 ** 3 };
  let eventTime = 0;

  beforeAll(async () => {
    rig = await startRig({
      clock,
      // Time that passes for the test passes for the uptime as well: footage ages by both.
      uptime: () => ({ boot: 'this-boot', upMs: clock.now() }),
      diskSpace: () => ({ ...disk }),
      settings: { minFreeBytes: THRESHOLD, retentionDays: 60 },
    });
    await rig.events.count('video.segment', 4);
  });

  afterAll(async () => {
    await rig?.stop();
  });

  it('links a snapshot and a clip from before to after a door event, waiting for the after part', async () => {
    eventTime = clock.now() - 200;
    const [result] = await rig.recorder.linkFootage(eventTime, 'evt-forced-1', { room: 'ident-1' });
    expect(result?.missing).toBeUndefined();
    const footage = result?.footage;
    if (!footage) throw new Error('no footage linked');
    const linked = rig.events.of('video.footage-linked')[0];
    expect(linked).toMatchObject({
      event: 'evt-forced-1',
      camera: 'cam-1',
      clip: footage.clip,
      snapshot: footage.snapshot,
    });

    const jpeg = await rig.recorder.openFootage(footage.snapshot.id);
    const jpegBytes = Buffer.concat(await jpeg.stream.toArray());
    expect(jpegBytes.subarray(0, 2).toString('hex')).toBe('ffd8');
    expect(createHash('sha256').update(jpegBytes).digest('hex')).toBe(footage.snapshot.sha256);

    const clip = await rig.recorder.openFootage(footage.clip.id);
    const clipBytes = Buffer.concat(await clip.stream.toArray());
    expect(createHash('sha256').update(clipBytes).digest('hex')).toBe(footage.clip.sha256);
    expect(
      footage.segments.every((s) =>
        rig.recorder.index
          .read(s.camera, s.day)
          .find((f) => f.file === s.file)
          ?.events.includes('evt-forced-1'),
      ),
    ).toBe(true);
  });

  it('serves a byte range of stored footage decrypted', async () => {
    const [segment] = rig.recorder.segments('cam-1', 0, clock.now());
    if (!segment) throw new Error('no segment');
    const whole = Buffer.concat(
      await (await rig.recorder.openFootage(`cam-1/${segment.day}/${segment.file}`)).stream.toArray(),
    );
    const part = await rig.recorder.openFootage(`cam-1/${segment.day}/${segment.file}`, {
      start: 100,
      end: 199,
    });
    expect(Buffer.concat(await part.stream.toArray())).toEqual(whole.subarray(100, 200));
    expect(
      await text(
        (await rig.recorder.openFootage(`cam-1/${segment.day}/${segment.file}`, { start: 4, end: 7 })).stream,
      ),
    ).toBe('ftyp');
  });

  it('plays back a time range as one plain MP4 without transcoding', async () => {
    const playback = await rig.recorder.playback('cam-1', eventTime - 1500, eventTime + 1500);
    const format = await probe(playback.path);
    expect(format.format_name).toContain('mp4');
    expect(Number(format.duration)).toBeGreaterThan(1);
    expect(readFileSync(playback.path).subarray(4, 8).toString()).toBe('ftyp');
    playback.release();
    expect(existsSync(playback.path)).toBe(false);
  });

  it('under disk pressure deletes unlinked footage oldest first, then linked, never held', async () => {
    await rig.recorder.stop();
    const all = rig.recorder.index.all('cam-1');
    const last = all.filter((f) => f.kind === 'segment' && f.events.length === 0).at(-1);
    const hold = {
      id: 'case-7',
      camera: 'cam-1',
      from: new Date((last?.startMs ?? 0) + 1).toISOString(),
      to: new Date((last?.endMs ?? 0) - 1).toISOString(),
      reason: 'court order',
    };
    rig.recorder.setLegalHolds([hold]);
    // Held: the last unlinked segment, and a neighbour whose recorded times overlap the hold (as
    // they can when the machine is busy), by the recorder's own rule.
    const held = all.filter((f) => isHeld(f, holdsFromConfig([hold])));
    expect(held).toContain(last);
    const unlinked = all.filter((f) => f.events.length === 0 && !held.includes(f));
    const linked = all
      .filter((f) => f.events.length > 0 && !held.includes(f))
      .sort((a, b) => a.startMs - b.startMs);
    const unlinkedBytes = unlinked.reduce((n, f) => n + f.bytes, 0);
    // Pruning frees up to 110 % of the threshold: this needs all unlinked footage plus one byte,
    // so the oldest linked file goes as well.
    disk.freeBytes = Math.ceil(THRESHOLD * 1.1) - unlinkedBytes - 1;
    expect(disk.freeBytes).toBeLessThan(THRESHOLD);

    const result = await rig.recorder.maintenance.relieveDiskPressure();

    const left = rig.recorder.index.all('cam-1');
    expect(result.resolved).toBe(true);
    expect(left.map((f) => f.file).sort()).toEqual([...held, ...linked.slice(1)].map((f) => f.file).sort());
    expect(existsSync(linked[0]?.path as string)).toBe(false);
    expect(rig.events.of('video.disk-pressure')[0]).toMatchObject({
      deletedFiles: unlinked.length + 1,
      deletedLinked: 1,
      resolved: true,
    });
  });

  it('raises an unresolved disk-pressure alarm when only held footage is left to delete', async () => {
    disk.freeBytes = 0;
    rig.recorder.setLegalHolds([
      { id: 'all', from: '2000-01-01T00:00:00Z', to: '2100-01-01T00:00:00Z', reason: 'audit' },
    ]);
    const before = rig.recorder.index.all('cam-1').length;
    expect((await rig.recorder.maintenance.relieveDiskPressure()).resolved).toBe(false);
    expect(rig.recorder.index.all('cam-1')).toHaveLength(before);
    expect(rig.events.of('video.disk-pressure').at(-1)).toMatchObject({ resolved: false, deletedFiles: 0 });
    // The operator frees space: the next run says the pressure ended (the alarm clears), once.
    const reports = rig.events.of('video.disk-pressure').length;
    disk.freeBytes = 100 * 1024 ** 3;
    expect(await rig.recorder.maintenance.relieveDiskPressure()).toMatchObject({
      resolved: true,
      deletedFiles: 0,
    });
    expect(rig.events.of('video.disk-pressure').slice(reports)).toMatchObject([
      { resolved: true, deletedFiles: 0, freedBytes: 0 },
    ]);
    await rig.recorder.maintenance.relieveDiskPressure();
    expect(rig.events.of('video.disk-pressure')).toHaveLength(reports + 1);
  });

  it('reconcile removes unindexed files and closes rows without files, past the safety fraction only when forced', async () => {
    const [first] = rig.recorder.index.all('cam-1');
    if (!first) throw new Error('no footage left');
    const stray = join(rig.videoDir, 'cam-1', first.day, 'stray.mp4.idgv');
    writeFileSync(stray, 'left by a crash');
    rmSync(first.path);
    clock.offsetMs = 10 * 60_000;

    expect((await rig.recorder.maintenance.reconcile()).refused).toBe(true);
    expect(rig.events.of('video.reconcile-refused')).toEqual([
      expect.objectContaining({ orphanFiles: 1, missingFiles: 1 }),
    ]);
    expect(existsSync(stray)).toBe(true);

    const plan = await rig.recorder.maintenance.reconcile({ force: true });
    expect(plan.refused).toBe(false);
    expect(existsSync(stray)).toBe(false);
    expect(rig.recorder.index.all('cam-1').map((f) => f.file)).not.toContain(first.file);
  });

  it('retention keeps held days with their key, then deletes files, folders and keys once released', async () => {
    const [day] = rig.recorder.index.days('cam-1');
    const keyId = `cam-1/${day}`;
    clock.offsetMs = 62 * DAY;
    await rig.recorder.maintenance.enforceRetention();
    expect(rig.keys.has(keyId)).toBe(true);
    expect(rig.recorder.index.all('cam-1').length).toBeGreaterThan(0);

    rig.recorder.setLegalHolds([]);
    await rig.recorder.maintenance.enforceRetention();
    expect(rig.recorder.index.all('cam-1')).toEqual([]);
    expect(existsSync(join(rig.videoDir, 'cam-1'))).toBe(false);
    expect(rig.keys.has(keyId)).toBe(false);
    expect(rig.events.of('video.pruned').at(-1)).toMatchObject({
      camera: 'cam-1',
      day,
      reason: 'retention',
      keyDeleted: true,
    });
    let error: unknown;
    try {
      rig.keys.lookup(keyId);
    } catch (caught) {
      error = caught;
    }
    expect(hasCode(error, 'IDG_VIDEO_KEY_MISSING')).toBe(true);
  });
});
