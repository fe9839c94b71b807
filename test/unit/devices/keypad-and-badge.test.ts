import { afterEach, describe, expect, it } from 'vitest';
import type { DoorRuntime } from '../../../src/gateway/door-runtime.js';
import { typed } from './helpers/hid-reports.js';
import { ADA_BADGE, keypadReports, runtimeRig } from './helpers/runtime-rig.js';

/** A USB numeric keypad and a keyboard-wedge reader at one door, as the DoorRuntime runs them. */
const READER = { path: '/dev/hidraw0', vendorId: 0xffff, productId: 0x0035, usagePage: 1, usage: 6 };
const KEYPAD = { path: '/dev/hidraw1', vendorId: 0x04d9, productId: 0x1203, usagePage: 1, usage: 6 };

const running: DoorRuntime[] = [];
afterEach(async () => {
  for (const runtime of running.splice(0)) await runtime.stop();
});

async function door() {
  const rig = runtimeRig({
    main: {
      entryReader: { type: 'hid-keyboard', vendorId: 0xffff, productId: 0x0035, minLength: 8 },
      keypad: { type: 'hid-keyboard', vendorId: 0x04d9, productId: 0x1203 },
    },
  });
  rig.hid.plug(READER);
  rig.hid.plug(KEYPAD);
  running.push(rig.runtime);
  await rig.start();
  const badge = () => {
    for (const report of typed(ADA_BADGE)) rig.hid.send(READER.path, report);
  };
  const keys = (digits: string, submit = true) => {
    for (const report of keypadReports(digits, submit)) rig.hid.send(KEYPAD.path, report);
  };
  return { ...rig, badge, keys };
}

describe('keypad entries and badges', () => {
  it('does not take digits left on the keypad before a badge as part of its code', async () => {
    const rig = await door();
    // A passer-by presses one key and walks away; Ada comes within the keypad's entry timeout.
    rig.keys('7', false);
    rig.clock.advance(5_000);
    rig.badge();
    rig.keys(rig.code());
    expect(rig.decisions()).toEqual([['access.granted', 'in']]);
  });

  it('keeps the digits a person types after badging, also when the reader reads the card again', async () => {
    const rig = await door();
    rig.badge();
    const code = rig.code();
    rig.keys(code.slice(0, 3), false);
    rig.badge();
    rig.keys(code.slice(3));
    expect(rig.decisions()).toEqual([['access.granted', 'in']]);
  });
});
