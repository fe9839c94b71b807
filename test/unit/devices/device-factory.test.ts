import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DoorDevicesConfig } from '../../../src/config/device-config.js';
import { createDoorDevices } from '../../../src/gateway/devices/device-factory.js';
import { devicesWithRoles } from '../../../src/gateway/devices/device-ports.js';
import { GpioIndicator } from '../../../src/gateway/devices/gpio-indicator.js';
import { GpioDoorContact, GpioExitButton } from '../../../src/gateway/devices/gpio-input.js';
import { GpioLockRelay } from '../../../src/gateway/devices/gpio-lock.js';
import { HidBadgeReader } from '../../../src/gateway/devices/hid-badge-reader.js';
import { HidKeypad } from '../../../src/gateway/devices/hid-keypad.js';
import {
  SimulatedBadgeReader,
  SimulatedDoorContact,
  SimulatedKeypad,
  SimulatedLockRelay,
} from '../../../src/gateway/devices/simulated-devices.js';
import { silentLogger } from '../../../src/lib/logger.js';
import { configured } from './helpers/device-configs.js';
import { doorRig } from './helpers/door-rig.js';
import { FakeHidBackend } from './helpers/fake-hid.js';

const SIMULATED = { type: 'simulated' } as const;
const PIN = { chip: 'pinctrl-rp1', line: 17 };

function failure(fn: () => unknown): { code?: string; message: string } {
  try {
    fn();
  } catch (error) {
    if (error instanceof Error) return { code: (error as { code?: string }).code, message: error.message };
  }
  throw new Error('expected an error');
}

describe('the device factory', () => {
  it('builds the simulated devices of a simulated door with nothing but a logger', () => {
    const config = configured(DoorDevicesConfig, {
      entryReader: SIMULATED,
      keypad: SIMULATED,
      lock: SIMULATED,
      contact: SIMULATED,
    });
    const door = createDoorDevices('main', config, { log: silentLogger });
    expect(door.entryReader).toBeInstanceOf(SimulatedBadgeReader);
    expect(door.keypad).toBeInstanceOf(SimulatedKeypad);
    expect(door.lock).toBeInstanceOf(SimulatedLockRelay);
    expect(door.contact).toBeInstanceOf(SimulatedDoorContact);
    expect(devicesWithRoles(door).map((d) => d.device.name)).toEqual([
      'main.lock',
      'main.contact',
      'main.entry-reader',
      'main.keypad',
    ]);
  });

  it('picks each role’s adapter from its type, real and simulated side by side', () => {
    const { door } = doorRig({
      entryReader: { type: 'hid-keyboard', vendorId: 0xffff, productId: 0x0035 },
      exitReader: { type: 'hid-report', profile: 'wiegand-usb-bridge' },
      keypad: { type: 'hid-keyboard', vendorId: 0x04d9, productId: 0x1203 },
      lock: { type: 'gpio', pin: PIN },
      contact: { type: 'gpio', pin: 598 },
      rex: { type: 'gpio', pin: { chip: 'pinctrl-rp1', line: 22 } },
      indicator: { type: 'gpio', green: { pin: { chip: 'pinctrl-rp1', line: 23 } } },
    });
    expect(door.entryReader).toBeInstanceOf(HidBadgeReader);
    expect(door.exitReader).toBeInstanceOf(HidBadgeReader);
    expect(door.keypad).toBeInstanceOf(HidKeypad);
    expect(door.lock).toBeInstanceOf(GpioLockRelay);
    expect(door.contact).toBeInstanceOf(GpioDoorContact);
    expect(door.rex).toBeInstanceOf(GpioExitButton);
    expect(door.indicator).toBeInstanceOf(GpioIndicator);
  });

  it('gives the lock the door’s fail mode, simulated or real', () => {
    expect(doorRig({}, 'safe').door.lock.state).toBe('unlocked');
    expect(doorRig({ lock: { type: 'gpio', pin: PIN } }, 'safe').door.lock.state).toBe('unlocked');
    expect(doorRig({ lock: { type: 'gpio', pin: PIN } }, 'secure').door.lock.state).toBe('locked');
  });

  it('finds a raw-report reader’s profile by its USB id', async () => {
    const { door, hid } = doorRig({
      entryReader: { type: 'hid-report', vendorId: 0x1b4f, productId: 0x9206 },
    });
    hid.plug({ path: '/dev/hidraw9', vendorId: 0x1b4f, productId: 0x9206 });
    const badges: string[] = [];
    door.entryReader.badges.on((b) => badges.push(b));
    await door.entryReader.start();
    hid.send('/dev/hidraw9', [26, 0, 0, 0, 0, 0, 0xb4, 0x02, 0x88]);
    expect(badges).toEqual(['90-324']);
  });

  it('refuses a raw-report reader whose profile lists no USB ids when the configuration gives none', () => {
    expect(
      failure(() => doorRig({ entryReader: { type: 'hid-report', profile: 'em4100-raw-reader' } })),
    ).toEqual({
      code: 'IDG_DEVICE_CONFIG',
      message:
        'main.entry-reader: reader profile "em4100-raw-reader" lists no USB ids; set vendorId and productId (see `lsusb`)',
    });
  });

  it('refuses a keyboard-wedge profile for a raw-report reader', () => {
    expect(
      failure(() => doorRig({ entryReader: { type: 'hid-report', profile: 'sycreader-em4100-keyboard' } })),
    ).toMatchObject({
      code: 'IDG_DEVICE_CONFIG',
      message: expect.stringContaining('use type: hid-keyboard'),
    });
  });

  it('refuses a raw-report keypad whose profile has no keypad frames', () => {
    expect(
      failure(() =>
        doorRig({ keypad: { type: 'hid-report', profile: 'em4100-raw-reader', vendorId: 1, productId: 2 } }),
      ),
    ).toMatchObject({
      code: 'IDG_DEVICE_CONFIG',
      message: expect.stringContaining('delivers no keypad frames'),
    });
  });

  it('reads reader profiles from the directory the context names', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-profiles-'));
    const bridge = readFileSync('hardware/profiles/wiegand-usb-bridge.yaml', 'utf8');
    writeFileSync(
      join(dir, 'site-bridge.yaml'),
      bridge
        .replace('id: wiegand-usb-bridge', 'id: site-bridge')
        .replace('0x2341, productId: 0x8036', '0x1209, productId: 0x0001'),
    );
    const hid = new FakeHidBackend();
    const config = configured(DoorDevicesConfig, {
      entryReader: { type: 'hid-report', vendorId: 0x1209, productId: 0x0001 },
      keypad: SIMULATED,
      lock: SIMULATED,
      contact: SIMULATED,
    });
    const door = createDoorDevices('main', config, { log: silentLogger, hid, profilesDir: dir });
    hid.plug({ path: '/dev/hidraw7', vendorId: 0x1209, productId: 0x0001 });
    const badges: string[] = [];
    door.entryReader.badges.on((b) => badges.push(b));
    await door.entryReader.start();
    hid.send('/dev/hidraw7', [26, 0, 0, 0, 0, 0, 0xb4, 0x02, 0x88]);
    expect(badges).toEqual(['90-324']);
    await door.entryReader.stop();
  });
});
