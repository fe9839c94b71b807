import type { DoorDevicesConfig, KeypadDeviceConfig, ReaderDeviceConfig } from './device-config.js';
import type { ConfigProblem } from './explain.js';

/**
 * Two HID roles (readers and keypads, of one door or of several) that could select the same USB
 * device. Each would open it and read every report: two identical readers without a USB serial
 * number would both open the first one, and a badge at the entry reader would also be an exit
 * badge, opening the door without a code. So the configuration must tell them apart, by
 * `serialNumber` or, for devices without one, by `path`. The gateway guards at run time as well
 * (src/gateway/devices/hid-claims.ts), for what the configuration cannot see: a profile's USB ids.
 */
type HidDevice = Extract<ReaderDeviceConfig | KeypadDeviceConfig, { type: 'hid-keyboard' | 'hid-report' }>;
type HidRole = 'entryReader' | 'exitReader' | 'keypad';

const HID_ROLES: readonly HidRole[] = ['entryReader', 'exitReader', 'keypad'];
const SELECTION = ['profile', 'vendorId', 'productId', 'serialNumber', 'path', 'interface'] as const;

const hex = (id: number | undefined) => (id === undefined ? '????' : id.toString(16).padStart(4, '0'));

/** The device as the configuration names it: its USB ids, or the profile that lists them. */
function usbDevice(device: HidDevice): string {
  if (device.vendorId !== undefined && device.productId !== undefined)
    return `${hex(device.vendorId)}:${hex(device.productId)}`;
  if (device.type === 'hid-report' && device.profile !== undefined) return `profile ${device.profile}`;
  return `${hex(device.vendorId)}:${hex(device.productId)}`;
}

/** Nothing in the two configurations keeps them from selecting one device. */
export function couldSelectSameDevice(a: HidDevice, b: HidDevice): boolean {
  if (a.path !== undefined && b.path !== undefined) return a.path === b.path;
  if (usbDevice(a) !== usbDevice(b)) return false;
  const apart = (key: 'serialNumber' | 'interface') =>
    a[key] !== undefined && b[key] !== undefined && a[key] !== b[key];
  return !apart('serialNumber') && !apart('interface');
}

/**
 * The keypad is the reader's own PIN pad: a Wiegand reader with keypad behind one bridge, both
 * read through a profile and selected alike. The one case where two roles read one device.
 */
export function isPinPadOf(
  reader: ReaderDeviceConfig | KeypadDeviceConfig,
  keypad: ReaderDeviceConfig | KeypadDeviceConfig,
): boolean {
  return (
    reader.type === 'hid-report' &&
    keypad.type === 'hid-report' &&
    SELECTION.every((key) => reader[key] === keypad[key])
  );
}

interface PlacedRole {
  at: number;
  door: string;
  role: HidRole;
  device: HidDevice;
}

function pinPadPair(a: PlacedRole, b: PlacedRole): boolean {
  if (a.at !== b.at) return false;
  const [reader, keypad] = a.role === 'keypad' ? [b, a] : [a, b];
  return keypad.role === 'keypad' && reader.role !== 'keypad' && isPinPadOf(reader.device, keypad.device);
}

/** A problem for each HID role that could select the device of a role listed before it. */
export function sharedHidDeviceProblems(
  doors: ReadonlyArray<{ id: string; devices: DoorDevicesConfig }>,
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
      .find((other) => couldSelectSameDevice(other.device, role.device) && !pinPadPair(other, role));
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
