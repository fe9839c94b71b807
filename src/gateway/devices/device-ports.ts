import type { Signal } from '../../lib/signal.js';

/**
 * The small capability interfaces every door device implements, whether it is a USB HID reader,
 * a GPIO line or a simulation. Adapters translate hardware into these and make no decisions.
 */
export interface DeviceFault {
  device: string;
  message: string;
}

interface Device {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  readonly faults: Signal<DeviceFault>;
}

/** Delivers a badge id each time a card is presented. */
export interface BadgeReader extends Device {
  readonly badges: Signal<string>;
}

/** Delivers the digits typed before the submit key. */
export interface Keypad extends Device {
  readonly entries: Signal<string>;
}

/** The lock relay. `unlock()` releases the door; `lock()` secures it. */
export interface LockRelay extends Device {
  readonly state: 'locked' | 'unlocked';
  unlock(): void;
  lock(): void;
}

/** The door contact: true while the door stands open. */
export interface DoorContact extends Device {
  readonly changes: Signal<boolean>;
  isOpen(): boolean;
}

export interface DoorDevices {
  entryReader: BadgeReader;
  keypad: Keypad;
  lock: LockRelay;
  contact: DoorContact;
}
