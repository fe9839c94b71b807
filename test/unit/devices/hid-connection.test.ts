import { describe, expect, it } from 'vitest';
import type { DeviceHealth } from '../../../src/gateway/devices/device-ports.js';
import { HidBadgeReader, keyboardBadgeInterpreter } from '../../../src/gateway/devices/hid-badge-reader.js';
import { HidConnection } from '../../../src/gateway/devices/hid-connection.js';
import { FakeClock } from '../../../src/lib/clock.js';
import { silentLogger } from '../../../src/lib/logger.js';
import { FakeHidBackend, settle } from './helpers/fake-hid.js';
import { typed } from './helpers/hid-reports.js';

const READER = { path: '/dev/hidraw3', vendorId: 0xffff, productId: 0x0035, usagePage: 1, usage: 6 };

function rig(options: { plugged?: boolean; retryInitialMs?: number; retryMaxMs?: number } = {}) {
  const clock = new FakeClock();
  const hid = new FakeHidBackend();
  if (options.plugged ?? true) hid.plug(READER);
  const connection = new HidConnection({
    name: 'main.entry-reader',
    selector: { ids: [{ vendorId: 0xffff, productId: 0x0035 }], prefer: { usagePage: 1, usage: 6 } },
    backend: hid,
    clock,
    log: silentLogger,
    retryInitialMs: options.retryInitialMs ?? 500,
    retryMaxMs: options.retryMaxMs ?? 4000,
  });
  const reader = new HidBadgeReader(
    'main.entry-reader',
    connection,
    keyboardBadgeInterpreter({
      name: 'main.entry-reader',
      clock,
      log: silentLogger,
      interCharTimeoutMs: 200,
      minLength: 4,
      maxLength: 32,
    }),
    silentLogger,
  );
  const health: DeviceHealth[] = [];
  const badges: string[] = [];
  reader.health.on((h) => health.push(h));
  reader.badges.on((b) => badges.push(b));
  const present = (badge: string) => {
    for (const report of typed(badge)) hid.send(READER.path, report);
  };
  /** Moves time on and lets the reconnect attempt it triggers finish. */
  const advance = async (ms: number) => {
    clock.advance(ms);
    await settle();
  };
  return { clock, hid, connection, reader, health, badges, present, advance };
}

describe('HID reader hot-plug', () => {
  it('reads badges from a reader that is there at start, without a health report', async () => {
    const { reader, health, badges, present } = rig();
    await reader.start();
    present('0013110988');
    expect(badges).toEqual(['0013110988']);
    expect(health).toEqual([]);
  });

  it('reports one fault when the reader disappears, however often the retries fail', async () => {
    const { reader, hid, health, advance } = rig();
    await reader.start();
    hid.unplug(READER.path);
    for (let i = 0; i < 6; i++) await advance(10_000);
    expect(health).toEqual([
      { device: 'main.entry-reader', state: 'fault', message: expect.stringContaining('device lost') },
    ]);
  });

  it('retries with exponential backoff capped at retryMaxMs', async () => {
    const { reader, hid, clock, advance } = rig({ retryInitialMs: 500, retryMaxMs: 4000 });
    await reader.start();
    const attempts: number[] = [];
    const enumerate = hid.devices.bind(hid);
    hid.devices = () => {
      attempts.push(clock.now() - lostAt);
      return enumerate();
    };
    const lostAt = clock.now();
    hid.unplug(READER.path);
    for (let elapsed = 0; elapsed < 16_000; elapsed += 100) await advance(100);
    expect(attempts).toEqual([500, 1500, 3500, 7500, 11500, 15500]);
  });

  it('comes back: reports ok and reads badges again once the reader is replugged', async () => {
    const { reader, hid, health, badges, present, advance } = rig();
    await reader.start();
    hid.unplug(READER.path);
    await advance(500);
    hid.plug(READER);
    await advance(1000);
    present('4711AB12');
    expect(health.map((h) => h.state)).toEqual(['fault', 'ok']);
    expect(badges).toEqual(['4711AB12']);
  });

  it('voids a badge half-read when the reader went away', async () => {
    const { reader, hid, badges, present, advance } = rig();
    await reader.start();
    for (const report of typed('1234', null)) hid.send(READER.path, report);
    hid.unplug(READER.path);
    hid.plug(READER);
    await advance(500);
    present('56789012');
    expect(badges).toEqual(['56789012']);
  });

  it('starts without the reader, reports the fault, and connects when it is plugged in', async () => {
    const { reader, hid, health, badges, present, advance } = rig({ plugged: false });
    await reader.start();
    expect(health).toEqual([
      {
        device: 'main.entry-reader',
        state: 'fault',
        message: 'main.entry-reader: no USB HID device ffff:0035 is connected',
      },
    ]);
    hid.plug(READER);
    await advance(500);
    present('00000042');
    expect(badges).toEqual(['00000042']);
    expect(health.map((h) => h.state)).toEqual(['fault', 'ok']);
  });

  it('names the udev rule to install when opening the reader is not permitted', async () => {
    const { reader, hid, health } = rig();
    hid.denyAccess(READER.path);
    await reader.start();
    expect(health).toHaveLength(1);
    const [fault] = health;
    expect(fault?.state).toBe('fault');
    expect(fault?.state === 'fault' && fault.message).toMatch(
      /permission denied opening \/dev\/hidraw3\. Install the udev rule hardware\/udev\/60-identgate-readers\.rules \(it must list USB id ffff:0035\)/,
    );
  });

  it('recovers from a permission fault once the rule is installed', async () => {
    const { reader, hid, health, badges, present, advance } = rig();
    hid.denyAccess(READER.path);
    await reader.start();
    hid.denyAccess(READER.path, false);
    await advance(500);
    present('12345678');
    expect(badges).toEqual(['12345678']);
    expect(health.map((h) => h.state)).toEqual(['fault', 'ok']);
  });

  it('stops retrying when stopped, and closes the device', async () => {
    const { reader, hid, clock, advance } = rig();
    await reader.start();
    hid.unplug(READER.path);
    await reader.stop();
    const opens = hid.opens;
    await advance(60_000);
    expect(hid.opens).toBe(opens);
    expect(clock.pendingTimers()).toBe(0);
    expect(hid.openHandles()).toEqual([]);
  });

  it('prefers the keyboard collection of a reader that exposes several', async () => {
    const { reader, hid, badges } = rig({ plugged: false });
    hid.plug({ ...READER, path: '/dev/hidraw4', usagePage: 0x0c, usage: 1 });
    hid.plug(READER);
    await reader.start();
    expect(hid.openHandles().map((h) => h.path)).toEqual(['/dev/hidraw3']);
    expect(badges).toEqual([]);
  });
});
