import { describe, expect, it } from 'vitest';
import type { DoorContact, ExitButton } from '../../../../src/gateway/devices/device-ports.js';

export interface DoorContactHarness {
  contact: DoorContact;
  /** The door is opened or closed (and stays so long enough to count). */
  setOpen(open: boolean): Promise<void>;
}

/** The DoorContact port's behaviour, written once and run against every implementation. */
export function doorContactContract(name: string, make: () => Promise<DoorContactHarness>): void {
  describe(`DoorContact contract: ${name}`, () => {
    async function started() {
      const harness = await make();
      const changes: boolean[] = [];
      harness.contact.changes.on((open) => changes.push(open));
      await harness.contact.start();
      return { ...harness, changes };
    }

    it('reports a closed door as closed at start', async () => {
      const { contact } = await started();
      expect(contact.isOpen()).toBe(false);
    });

    it('reports opening and closing once each, and isOpen() follows', async () => {
      const { contact, setOpen, changes } = await started();
      await setOpen(true);
      expect(contact.isOpen()).toBe(true);
      await setOpen(false);
      expect(contact.isOpen()).toBe(false);
      expect(changes).toEqual([true, false]);
    });

    it('does not report a state the door is already in', async () => {
      const { setOpen, changes } = await started();
      await setOpen(true);
      await setOpen(true);
      expect(changes).toEqual([true]);
    });

    it('reports nothing once stopped', async () => {
      const { contact, setOpen, changes } = await started();
      await contact.stop();
      const outcome = await setOpen(true).then(
        () => 'ignored',
        () => 'refused',
      );
      expect(['ignored', 'refused']).toContain(outcome);
      expect(changes).toEqual([]);
    });
  });
}

export interface ExitButtonHarness {
  button: ExitButton;
  /** Someone presses the button and lets go. */
  press(): Promise<void>;
}

/** The ExitButton port's behaviour, written once and run against every implementation. */
export function exitButtonContract(name: string, make: () => Promise<ExitButtonHarness>): void {
  describe(`ExitButton contract: ${name}`, () => {
    async function started() {
      const harness = await make();
      let presses = 0;
      harness.button.presses.on(() => presses++);
      await harness.button.start();
      return { ...harness, presses: () => presses };
    }

    it('reports one press per press', async () => {
      const { press, presses } = await started();
      await press();
      expect(presses()).toBe(1);
    });

    it('reports every press', async () => {
      const { press, presses } = await started();
      await press();
      await press();
      await press();
      expect(presses()).toBe(3);
    });

    it('reports nothing once stopped', async () => {
      const { button, press, presses } = await started();
      await button.stop();
      const outcome = await press().then(
        () => 'ignored',
        () => 'refused',
      );
      expect(['ignored', 'refused']).toContain(outcome);
      expect(presses()).toBe(0);
    });
  });
}
