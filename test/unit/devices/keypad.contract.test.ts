import { SimulatedKeypad } from '../../../src/gateway/devices/simulated-devices.js';
import { keypadContract } from './contracts/keypad.contract.js';
import { doorRig } from './helpers/door-rig.js';
import { settle } from './helpers/fake-hid.js';
import { KEY_UP, KEYPAD_ENTER, keyReport } from './helpers/hid-reports.js';

keypadContract('simulated', async () => {
  const keypad = new SimulatedKeypad('main.keypad');
  return {
    keypad,
    enter: async (digits) => keypad.type(digits),
    leave: async () => {},
    disconnect: async () => keypad.setFault('unplugged'),
    reconnect: async () => keypad.setFault(undefined),
  };
});

/** Keypad-block usages: 1-9 are 0x59-0x61, 0 is 0x62. */
const keypadUsage = (digit: string) => (digit === '0' ? 0x62 : 0x58 + Number(digit));

keypadContract('hid-keyboard (USB numeric keypad on a fake USB bus)', async () => {
  const device = { path: '/dev/hidraw2', vendorId: 0x04d9, productId: 0x1203, usagePage: 1, usage: 6 };
  const { hid, door, retry } = doorRig({
    keypad: { type: 'hid-keyboard', vendorId: 0x04d9, productId: 0x1203 },
  });
  hid.plug(device);
  return {
    keypad: door.keypad,
    enter: async (digits) => {
      for (const digit of digits)
        for (const r of [keyReport(0, keypadUsage(digit)), KEY_UP]) hid.send(device.path, r);
      for (const r of [keyReport(0, KEYPAD_ENTER), KEY_UP]) hid.send(device.path, r);
    },
    leave: async (digits) => {
      for (const digit of digits)
        for (const r of [keyReport(0, keypadUsage(digit)), KEY_UP]) hid.send(device.path, r);
    },
    disconnect: async () => {
      hid.unplug(device.path);
      await settle();
    },
    reconnect: async () => {
      hid.plug(device);
      await retry();
    },
  };
});

keypadContract("hid-report (a Wiegand reader's PIN pad through the wiegand-usb-bridge profile)", async () => {
  const device = { path: '/dev/hidraw5', vendorId: 0x2341, productId: 0x8036 };
  const { hid, door, retry } = doorRig({ keypad: { type: 'hid-report', profile: 'wiegand-usb-bridge' } });
  hid.plug(device);
  /** An 8-bit keypad burst: the key in the low nibble, its complement in the high one. */
  const burst = (key: number) => [8, 0, 0, 0, 0, 0, 0, 0, ((~key & 0x0f) << 4) | key];
  return {
    keypad: door.keypad,
    enter: async (digits) => {
      for (const digit of digits) hid.send(device.path, burst(Number(digit)));
      hid.send(device.path, burst(11));
    },
    leave: async (digits) => {
      for (const digit of digits) hid.send(device.path, burst(Number(digit)));
    },
    disconnect: async () => {
      hid.unplug(device.path);
      await settle();
    },
    reconnect: async () => {
      hid.plug(device);
      await retry();
    },
  };
});
