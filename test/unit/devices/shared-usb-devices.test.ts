import { afterEach, describe, expect, it } from 'vitest';
import { bytesFromBits, encodeWiegand } from '../../../src/gateway/devices/wiegand.js';
import type { DoorRuntime } from '../../../src/gateway/door-runtime.js';
import { settle } from './helpers/fake-hid.js';
import { typed } from './helpers/hid-reports.js';
import { ADA_BADGE, runtimeRig } from './helpers/runtime-rig.js';

/**
 * Readers and keypads of a gateway as the DoorRuntime runs them on a (fake) USB bus: no two roles
 * read one device, except a Wiegand reader and its own PIN pad behind one bridge.
 */
const READER = { path: '/dev/hidraw0', vendorId: 0xffff, productId: 0x0035, usagePage: 1, usage: 6 };
const SECOND_READER = { ...READER, path: '/dev/hidraw5' };
const BRIDGE = { path: '/dev/hidraw2', vendorId: 0x2341, productId: 0x8036 };

/** Two identical keyboard-wedge readers, neither with a USB serial number. */
const sameModel = { type: 'hid-keyboard', vendorId: 0xffff, productId: 0x0035, minLength: 8 };

const running: DoorRuntime[] = [];
afterEach(async () => {
  for (const runtime of running.splice(0)) await runtime.stop();
});

async function started(doors: Parameters<typeof runtimeRig>[0]) {
  const rig = runtimeRig(doors);
  running.push(rig.runtime);
  await rig.start();
  return rig;
}

describe('one USB device per HID role', () => {
  it('gives entry and exit readers of one model a device each: a badge outside awaits its code', async () => {
    const rig = runtimeRig({ main: { entryReader: sameModel, exitReader: sameModel } });
    rig.hid.plug(READER);
    rig.hid.plug(SECOND_READER);
    running.push(rig.runtime);
    await rig.start();
    for (const report of typed(ADA_BADGE)) rig.hid.send(READER.path, report);
    expect(rig.decisions()).toEqual([]);
    expect(rig.events.filter((e) => e.kind === 'door.unlocked')).toEqual([]);
    expect([READER.path, SECOND_READER.path].map((p) => rig.hid.openHandles(p).length)).toEqual([1, 1]);
  });

  it('reports the second reader missing, not sharing the first, when only one is connected', async () => {
    const rig = runtimeRig({ main: { entryReader: sameModel, exitReader: sameModel } });
    rig.hid.plug(READER);
    running.push(rig.runtime);
    await rig.start();
    expect(rig.hid.openHandles(READER.path)).toHaveLength(1);
    expect(rig.faults()).toEqual(['device-fault:main:exit-reader']);
    const fault = rig.events.find((e) => e.kind === 'alarm.raised');
    expect(fault?.data).toMatchObject({
      detail: expect.stringContaining('/dev/hidraw0 (held by main.entry-reader)'),
    });
    for (const report of typed(ADA_BADGE)) rig.hid.send(READER.path, report);
    expect(rig.decisions()).toEqual([]);
  });

  it('keeps the readers of two doors apart too', async () => {
    const rig = runtimeRig({ main: { entryReader: sameModel }, side: { entryReader: sameModel } });
    rig.hid.plug(READER);
    running.push(rig.runtime);
    await rig.start();
    expect(rig.hid.openHandles(READER.path)).toHaveLength(1);
    expect(rig.faults()).toEqual(['device-fault:side:entry-reader']);
  });

  it('connects the second reader once it is plugged in', async () => {
    const rig = await started({ main: { entryReader: sameModel, exitReader: sameModel } });
    rig.hid.plug(READER);
    rig.hid.plug(SECOND_READER);
    // The entry reader may have come up first or second: both retry within a minute.
    rig.clock.advance(60_000);
    await settle();
    expect([READER.path, SECOND_READER.path].map((p) => rig.hid.openHandles(p).length)).toEqual([1, 1]);
  });

  const byProfile = { type: 'hid-report', profile: 'wiegand-usb-bridge' };
  const byIds = { type: 'hid-report', vendorId: 0x2341, productId: 0x8036 };
  it.each([
    ['both by profile', byProfile, byProfile],
    ['the reader by profile, the keypad by USB ids', byProfile, byIds],
    ['the reader by USB ids, the keypad by profile', byIds, byProfile],
  ])(
    'reads a Wiegand reader and its own PIN pad from one bridge (%s): badge, then code, opens',
    async (_, reader, keypad) => {
      const rig = runtimeRig({ main: { entryReader: reader, keypad } }, '123-4567');
      rig.hid.plug(BRIDGE);
      running.push(rig.runtime);
      await rig.start();
      expect(rig.hid.openHandles(BRIDGE.path)).toHaveLength(2);
      const card = encodeWiegand('h10301', 4567, 123);
      rig.hid.send(BRIDGE.path, [card.length, ...bytesFromBits(card, 8, 'right')]);
      /** An 8-bit keypad burst: the key in the low nibble, its complement in the high one. */
      const burst = (key: number) => [8, 0, 0, 0, 0, 0, 0, 0, ((~key & 0x0f) << 4) | key];
      for (const digit of rig.code()) rig.hid.send(BRIDGE.path, burst(Number(digit)));
      rig.hid.send(BRIDGE.path, burst(11));
      expect(rig.decisions()).toEqual([['access.granted', 'in']]);
      expect(rig.faults()).toEqual([]);
    },
  );

  it('tells the installer how to pair a PIN pad whose bridge its reader holds unpaired', async () => {
    const rig = runtimeRig({
      main: { entryReader: { ...byProfile, serialNumber: 'A1' }, keypad: byProfile },
    });
    rig.hid.plug({ ...BRIDGE, serialNumber: 'A1' });
    running.push(rig.runtime);
    await rig.start();
    expect(rig.hid.openHandles(BRIDGE.path)).toHaveLength(1);
    const alarms = rig.events.flatMap((e) => (e.kind === 'alarm.raised' ? [e.data] : []));
    expect(alarms).toEqual([
      expect.objectContaining({
        key: 'device-fault:main:keypad',
        detail: expect.stringMatching(
          /main\.keypad: its device \/dev\/hidraw2 is held by main\.entry-reader of the same door, and the two are not paired as a reader and its PIN pad\. If this is that reader's own PIN pad, select both the same way/,
        ),
      }),
    ]);
  });
});
