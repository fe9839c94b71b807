import { describe, expect, it } from 'vitest';
import type { LockRelay } from '../../../../src/gateway/devices/device-ports.js';

export interface LockRelayHarness {
  lock: LockRelay;
  /** Whether the door is physically released right now (what the lock hardware would do). */
  released(): boolean;
}

/** The LockRelay port's behaviour, written once and run against every implementation. */
export function lockRelayContract(
  name: string,
  make: (failMode: 'secure' | 'safe') => Promise<LockRelayHarness>,
): void {
  describe(`LockRelay contract: ${name}`, () => {
    it('starts a fail-secure door locked', async () => {
      const { lock, released } = await make('secure');
      await lock.start();
      expect(lock.state).toBe('locked');
      expect(released()).toBe(false);
    });

    it('starts a fail-safe door unlocked', async () => {
      const { lock, released } = await make('safe');
      await lock.start();
      expect(lock.state).toBe('unlocked');
      expect(released()).toBe(true);
    });

    it('releases the door on unlock() and secures it on lock()', async () => {
      const { lock, released } = await make('secure');
      await lock.start();
      lock.unlock();
      expect([lock.state, released()]).toEqual(['unlocked', true]);
      lock.lock();
      expect([lock.state, released()]).toEqual(['locked', false]);
    });

    it('takes a repeated command without harm', async () => {
      const { lock, released } = await make('secure');
      await lock.start();
      lock.unlock();
      lock.unlock();
      expect([lock.state, released()]).toEqual(['unlocked', true]);
    });

    it('returns a fail-secure door to locked when stopped', async () => {
      const { lock, released } = await make('secure');
      await lock.start();
      lock.unlock();
      await lock.stop();
      expect([lock.state, released()]).toEqual(['locked', false]);
    });

    it('returns a fail-safe door to unlocked when stopped', async () => {
      const { lock, released } = await make('safe');
      await lock.start();
      lock.lock();
      await lock.stop();
      expect([lock.state, released()]).toEqual(['unlocked', true]);
    });
  });
}
