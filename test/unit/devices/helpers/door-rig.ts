import { DoorDevicesConfig } from '../../../../src/config/device-config.js';
import { createDoorDevices } from '../../../../src/gateway/devices/device-factory.js';
import type { DoorDevices } from '../../../../src/gateway/devices/device-ports.js';
import { FakeClock } from '../../../../src/lib/clock.js';
import { silentLogger } from '../../../../src/lib/logger.js';
import { configured } from './device-configs.js';
import { FakeGpioBoard, fakeSysfs, PI5_CHIPS } from './fake-gpio.js';
import { FakeHidBackend, settle } from './fake-hid.js';

const SIMULATED = { type: 'simulated' };

/**
 * One door's devices built by the factory from configuration, with a fake USB bus, a fake GPIO
 * header on a Raspberry Pi 5 sysfs tree and a FakeClock: the way the gateway builds them.
 */
export function doorRig(devices: Record<string, unknown>, failMode: 'secure' | 'safe' = 'secure') {
  const clock = new FakeClock();
  const hid = new FakeHidBackend();
  const board = new FakeGpioBoard();
  const config = configured(DoorDevicesConfig, {
    entryReader: SIMULATED,
    keypad: SIMULATED,
    lock: SIMULATED,
    contact: SIMULATED,
    ...devices,
  });
  const door: DoorDevices = createDoorDevices('main', config, {
    log: silentLogger,
    clock,
    failMode,
    hid,
    Gpio: board.Gpio,
    sysfsRoot: fakeSysfs(PI5_CHIPS),
  });
  /** Moves time on far enough for a reconnect attempt, and lets it finish. */
  const retry = async () => {
    clock.advance(60_000);
    await settle();
  };
  return { clock, hid, board, door, retry };
}

/** sysfs number of a Raspberry Pi 5 header GPIO (pinctrl-rp1 at base 571). */
export const rp1 = (line: number) => 571 + line;
