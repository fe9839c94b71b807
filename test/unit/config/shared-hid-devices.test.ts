import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/config/config-error.js';
import { GatewayConfig } from '../../../src/config/gateway-config.js';
import { parseConfigText } from '../../../src/config/load-config.js';
import { bundledProfiles, isPinPadOf } from '../../../src/config/shared-hid-devices.js';

/** A gateway whose doors have these devices (YAML flow mappings, one per line); the rest simulated. */
function gateway(...doors: string[]): string {
  const door = (devices: string, at: number) => `  - id: door-${at + 1}
    room: r1
    devices:
      lock: { type: simulated }
      contact: { type: simulated }
${devices
  .trim()
  .split('\n')
  .map((line) => `      ${line}`)
  .join('\n')}`;
  return `kind: gateway\nsite: s1\nid: gw-1\ndoors:\n${doors.map(door).join('\n')}\n`;
}

function problems(text: string): string[] {
  try {
    parseConfigText(text, GatewayConfig, { env: {} });
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
}

const READER = 'type: hid-keyboard, vendorId: 0xffff, productId: 0x0035';
const KEYPAD = 'keypad: { type: hid-keyboard, vendorId: 0x04d9, productId: 0x1203 }';

describe('readers and keypads that could select one USB device', () => {
  it('refuses entry and exit readers of one model that neither serialNumber nor path tells apart', () => {
    const text = gateway(`entryReader: { ${READER} }\nexitReader: { ${READER} }\n${KEYPAD}`);
    expect(problems(text)).toEqual([
      'line 11: doors[0].devices.exitReader: could select the same USB device (ffff:0035) as entryReader ' +
        'of door door-1: nothing tells the two apart, and each would read every badge and key of both. ' +
        'Set a different serialNumber on each or, for devices without a USB serial number, a different ' +
        'path (docs/install-gateway.md, "Several readers of one model")',
    ]);
  });

  it('accepts them with a serial number each', () => {
    const text = gateway(
      `entryReader: { ${READER}, serialNumber: "A1" }\nexitReader: { ${READER}, serialNumber: "B2" }\n${KEYPAD}`,
    );
    expect(problems(text)).toEqual([]);
  });

  it('accepts them with a path each, and refuses them when only one has one', () => {
    const apart = gateway(
      `entryReader: { ${READER}, path: /dev/identgate-entry }\nexitReader: { ${READER}, path: /dev/identgate-exit }\n${KEYPAD}`,
    );
    expect(problems(apart)).toEqual([]);
    const half = gateway(
      `entryReader: { ${READER}, path: /dev/identgate-entry }\nexitReader: { ${READER} }\n${KEYPAD}`,
    );
    expect(problems(half)).toEqual([expect.stringContaining('doors[0].devices.exitReader: could select')]);
  });

  it('refuses two roles on one path, whatever their USB ids', () => {
    const text = gateway(
      `entryReader: { ${READER}, path: /dev/hidraw0 }\nkeypad: { type: hid-keyboard, vendorId: 0x04d9, productId: 0x1203, path: /dev/hidraw0 }`,
    );
    expect(problems(text)).toEqual([
      expect.stringContaining(
        'doors[0].devices.keypad: could select the same USB device (path /dev/hidraw0)',
      ),
    ]);
  });

  it('refuses readers of one model at two doors', () => {
    const text = gateway(
      `entryReader: { ${READER} }\n${KEYPAD.replace('0x1203', '0x1204')}`,
      `entryReader: { ${READER} }\n${KEYPAD}`,
    );
    expect(problems(text)).toEqual([
      expect.stringMatching(
        /^line \d+: doors\[1\]\.devices\.entryReader: could select the same USB device \(ffff:0035\) as entryReader of door door-1/,
      ),
    ]);
  });

  it('accepts a Wiegand reader and its own PIN pad on one bridge, but not two readers through it', () => {
    const bridge = '{ type: hid-report, profile: wiegand-usb-bridge }';
    expect(problems(gateway(`entryReader: ${bridge}\nkeypad: ${bridge}`))).toEqual([]);
    expect(problems(gateway(`entryReader: ${bridge}\nkeypad: ${bridge}\nexitReader: ${bridge}`))).toEqual([
      expect.stringContaining(
        'doors[0].devices.exitReader: could select the same USB device (profile wiegand-usb-bridge) as entryReader',
      ),
    ]);
  });

  it('accepts a reader and its PIN pad on one bridge, one named by profile and one by its USB ids', () => {
    const text = gateway(
      'entryReader: { type: hid-report, profile: wiegand-usb-bridge }\nkeypad: { type: hid-report, vendorId: 0x2341, productId: 0x8036 }',
    );
    expect(problems(text)).toEqual([]);
  });

  it('refuses a reader selected by USB ids that its profile lists for another reader', () => {
    const text = gateway(
      'entryReader: { type: hid-report, profile: wiegand-usb-bridge }\nexitReader: { type: hid-report, vendorId: 0x2341, productId: 0x8036 }\nkeypad: { type: simulated }',
    );
    expect(problems(text)).toEqual([
      expect.stringContaining(
        'doors[0].devices.exitReader: could select the same USB device (2341:8036) as entryReader of door door-1',
      ),
    ]);
  });

  it('refuses a PIN pad that its reader tells apart by serial number but it does not', () => {
    const text = gateway(
      'entryReader: { type: hid-report, profile: wiegand-usb-bridge, serialNumber: "A1" }\nkeypad: { type: hid-report, profile: wiegand-usb-bridge }',
    );
    expect(problems(text)).toEqual([expect.stringContaining('doors[0].devices.keypad: could select')]);
  });

  it('pairs a reader named by a udev link with its PIN pad named by the node the link resolves to', () => {
    const links: Record<string, string> = { '/dev/identgate-bridge': '/dev/hidraw2' };
    const resolve = { ...bundledProfiles, node: (path: string) => links[path] ?? path };
    const bridge = { type: 'hid-report', profile: 'wiegand-usb-bridge' } as const;
    const reader = { ...bridge, path: '/dev/identgate-bridge' } as never;
    const keypad = { ...bridge, path: '/dev/hidraw2' } as never;
    expect(isPinPadOf(reader, keypad, resolve)).toBe(true);
    expect(isPinPadOf(reader, keypad, bundledProfiles)).toBe(false);
  });
});
