import { SimulatedBadgeReader } from '../../../src/gateway/devices/simulated-devices.js';
import { bytesFromBits, encodeWiegand } from '../../../src/gateway/devices/wiegand.js';
import { badgeReaderContract } from './contracts/badge-reader.contract.js';
import { doorRig } from './helpers/door-rig.js';
import { settle } from './helpers/fake-hid.js';
import { typed } from './helpers/hid-reports.js';

badgeReaderContract('simulated', async () => {
  const reader = new SimulatedBadgeReader('main.entry-reader');
  return {
    reader,
    samples: ['0004711', 'AB12CD34'],
    present: async (badge) => reader.present(badge),
    disconnect: async () => reader.setFault('unplugged'),
    reconnect: async () => reader.setFault(undefined),
  };
});

badgeReaderContract('hid-keyboard (keyboard-wedge reader on a fake USB bus)', async () => {
  const device = { path: '/dev/hidraw0', vendorId: 0xffff, productId: 0x0035, usagePage: 1, usage: 6 };
  const { hid, door, retry } = doorRig({
    entryReader: { type: 'hid-keyboard', vendorId: 0xffff, productId: 0x0035 },
  });
  hid.plug(device);
  return {
    reader: door.entryReader,
    samples: ['0013110988', 'AB12CD34'],
    present: async (badge) => {
      for (const report of typed(badge)) hid.send(device.path, report);
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

badgeReaderContract('hid-report (Wiegand reader through the wiegand-usb-bridge profile)', async () => {
  const device = { path: '/dev/hidraw1', vendorId: 0x2341, productId: 0x8036 };
  const { hid, door, retry } = doorRig({
    entryReader: { type: 'hid-report', profile: 'wiegand-usb-bridge' },
  });
  hid.plug(device);
  return {
    reader: door.entryReader,
    samples: ['90-324', '123-4567'],
    present: async (badge) => {
      const [facility, card] = badge.split('-').map(Number);
      const frame = encodeWiegand('h10301', card ?? 0, facility ?? 0);
      hid.send(device.path, [frame.length, ...bytesFromBits(frame, 8, 'right')]);
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
