import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Recorder } from '../../../src/gateway/recorder/recorder.js';
import { silentLogger } from '../../../src/lib/logger.js';
import { binaries, EventLog, type Rig, startRig, videoSettings } from '../../helpers/recorder-rig.js';
import { ShiftClock } from '../../helpers/shift-clock.js';

const DAY = 86_400_000;

/**
 * A gateway without a battery-backed clock boots in 2000 and records through a network outage;
 * then NTP answers. Its footage must survive the clock being set right — with its key — and be
 * deleted once it truly is past retention.
 */
describe('video retention and a clock that was wrong', () => {
  let rig: Rig;
  const clock = new ShiftClock();
  let synchronised = false;

  beforeAll(async () => {
    clock.advance(Date.parse('2000-01-01T00:00:00Z') - Date.now());
    rig = await startRig({ clock, clockSync: { synchronised: () => synchronised } });
    await rig.events.count('video.segment', 3, 60_000);
    await rig.recorder.stop();
  });

  afterAll(async () => {
    await rig?.stop();
  });

  it('marks footage recorded while the clock is not synchronised, with the boot and uptime', () => {
    const [first] = rig.recorder.index.read('cam-1', '2000-01-01');
    expect(first).toMatchObject({
      unsynced: true,
      written: { boot: expect.any(String), upMs: expect.any(Number) },
    });
    expect(first?.row?.mac).toMatch(/^[0-9a-f]{64}$/);
  });

  it('deletes nothing by age while the clock is not synchronised, and says so', async () => {
    clock.advance(Date.now() - clock.now()); // the clock is right, but nobody has confirmed it
    const plan = await rig.recorder.maintenance.enforceRetention();
    expect(plan.days).toEqual([]);
    expect(existsSync(rig.recorder.index.dayDir('cam-1', '2000-01-01'))).toBe(true);
    expect(rig.events.of('video.retention-paused')).toEqual([
      { reason: 'clock-unsynchronised', resolved: false },
    ]);
  });

  it('keeps footage filed under 2000, and its key, once NTP answers, and dates it by the uptime', async () => {
    synchronised = true;
    const before = Date.now();
    const plan = await rig.recorder.maintenance.enforceRetention();
    expect(plan.days).toEqual([]);
    expect(rig.keys.has('cam-1/2000-01-01')).toBe(true);
    const misdated = rig.events.of('video.footage-misdated');
    expect(misdated).toEqual([
      expect.objectContaining({ camera: 'cam-1', day: '2000-01-01', basis: 'uptime' }),
    ]);
    // Recorded within the last minute, in true time.
    expect(Date.parse(misdated[0]?.from as string)).toBeGreaterThan(before - 60_000);
    expect(Date.parse(misdated[0]?.to as string)).toBeLessThanOrEqual(Date.now());
    expect(rig.events.of('video.retention-paused').at(-1)).toEqual({
      reason: 'clock-unsynchronised',
      resolved: true,
    });
  });

  it('keeps this boot’s footage when the clock jumps forward, however far', async () => {
    clock.advance(400 * DAY);
    expect((await rig.recorder.maintenance.enforceRetention()).days).toEqual([]);
    expect(rig.keys.has('cam-1/2000-01-01')).toBe(true);
    clock.advance(-400 * DAY);
  });

  it('still plays the footage filed under 2000 by id', async () => {
    const [first] = rig.recorder.index.read('cam-1', '2000-01-01');
    const opened = await rig.recorder.openFootage(`cam-1/2000-01-01/${first?.file}`);
    expect(
      Buffer.concat(await opened.stream.toArray())
        .subarray(4, 8)
        .toString(),
    ).toBe('ftyp');
  });

  it('after a restart, deletes it with its key once it truly is past retention', async () => {
    const later = { now: () => Date.now() + 61 * DAY, setTimeout: clock.setTimeout.bind(clock) };
    const { cameras: _none, ...settings } = videoSettings({ retentionDays: 60 });
    const events = new EventLog();
    const restarted = new Recorder({
      cameras: [],
      settings,
      videoDir: rig.videoDir,
      keyStore: rig.keys,
      clock: later,
      log: silentLogger,
      emit: events.emit,
      binaries,
      clockSync: { synchronised: () => true },
      uptime: () => ({ boot: 'a-later-boot', upMs: 1000 }),
    });
    await restarted.start(); // runs retention
    await restarted.stop();
    expect(existsSync(rig.recorder.index.dayDir('cam-1', '2000-01-01'))).toBe(false);
    expect(rig.keys.has('cam-1/2000-01-01')).toBe(false);
    expect(events.of('video.pruned')).toContainEqual(
      expect.objectContaining({ day: '2000-01-01', reason: 'retention', keyDeleted: true }),
    );
  });
});
