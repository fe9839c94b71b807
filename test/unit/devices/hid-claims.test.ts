import { mkdtempSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { DeviceHealth } from '../../../src/gateway/devices/device-ports.js';
import { HidClaims } from '../../../src/gateway/devices/hid-claims.js';
import { HidConnection, type HidSelector } from '../../../src/gateway/devices/hid-connection.js';
import { FakeClock } from '../../../src/lib/clock.js';
import { silentLogger } from '../../../src/lib/logger.js';
import { FakeHidBackend, settle } from './helpers/fake-hid.js';

const IDS = [{ vendorId: 0xffff, productId: 0x0035 }];
const KEYBOARD = { usagePage: 1, usage: 6 };
const READER = { path: '/dev/hidraw0', vendorId: 0xffff, productId: 0x0035, ...KEYBOARD };

/** HID connections of one gateway, sharing one record of held nodes, on a fake USB bus. */
function bus() {
  const clock = new FakeClock();
  const hid = new FakeHidBackend();
  const claims = new HidClaims();
  const health: DeviceHealth[] = [];
  const connection = (
    name: string,
    selector: Partial<HidSelector> = {},
    sharesWith?: string,
    resolveNode?: (path: string) => string,
  ) => {
    const c = new HidConnection({
      name,
      selector: { ids: IDS, prefer: KEYBOARD, ...selector },
      backend: hid,
      clock,
      log: silentLogger,
      retryInitialMs: 500,
      retryMaxMs: 4000,
      claims,
      sharesWith,
      resolveNode,
    });
    c.health.on((h) => health.push(h));
    return c;
  };
  const retry = async () => {
    clock.advance(10_000);
    await settle();
  };
  return { hid, connection, health, retry };
}

describe('HID connections of one gateway', () => {
  it('leave a node another role holds alone, and report their device missing', async () => {
    const { hid, connection, health } = bus();
    hid.plug(READER);
    const entry = connection('main.entry-reader');
    const exit = connection('main.exit-reader');
    await entry.start();
    await exit.start();
    expect([entry.connected, exit.connected]).toEqual([true, false]);
    expect(hid.openHandles(READER.path)).toHaveLength(1);
    expect(health).toEqual([
      {
        device: 'main.exit-reader',
        state: 'fault',
        message: expect.stringMatching(
          /^main\.exit-reader: no USB HID device of its own is connected.*\/dev\/hidraw0 \(held by main\.entry-reader\)/,
        ),
      },
    ]);
  });

  it('do not open a fixed path another role holds', async () => {
    const { hid, connection } = bus();
    hid.plug(READER);
    const entry = connection('main.entry-reader');
    const exit = connection('main.exit-reader', { path: READER.path });
    await entry.start();
    await exit.start();
    expect(exit.connected).toBe(false);
    expect(hid.openHandles(READER.path)).toHaveLength(1);
  });

  it('take the device at the next retry once the role that held it stopped', async () => {
    const { hid, connection, retry } = bus();
    hid.plug(READER);
    const entry = connection('main.entry-reader');
    const exit = connection('main.exit-reader');
    await entry.start();
    await exit.start();
    await entry.stop();
    await retry();
    expect(exit.connected).toBe(true);
    expect(hid.openHandles(READER.path)).toHaveLength(1);
  });

  it('do not fall back to another interface of a device whose keyboard collection is held', async () => {
    const { hid, connection } = bus();
    hid.plug(READER);
    hid.plug({
      path: '/dev/hidraw1',
      vendorId: 0xffff,
      productId: 0x0035,
      usagePage: 0xff00,
      usage: 1,
      interface: 1,
    });
    const entry = connection('main.entry-reader');
    const exit = connection('main.exit-reader');
    await entry.start();
    await exit.start();
    expect(exit.connected).toBe(false);
    expect(hid.openHandles('/dev/hidraw1')).toEqual([]);
  });

  it('let a reader and its own PIN pad share a device, and nobody else join them', async () => {
    const { hid, connection } = bus();
    const bridge = { path: '/dev/hidraw2', vendorId: 0x2341, productId: 0x8036 };
    hid.plug(bridge);
    const ids = { ids: [{ vendorId: 0x2341, productId: 0x8036 }], prefer: undefined };
    const reader = connection('main.entry-reader', ids, 'main.keypad');
    const keypad = connection('main.keypad', ids, 'main.entry-reader');
    const exit = connection('main.exit-reader', ids, 'main.keypad');
    for (const c of [reader, keypad, exit]) await c.start();
    expect([reader.connected, keypad.connected, exit.connected]).toEqual([true, true, false]);
    expect(hid.openHandles(bridge.path)).toHaveLength(2);
  });
});

/** A /dev of real files in a temp dir: a hidraw node and udev-style links to it. */
function devDir(...links: string[]) {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'idg-dev-')));
  const node = join(dir, 'hidraw0');
  writeFileSync(node, '');
  for (const link of links) symlinkSync(node, join(dir, link));
  return { node, link: (name: string) => join(dir, name) };
}

describe('HID connections and udev links', () => {
  it('count a udev link and the node a USB-id search finds as one device', async () => {
    const dev = devDir('identgate-entry-reader');
    const { hid, connection, health } = bus();
    hid.plug({ ...READER, path: dev.node });
    const entry = connection('main.entry-reader', { path: dev.link('identgate-entry-reader') });
    const exit = connection('main.exit-reader');
    await entry.start();
    await exit.start();
    expect([entry.connected, exit.connected]).toEqual([true, false]);
    expect(hid.openHandles(dev.node)).toHaveLength(1);
    expect(health).toEqual([
      expect.objectContaining({
        device: 'main.exit-reader',
        message: expect.stringContaining(`${dev.node} (held by main.entry-reader)`),
      }),
    ]);
  });

  it('count two links to one node (a copied udev rule) as one device', async () => {
    const dev = devDir('identgate-entry-reader', 'identgate-exit-reader');
    const { hid, connection } = bus();
    hid.plug({ ...READER, path: dev.node });
    const entry = connection('main.entry-reader', { path: dev.link('identgate-entry-reader') });
    const exit = connection('main.exit-reader', { path: dev.link('identgate-exit-reader') });
    await entry.start();
    await exit.start();
    expect([entry.connected, exit.connected]).toEqual([true, false]);
    expect(hid.openHandles(dev.node)).toHaveLength(1);
  });

  it('resolve the path again just before opening, and leave a node alone that a link now points to', async () => {
    const { hid, connection, health } = bus();
    hid.plug(READER);
    hid.plug({ ...READER, path: '/dev/hidraw1' });
    const entry = connection('main.entry-reader', { path: '/dev/hidraw0' });
    await entry.start();
    // The link named /dev/hidraw1 when the exit reader chose it, and /dev/hidraw0 when it opened.
    const answers = ['/dev/hidraw1', '/dev/hidraw0'];
    const exit = connection(
      'main.exit-reader',
      { path: '/dev/link' },
      undefined,
      () => answers.shift() ?? '?',
    );
    await exit.start();
    expect(exit.connected).toBe(false);
    expect(hid.openHandles('/dev/hidraw0')).toHaveLength(1);
    expect(health).toEqual([
      expect.objectContaining({
        device: 'main.exit-reader',
        message: expect.stringContaining('/dev/hidraw0 (held by main.entry-reader)'),
      }),
    ]);
  });
});
