import { describe, expect, it } from 'vitest';
import type { DeviceHealth, Keypad } from '../../../../src/gateway/devices/device-ports.js';

export interface KeypadHarness {
  keypad: Keypad;
  /** A person types `digits` and the submit key. */
  enter(digits: string): Promise<void>;
  /** A person types `digits` and walks away without submitting (nothing, where entries are whole). */
  leave(digits: string): Promise<void>;
  disconnect(): Promise<void>;
  reconnect(): Promise<void>;
}

/** The Keypad port's behaviour, written once and run against every implementation. */
export function keypadContract(name: string, make: () => Promise<KeypadHarness>): void {
  describe(`Keypad contract: ${name}`, () => {
    async function started() {
      const harness = await make();
      const entries: string[] = [];
      const health: DeviceHealth[] = [];
      harness.keypad.entries.on((e) => entries.push(e));
      harness.keypad.health.on((h) => health.push(h));
      await harness.keypad.start();
      return { ...harness, entries, health };
    }

    it('delivers the digits typed before the submit key', async () => {
      const { enter, entries } = await started();
      await enter('123456');
      expect(entries).toEqual(['123456']);
    });

    it('delivers each entry separately', async () => {
      const { enter, entries } = await started();
      await enter('123456');
      await enter('654321');
      expect(entries).toEqual(['123456', '654321']);
    });

    it('forgets digits typed before clearEntry, delivering only what follows', async () => {
      const { keypad, leave, enter, entries } = await started();
      await leave('7');
      keypad.clearEntry();
      await enter('123456');
      expect(entries).toEqual(['123456']);
    });

    it('keeps leading zeros', async () => {
      const { enter, entries } = await started();
      await enter('000042');
      expect(entries).toEqual(['000042']);
    });

    it('delivers nothing once stopped', async () => {
      const { keypad, enter, entries } = await started();
      await keypad.stop();
      const outcome = await enter('123456').then(
        () => 'ignored',
        () => 'refused',
      );
      expect(['ignored', 'refused']).toContain(outcome);
      expect(entries).toEqual([]);
    });

    it('reports a fault once when the keypad goes away, and ok once when it is back', async () => {
      const { disconnect, reconnect, health, keypad } = await started();
      await disconnect();
      await reconnect();
      expect(health).toEqual([
        { device: keypad.name, state: 'fault', message: expect.any(String) },
        { device: keypad.name, state: 'ok' },
      ]);
    });

    it('delivers entries again after the keypad came back', async () => {
      const { disconnect, reconnect, enter, entries } = await started();
      await disconnect();
      await reconnect();
      await enter('246810');
      expect(entries).toEqual(['246810']);
    });
  });
}
