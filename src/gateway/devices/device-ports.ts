import type { Signal } from '../../lib/signal.js';

/**
 * The small capability interfaces every door device implements, whether it is a USB HID reader,
 * a GPIO line or a simulation. Adapters translate hardware into these and make no decisions.
 */
export type DeviceRole = 'entry-reader' | 'exit-reader' | 'keypad' | 'lock' | 'contact' | 'rex' | 'indicator';

/** A device went away (unplugged, permission lost, I/O error) or came back. */
export type DeviceHealth =
  | { device: string; state: 'fault'; message: string }
  | { device: string; state: 'ok' };

export interface Device {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  readonly health: Signal<DeviceHealth>;
}

/** Delivers a badge id each time a card is presented. */
export interface BadgeReader extends Device {
  readonly badges: Signal<string>;
}

/** Delivers the digits typed before the submit key. */
export interface Keypad extends Device {
  readonly entries: Signal<string>;
  /** Forgets digits typed but not yet submitted (a badge came: they are not its code). */
  clearEntry(): void;
}

export type LockState = 'locked' | 'unlocked';

/**
 * The lock relay. `unlock()` releases the door; `lock()` secures it. `state` is what the relay
 * carries: a command whose write fails leaves it as it was (and raises a fault) until a retried
 * write goes through, which `changes` reports.
 */
export interface LockRelay extends Device {
  readonly state: LockState;
  readonly changes: Signal<LockState>;
  /**
   * Opens the output and drives the door's fail-mode state at once: the first thing the gateway
   * does. start() does it when it has not been done. Throws when the output cannot be opened.
   */
  driveFailMode(): void;
  unlock(): void;
  lock(): void;
}

/** The door contact: true while the door stands open, undefined while it cannot be read. */
export interface DoorContact extends Device {
  readonly changes: Signal<boolean>;
  isOpen(): boolean | undefined;
}

/** The request-to-exit button (or motion sensor) inside the room. */
export interface ExitButton extends Device {
  readonly presses: Signal<void>;
}

/** What the reader's LED and buzzer tell the person at the door. */
export type IndicatorPattern = 'idle' | 'awaiting-code' | 'granted' | 'denied' | 'alarm';

export interface Indicator extends Device {
  readonly pattern: IndicatorPattern;
  show(pattern: IndicatorPattern): void;
}

export interface DoorDevices {
  entryReader: BadgeReader;
  keypad: Keypad;
  lock: LockRelay;
  contact: DoorContact;
  exitReader?: BadgeReader;
  rex?: ExitButton;
  indicator?: Indicator;
}

/** Every device of a door with its role, for starting, stopping and health reporting. */
export function devicesWithRoles(devices: DoorDevices): Array<{ role: DeviceRole; device: Device }> {
  const list: Array<{ role: DeviceRole; device: Device | undefined }> = [
    { role: 'lock', device: devices.lock },
    { role: 'contact', device: devices.contact },
    { role: 'entry-reader', device: devices.entryReader },
    { role: 'keypad', device: devices.keypad },
    { role: 'exit-reader', device: devices.exitReader },
    { role: 'rex', device: devices.rex },
    { role: 'indicator', device: devices.indicator },
  ];
  return list.filter((d): d is { role: DeviceRole; device: Device } => d.device !== undefined);
}
