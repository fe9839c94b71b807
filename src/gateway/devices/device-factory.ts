import type { DoorDevicesConfig } from '../../config/device-config.js';
import type { Logger } from '../../lib/logger.js';
import type { DoorDevices } from './device-ports.js';
import {
  SimulatedBadgeReader,
  SimulatedDoorContact,
  SimulatedExitButton,
  SimulatedIndicator,
  SimulatedKeypad,
  SimulatedLockRelay,
} from './simulated-devices.js';

export interface DeviceContext {
  log: Logger;
}

/**
 * Builds a door's devices from its configuration. Each role picks its adapter by `type`; the
 * adapters contain no decisions, only translation to and from the hardware.
 */
export function createDoorDevices(
  door: string,
  config: DoorDevicesConfig,
  context: DeviceContext,
): DoorDevices {
  const { log } = context;
  const name = (role: string) => `${door}.${role}`;
  return {
    entryReader: new SimulatedBadgeReader(name('entry-reader'), log),
    keypad: new SimulatedKeypad(name('keypad'), log),
    lock: new SimulatedLockRelay(name('lock'), log),
    contact: new SimulatedDoorContact(name('contact'), log),
    ...(config.exitReader ? { exitReader: new SimulatedBadgeReader(name('exit-reader'), log) } : {}),
    ...(config.rex ? { rex: new SimulatedExitButton(name('rex'), log) } : {}),
    ...(config.indicator ? { indicator: new SimulatedIndicator(name('indicator'), log) } : {}),
  };
}
