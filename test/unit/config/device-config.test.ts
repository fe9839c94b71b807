import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/config/config-error.js';
import { GatewayConfig } from '../../../src/config/gateway-config.js';
import { loadConfigFile, parseConfigText } from '../../../src/config/load-config.js';

function gateway(devices: string): string {
  return `kind: gateway
site: s1
id: gw-1
doors:
  - id: main
    room: r1
    devices:
${devices
  .trim()
  .split('\n')
  .map((line) => `      ${line}`)
  .join('\n')}
`;
}

const SIMULATED_REST = `keypad: { type: simulated }
lock: { type: simulated }
contact: { type: simulated }`;

function problems(text: string): string[] {
  try {
    parseConfigText(text, GatewayConfig, { env: {} });
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('device configuration', () => {
  it('loads the hardware example, with real devices for every role', () => {
    const config = loadConfigFile('config/gateway.hardware.example.yaml', GatewayConfig, { env: {} });
    const devices = config.doors[0]?.devices;
    expect(
      Object.fromEntries(Object.entries(devices ?? {}).map(([role, device]) => [role, device.type])),
    ).toEqual({
      entryReader: 'hid-keyboard',
      keypad: 'hid-keyboard',
      exitReader: 'hid-report',
      lock: 'gpio',
      contact: 'gpio',
      rex: 'gpio',
      indicator: 'gpio',
    });
  });

  it('fills the documented defaults of the chosen device type', () => {
    const config = parseConfigText(
      gateway(`
entryReader: { type: hid-keyboard, vendorId: 0xffff, productId: 0x0035 }
keypad: { type: simulated }
lock: { type: gpio, pin: 17 }
contact: { type: gpio, pin: { chip: pinctrl-rp1, line: 27 } }
rex: { type: gpio, pin: 22 }`),
      GatewayConfig,
      { env: {} },
    );
    expect(config.doors[0]?.devices).toEqual({
      entryReader: {
        type: 'hid-keyboard',
        vendorId: 0xffff,
        productId: 0x0035,
        interCharTimeoutMs: 200,
        minLength: 4,
        maxLength: 32,
        retryInitialMs: 500,
        retryMaxMs: 30_000,
      },
      keypad: { type: 'simulated' },
      lock: { type: 'gpio', pin: 17, activeLow: false, energised: 'unlocked' },
      contact: { type: 'gpio', pin: { chip: 'pinctrl-rp1', line: 27 }, activeLow: false, debounceMs: 50 },
      rex: { type: 'gpio', pin: 22, activeLow: true, debounceMs: 50 },
    });
  });

  it('names the allowed types when a type is unknown', () => {
    expect(problems(gateway(`entryReader: { type: usb }\n${SIMULATED_REST}`))).toEqual([
      'line 8: doors[0].devices.entryReader.type: must be one of "simulated", "hid-keyboard", "hid-report", got "usb"',
    ]);
  });

  it('names a key the chosen type requires', () => {
    expect(
      problems(gateway(`entryReader: { type: hid-keyboard, vendorId: 0xffff }\n${SIMULATED_REST}`)),
    ).toEqual([
      expect.stringMatching(
        /^line 8: doors\[0\]\.devices\.entryReader\.productId: is required: an integer from 0 to 65535/,
      ),
    ]);
  });

  it('names a bad value of the chosen type, with what is allowed', () => {
    const text = gateway(`entryReader: { type: simulated }
keypad: { type: simulated }
lock: { type: simulated }
contact: { type: gpio, pin: 27, debounceMs: 5000 }`);
    expect(problems(text)).toEqual([
      expect.stringMatching(
        /^line 11: doors\[0\]\.devices\.contact\.debounceMs: must be an integer from 0 to 1000/,
      ),
    ]);
  });

  it('names a key the chosen type does not have', () => {
    const text = gateway(
      `entryReader: { type: simulated }\n${SIMULATED_REST.replace('lock: { type: simulated }', 'lock: { type: gpio, pin: 17, invert: true }')}`,
    );
    expect(problems(text)).toEqual([
      'line 10: doors[0].devices.lock.invert: unknown key; allowed here: type, pin, activeLow, energised',
    ]);
  });

  it('explains the two ways to name a pin', () => {
    const text = gateway(
      `entryReader: { type: simulated }\n${SIMULATED_REST.replace('lock: { type: simulated }', 'lock: { type: gpio, pin: { chip: pinctrl-rp1 } }')}`,
    );
    expect(problems(text)).toEqual([
      expect.stringContaining(
        'doors[0].devices.lock.pin: must be { chip: <gpiochip label>, line: <offset> }',
      ),
    ]);
  });

  it('refuses an indicator without any output', () => {
    const text = gateway(`entryReader: { type: simulated }\n${SIMULATED_REST}\nindicator: { type: gpio }`);
    expect(problems(text)).toEqual([
      expect.stringContaining('doors[0].devices.indicator: must be reader LEDs and buzzer on GPIO outputs'),
    ]);
  });
});
