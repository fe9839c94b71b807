import { join } from 'node:path';
import { loadReaderProfiles } from '../gateway/devices/reader-profiles.js';
import { packageInfo } from '../lib/package-root.js';
import type { DoorDevicesConfig, KeypadDeviceConfig, ReaderDeviceConfig } from './device-config.js';
import type { ConfigProblem } from './explain.js';

/**
 * Two HID roles (readers and keypads, of one door or of several) that could select the same USB
 * device. Each would open it and read every report: two identical readers without a USB serial
 * number would both open the first one, and a badge at the entry reader would also be an exit
 * badge, opening the door without a code. So the configuration must tell them apart, by
 * `serialNumber` or, for devices without one, by `path`. A profile stands for the USB ids it lists.
 * The gateway guards at run time as well (src/gateway/devices/hid-claims.ts), for what the
 * configuration cannot see: which node a path or udev link names.
 */
type HidDevice = Extract<ReaderDeviceConfig | KeypadDeviceConfig, { type: 'hid-keyboard' | 'hid-report' }>;
type HidRole = 'entryReader' | 'exitReader' | 'keypad';

const HID_ROLES: readonly HidRole[] = ['entryReader', 'exitReader', 'keypad'];
type UsbIds = ReadonlyArray<{ vendorId: number; productId: number }>;

/** How selections are compared: a profile's USB ids, and the node a path names. */
export interface HidSelectionResolver {
  /** The USB ids a profile lists; undefined when the profile is unknown. */
  profileIds(profile: string): UsbIds | undefined;
  /** The node a path names (a udev link followed); the path itself where it is not resolved. */
  node(path: string): string;
}

let bundled: ReadonlyMap<string, UsbIds> | undefined;

/** The profiles shipped in hardware/profiles; paths are compared as written (links live on the gateway). */
export const bundledProfiles: HidSelectionResolver = {
  profileIds(profile) {
    if (!bundled) {
      try {
        const profiles = loadReaderProfiles(join(packageInfo().root, 'hardware', 'profiles'));
        bundled = new Map(profiles.map((p) => [p.id, p.match]));
      } catch {
        // Unreadable profiles fail the door at start with their own message; here profiles are
        // then compared by name, as the configuration writes them.
        bundled = new Map();
      }
    }
    return bundled.get(profile);
  },
  node: (path) => path,
};

const hex = (id: number | undefined) => (id === undefined ? '????' : id.toString(16).padStart(4, '0'));

/** The device as the configuration names it: its USB ids, or the profile that lists them. */
function usbDevice(device: HidDevice): string {
  if (device.vendorId !== undefined && device.productId !== undefined)
    return `${hex(device.vendorId)}:${hex(device.productId)}`;
  if (device.type === 'hid-report' && device.profile !== undefined) return `profile ${device.profile}`;
  return `${hex(device.vendorId)}:${hex(device.productId)}`;
}

/** The USB ids the device may have: its own, else its profile's; undefined for an unknown profile. */
function usbIds(device: HidDevice, resolve: HidSelectionResolver): UsbIds | undefined {
  if (device.vendorId !== undefined && device.productId !== undefined)
    return [{ vendorId: device.vendorId, productId: device.productId }];
  if (device.type === 'hid-report' && device.profile !== undefined) return resolve.profileIds(device.profile);
  return undefined;
}

function sameUsbDevice(a: HidDevice, b: HidDevice, resolve: HidSelectionResolver): boolean {
  const [idsA, idsB] = [usbIds(a, resolve), usbIds(b, resolve)];
  if (idsA === undefined || idsB === undefined) return usbDevice(a) === usbDevice(b);
  return idsA.some((x) => idsB.some((y) => x.vendorId === y.vendorId && x.productId === y.productId));
}

/** Nothing in the two configurations keeps them from selecting one device. */
export function couldSelectSameDevice(
  a: HidDevice,
  b: HidDevice,
  resolve: HidSelectionResolver = bundledProfiles,
): boolean {
  if (a.path !== undefined && b.path !== undefined) return resolve.node(a.path) === resolve.node(b.path);
  if (!sameUsbDevice(a, b, resolve)) return false;
  const apart = (key: 'serialNumber' | 'interface') =>
    a[key] !== undefined && b[key] !== undefined && a[key] !== b[key];
  return !apart('serialNumber') && !apart('interface');
}

/**
 * The keypad is the reader's own PIN pad: a Wiegand reader with keypad behind one bridge, both
 * `hid-report`, selecting the same device however written (a profile or the USB ids it lists, a
 * link or the node it names), with the same serialNumber and interface. The one case where two
 * roles read one device.
 */
export function isPinPadOf(
  reader: ReaderDeviceConfig | KeypadDeviceConfig,
  keypad: ReaderDeviceConfig | KeypadDeviceConfig,
  resolve: HidSelectionResolver = bundledProfiles,
): boolean {
  if (reader.type !== 'hid-report' || keypad.type !== 'hid-report') return false;
  const node = (path: string | undefined) => (path === undefined ? undefined : resolve.node(path));
  return (
    node(reader.path) === node(keypad.path) &&
    reader.serialNumber === keypad.serialNumber &&
    reader.interface === keypad.interface &&
    sameUsbDevice(reader, keypad, resolve)
  );
}

interface PlacedRole {
  at: number;
  door: string;
  role: HidRole;
  device: HidDevice;
}

function pinPadPair(a: PlacedRole, b: PlacedRole, resolve: HidSelectionResolver): boolean {
  if (a.at !== b.at) return false;
  const [reader, keypad] = a.role === 'keypad' ? [b, a] : [a, b];
  return (
    keypad.role === 'keypad' && reader.role !== 'keypad' && isPinPadOf(reader.device, keypad.device, resolve)
  );
}

/** A problem for each HID role that could select the device of a role listed before it. */
export function sharedHidDeviceProblems(
  doors: ReadonlyArray<{ id: string; devices: DoorDevicesConfig }>,
  resolve: HidSelectionResolver = bundledProfiles,
): ConfigProblem[] {
  const roles: PlacedRole[] = doors.flatMap((door, at) =>
    HID_ROLES.flatMap((role) => {
      const device = door.devices[role];
      return device && device.type !== 'simulated' ? [{ at, door: door.id, role, device }] : [];
    }),
  );
  const problems: ConfigProblem[] = [];
  for (const [i, role] of roles.entries()) {
    const earlier = roles
      .slice(0, i)
      .find(
        (other) =>
          couldSelectSameDevice(other.device, role.device, resolve) && !pinPadPair(other, role, resolve),
      );
    if (!earlier) continue;
    const which =
      role.device.path !== undefined && role.device.path === earlier.device.path
        ? `path ${role.device.path}`
        : usbDevice(role.device);
    problems.push({
      pointer: `/${role.at}/devices/${role.role}`,
      message:
        `could select the same USB device (${which}) as ${earlier.role} of door ${earlier.door}: ` +
        'nothing tells the two apart, and each would read every badge and key of both. Set a ' +
        'different serialNumber on each or, for devices without a USB serial number, a different ' +
        'path (docs/install-gateway.md, "Several readers of one model")',
    });
  }
  return problems;
}
