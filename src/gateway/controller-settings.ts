import type { RoomConfig } from '../config/door-policy-config.js';
import type { DoorConfig } from '../config/gateway-config.js';
import type { DoorSettings } from '../controllers/door-ports.js';
import type { RoomSettings } from '../controllers/room-state.js';

/**
 * The settings the controllers are built with, from the gateway's configuration: seconds and
 * minutes become milliseconds, and a room takes its rules from its entry in `rooms` (defaults
 * for a room only doors name).
 */

const MINUTE = 60_000;

/** One door's controller settings. */
export function doorSettings(door: DoorConfig): DoorSettings {
  return {
    id: door.id,
    room: door.room,
    unlockMs: door.unlockSeconds * 1000,
    codeTimeoutMs: door.codeTimeoutSeconds * 1000,
    heldOpenMs: door.heldOpenSeconds * 1000,
    failMode: door.failMode,
    exitRequiresCode: door.exitRequiresCode,
  };
}

/**
 * One room's settings. It tracks who is inside when a rule needs it (anti-passback, first person
 * in) or when one of its doors has an exit reader.
 */
export function roomSettings(id: string, rooms: RoomConfig[], doors: DoorConfig[]): RoomSettings {
  const config = rooms.find((r) => r.id === id);
  return {
    id,
    antiPassback: config?.antiPassback ?? 'off',
    ...(config?.antiPassbackResetMinutes !== undefined
      ? { antiPassbackResetMs: config.antiPassbackResetMinutes * MINUTE }
      : {}),
    ...(config?.twoPersonRule ? { twoPersonWindowMs: config.twoPersonRule.withinSeconds * 1000 } : {}),
    firstPersonIn: config?.firstPersonIn ?? false,
    tracksOccupancy:
      (config?.antiPassback ?? 'off') !== 'off' ||
      config?.firstPersonIn === true ||
      doors.some((d) => d.room === id && d.devices.exitReader !== undefined),
  };
}

/** A failure throttle's settings (badge or reader). */
export function throttleSettings(config: {
  maxFailures: number;
  windowMinutes: number;
  lockoutMinutes: number;
}) {
  return {
    maxFailures: config.maxFailures,
    windowMs: config.windowMinutes * MINUTE,
    lockoutMs: config.lockoutMinutes * MINUTE,
  };
}
