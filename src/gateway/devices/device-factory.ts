import { join } from 'node:path';
import type {
  ContactDeviceConfig,
  DoorDevicesConfig,
  ExitButtonDeviceConfig,
  IndicatorDeviceConfig,
  KeypadDeviceConfig,
  LockDeviceConfig,
  ReaderDeviceConfig,
} from '../../config/device-config.js';
import { type HidSelectionResolver, isPinPadOf } from '../../config/shared-hid-devices.js';
import { type Clock, systemClock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import { packageInfo } from '../../lib/package-root.js';
import { DeviceError, DeviceErrorCode } from './device-errors.js';
import type {
  BadgeReader,
  DoorContact,
  DoorDevices,
  ExitButton,
  Indicator,
  Keypad,
  LockRelay,
} from './device-ports.js';
import { type GpioConstructor, onoffGpio } from './gpio-backend.js';
import { GpioIndicator } from './gpio-indicator.js';
import { GpioDoorContact, GpioExitButton } from './gpio-input.js';
import { GpioLockRelay } from './gpio-lock.js';
import { type HidBackend, nodeHidBackend } from './hid-backend.js';
import { HidBadgeReader, keyboardBadgeInterpreter, profileBadgeInterpreter } from './hid-badge-reader.js';
import { HidClaims } from './hid-claims.js';
import { HidConnection, type HidSelector, realNode } from './hid-connection.js';
import { HidKeypad, keyboardKeypadInterpreter, profileKeypadInterpreter } from './hid-keypad.js';
import {
  findReaderProfile,
  loadReaderProfiles,
  type ReaderProfile,
  type ReportProfile,
} from './reader-profiles.js';
import { ReportDecoder } from './report-decoder.js';
import {
  SimulatedBadgeReader,
  SimulatedDoorContact,
  SimulatedExitButton,
  SimulatedIndicator,
  SimulatedKeypad,
  SimulatedLockRelay,
} from './simulated-devices.js';

/**
 * What the adapters need from their surroundings. Everything but the logger has a production
 * default, so tests inject fakes (clock, HID, Gpio, a sysfs tree) and callers stay short.
 */
export interface DeviceContext {
  log: Logger;
  /** Inter-character and keypad timeouts, debounce, reconnect backoff. Default: the system clock. */
  clock?: Clock;
  /** The door's fail mode: the lock relay starts and stops in it. Default: `secure` (locked). */
  failMode?: 'secure' | 'safe';
  /** node-hid behind a seam. Default: node-hid, loaded on first use. */
  hid?: HidBackend;
  /**
   * The hidraw nodes the HID roles hold; pass one to every door of a gateway, so that no two of
   * its roles read one device. Default: one for this door.
   */
  hidClaims?: HidClaims;
  /** onoff's Gpio class behind a seam. Default: onoff, loaded when a GPIO device is configured. */
  Gpio?: GpioConstructor;
  /** Where sysfs is mounted, for GPIO chip lookup. Default: /sys. */
  sysfsRoot?: string;
  /** Reader profiles. Default: hardware/profiles in the identgate package. */
  profilesDir?: string;
}

const KEYBOARD_COLLECTION = { usagePage: 0x01, usage: 0x06 };

/**
 * Builds a door's devices from its configuration. Each role picks its adapter by `type`; the
 * adapters contain no decisions, only translation to and from the hardware.
 */
export function createDoorDevices(
  door: string,
  config: DoorDevicesConfig,
  context: DeviceContext,
): DoorDevices {
  const build = new DeviceBuilder(door, context);
  // A Wiegand reader's own PIN pad is read from the reader's device: those two may share it, when
  // both select that device, however each writes the selection.
  const resolver = build.selectionResolver();
  const pinPadOf = isPinPadOf(config.entryReader, config.keypad, resolver)
    ? 'entry-reader'
    : config.exitReader && isPinPadOf(config.exitReader, config.keypad, resolver)
      ? 'exit-reader'
      : undefined;
  const sharing = (role: 'entry-reader' | 'exit-reader') =>
    role === pinPadOf ? `${door}.keypad` : undefined;
  // Same-door readers and keypad read through profiles: one holding the other's node is most
  // likely a reader and its PIN pad selected in two ways, and the fault says so.
  const report = (role: string, device: { type: string } | undefined) =>
    device?.type === 'hid-report' ? [`${door}.${role}`] : [];
  const readers = [
    ...report('entry-reader', config.entryReader),
    ...report('exit-reader', config.exitReader),
  ];
  const keypads = report('keypad', config.keypad);
  return {
    entryReader: build.reader('entry-reader', config.entryReader, sharing('entry-reader'), keypads),
    keypad: build.keypad(config.keypad, pinPadOf && `${door}.${pinPadOf}`, readers),
    lock: build.lock(config.lock),
    contact: build.contact(config.contact),
    ...(config.exitReader
      ? { exitReader: build.reader('exit-reader', config.exitReader, sharing('exit-reader'), keypads) }
      : {}),
    ...(config.rex ? { rex: build.exitButton(config.rex) } : {}),
    ...(config.indicator ? { indicator: build.indicator(config.indicator) } : {}),
  };
}

class DeviceBuilder {
  private readonly log: Logger;
  private readonly clock: Clock;
  private hid: HidBackend | undefined;
  private readonly hidClaims: HidClaims;
  private Gpio: GpioConstructor | undefined;
  private profiles: ReaderProfile[] | undefined;

  constructor(
    private readonly door: string,
    private readonly context: DeviceContext,
  ) {
    this.log = context.log;
    this.clock = context.clock ?? systemClock;
    this.hidClaims = context.hidClaims ?? new HidClaims();
  }

  /** How the door's selections compare: the loaded profiles' USB ids, and udev links followed. */
  selectionResolver(): HidSelectionResolver {
    return {
      profileIds: (profile) => this.loadProfiles().find((p) => p.id === profile)?.match,
      node: realNode,
    };
  }

  /**
   * `sharesWith`: the keypad that is this reader's own PIN pad, on the same device. `pinPads`: the
   * door's keypad, when it is read through a profile (see HidConnectionOptions.partners).
   */
  reader(
    role: 'entry-reader' | 'exit-reader',
    config: ReaderDeviceConfig,
    sharesWith?: string,
    pinPads: readonly string[] = [],
  ): BadgeReader {
    const name = this.name(role);
    if (config.type === 'simulated') return new SimulatedBadgeReader(name, this.log);
    if (config.type === 'hid-keyboard') {
      const connection = this.connection(name, config, [config], { prefer: KEYBOARD_COLLECTION });
      const interpreter = keyboardBadgeInterpreter({ name, clock: this.clock, log: this.log, ...config });
      return new HidBadgeReader(name, connection, interpreter, this.log);
    }
    const profile = this.reportProfile(name, config);
    const connection = this.connection(name, config, this.usbIds(name, profile, config), {
      sharesWith,
      partners: pinPads,
    });
    const decoder = new ReportDecoder(profile, config.badgeId);
    return new HidBadgeReader(name, connection, profileBadgeInterpreter(decoder, name, this.log), this.log);
  }

  /** `sharesWith`: the reader whose own PIN pad this keypad is, on the same device. */
  keypad(config: KeypadDeviceConfig, sharesWith?: string, readers: readonly string[] = []): Keypad {
    const name = this.name('keypad');
    if (config.type === 'simulated') return new SimulatedKeypad(name, this.log);
    const entry = { name, clock: this.clock, log: this.log, ...config };
    if (config.type === 'hid-keyboard') {
      const connection = this.connection(name, config, [config], { prefer: KEYBOARD_COLLECTION });
      return new HidKeypad(name, connection, keyboardKeypadInterpreter(entry), this.log);
    }
    const profile = this.reportProfile(name, config);
    const { payload } = profile;
    if (payload.kind !== 'wiegand' || !payload.formats.some((f) => f === 'keypad-4' || f === 'keypad-8')) {
      throw new DeviceError(
        DeviceErrorCode.deviceConfig,
        `${name}: reader profile "${profile.id}" delivers no keypad frames (keypad-4 or keypad-8)`,
      );
    }
    const connection = this.connection(name, config, this.usbIds(name, profile, config), {
      sharesWith,
      partners: readers,
    });
    return new HidKeypad(
      name,
      connection,
      profileKeypadInterpreter(new ReportDecoder(profile), entry),
      this.log,
    );
  }

  lock(config: LockDeviceConfig): LockRelay {
    const name = this.name('lock');
    const failMode = this.context.failMode ?? 'secure';
    if (config.type === 'simulated') return new SimulatedLockRelay(name, this.log, { failMode });
    return new GpioLockRelay(
      name,
      { ...config, failMode },
      { ...this.gpio(), clock: this.clock, log: this.log },
    );
  }

  contact(config: ContactDeviceConfig): DoorContact {
    const name = this.name('contact');
    if (config.type === 'simulated') return new SimulatedDoorContact(name, this.log);
    return new GpioDoorContact(name, config, { ...this.gpio(), clock: this.clock, log: this.log });
  }

  exitButton(config: ExitButtonDeviceConfig): ExitButton {
    const name = this.name('rex');
    if (config.type === 'simulated') return new SimulatedExitButton(name, this.log);
    return new GpioExitButton(name, config, { ...this.gpio(), clock: this.clock, log: this.log });
  }

  indicator(config: IndicatorDeviceConfig): Indicator {
    const name = this.name('indicator');
    if (config.type === 'simulated') return new SimulatedIndicator(name, this.log);
    const { type: _type, ...outputs } = config;
    return new GpioIndicator(name, outputs, { ...this.gpio(), clock: this.clock, log: this.log });
  }

  private name(role: string): string {
    return `${this.door}.${role}`;
  }

  private connection(
    name: string,
    config: Omit<HidSelector, 'ids' | 'prefer'> & { retryInitialMs: number; retryMaxMs: number },
    ids: HidSelector['ids'],
    {
      prefer,
      sharesWith,
      partners,
    }: { prefer?: HidSelector['prefer']; sharesWith?: string; partners?: readonly string[] } = {},
  ): HidConnection {
    this.hid ??= this.context.hid ?? nodeHidBackend();
    const selector: HidSelector = {
      ids,
      serialNumber: config.serialNumber,
      path: config.path,
      interface: config.interface,
      prefer,
    };
    return new HidConnection({
      name,
      selector,
      backend: this.hid,
      clock: this.clock,
      log: this.log,
      retryInitialMs: config.retryInitialMs,
      retryMaxMs: Math.max(config.retryMaxMs, config.retryInitialMs),
      claims: this.hidClaims,
      sharesWith,
      partners,
    });
  }

  private reportProfile(
    name: string,
    config: { profile?: string; vendorId?: number; productId?: number; reportId?: number },
  ): ReportProfile {
    const profile = findReaderProfile(this.loadProfiles(), config);
    if (profile.protocol !== 'report') {
      throw new DeviceError(
        DeviceErrorCode.deviceConfig,
        `${name}: reader profile "${profile.id}" describes a keyboard-wedge reader; use type: hid-keyboard`,
      );
    }
    return config.reportId === undefined ? profile : { ...profile, reportId: config.reportId };
  }

  private loadProfiles(): ReaderProfile[] {
    this.profiles ??= loadReaderProfiles(
      this.context.profilesDir ?? join(packageInfo().root, 'hardware', 'profiles'),
    );
    return this.profiles;
  }

  private usbIds(
    name: string,
    profile: ReportProfile,
    config: { vendorId?: number; productId?: number },
  ): HidSelector['ids'] {
    if (config.vendorId !== undefined && config.productId !== undefined) {
      return [{ vendorId: config.vendorId, productId: config.productId }];
    }
    if (profile.match.length === 0) {
      throw new DeviceError(
        DeviceErrorCode.deviceConfig,
        `${name}: reader profile "${profile.id}" lists no USB ids; set vendorId and productId (see \`lsusb\`)`,
      );
    }
    return profile.match;
  }

  private gpio(): { Gpio: GpioConstructor; sysfsRoot: string } {
    if (!this.Gpio) {
      try {
        this.Gpio = this.context.Gpio ?? onoffGpio();
      } catch (error) {
        throw new DeviceError(
          DeviceErrorCode.gpioSysfsUnavailable,
          `cannot load onoff for GPIO devices: ${error instanceof Error ? error.message : String(error)}`,
          { cause: error },
        );
      }
    }
    return { Gpio: this.Gpio, sysfsRoot: this.context.sysfsRoot ?? '/sys' };
  }
}
