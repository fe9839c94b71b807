import { describe, expect, it } from 'vitest';
import type { BadgeReader, DeviceHealth } from '../../../../src/gateway/devices/device-ports.js';

/** What a test needs to drive one BadgeReader implementation from the outside. */
export interface BadgeReaderHarness {
  reader: BadgeReader;
  /** Two badge ids this reader can deliver, in the form it delivers them. */
  samples: readonly [string, string];
  /** A card is held to the reader. */
  present(badge: string): Promise<void>;
  /** The reader goes away (unplugged) and, later, comes back. */
  disconnect(): Promise<void>;
  reconnect(): Promise<void>;
}

/** The BadgeReader port's behaviour, written once and run against every implementation. */
export function badgeReaderContract(name: string, make: () => Promise<BadgeReaderHarness>): void {
  describe(`BadgeReader contract: ${name}`, () => {
    async function started() {
      const harness = await make();
      const badges: string[] = [];
      const health: DeviceHealth[] = [];
      harness.reader.badges.on((b) => badges.push(b));
      harness.reader.health.on((h) => health.push(h));
      await harness.reader.start();
      return { ...harness, badges, health };
    }

    it('delivers a presented badge once, exactly as presented', async () => {
      const { present, samples, badges } = await started();
      await present(samples[0]);
      expect(badges).toEqual([samples[0]]);
    });

    it('delivers badges presented one after the other, in order', async () => {
      const { present, samples, badges } = await started();
      await present(samples[0]);
      await present(samples[1]);
      expect(badges).toEqual([samples[0], samples[1]]);
    });

    it('delivers nothing once stopped', async () => {
      const { reader, present, samples, badges } = await started();
      await reader.stop();
      const outcome = await present(samples[0]).then(
        () => 'ignored',
        () => 'refused',
      );
      expect(['ignored', 'refused']).toContain(outcome);
      expect(badges).toEqual([]);
    });

    it('reports a fault once when the reader goes away, and ok once when it is back', async () => {
      const { disconnect, reconnect, health, reader } = await started();
      await disconnect();
      await reconnect();
      expect(health).toEqual([
        { device: reader.name, state: 'fault', message: expect.any(String) },
        { device: reader.name, state: 'ok' },
      ]);
    });

    it('delivers badges again after the reader came back', async () => {
      const { disconnect, reconnect, present, samples, badges } = await started();
      await disconnect();
      await reconnect();
      await present(samples[1]);
      expect(badges).toEqual([samples[1]]);
    });

    it('can be stopped twice and started after a stop', async () => {
      const { reader, present, samples, badges } = await started();
      await reader.stop();
      await reader.stop();
      await reader.start();
      await present(samples[0]);
      expect(badges).toEqual([samples[0]]);
    });
  });
}
