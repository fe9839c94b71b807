import { describe, expect, it } from 'vitest';
import type { DeviceHealth, LockState } from '../../../src/gateway/devices/device-ports.js';
import {
  type GpioLockOptions,
  GpioLockRelay,
  RELAY_RETRY_MS,
} from '../../../src/gateway/devices/gpio-lock.js';
import { FakeClock } from '../../../src/lib/clock.js';
import { createLogger } from '../../../src/lib/logger.js';
import { FakeGpioBoard, fakeSysfs, PI5_CHIPS } from './helpers/fake-gpio.js';

const PIN = 571 + 17;

function relay(options: Partial<GpioLockOptions> = {}) {
  const board = new FakeGpioBoard();
  const clock = new FakeClock();
  const logLines: string[] = [];
  const log = createLogger({ level: 'info', format: 'json', write: (line) => logLines.push(line) });
  const lock = new GpioLockRelay(
    'main.lock',
    {
      pin: { chip: 'pinctrl-rp1', line: 17 },
      activeLow: false,
      energised: 'unlocked',
      failMode: 'secure',
      ...options,
    },
    { Gpio: board.Gpio, sysfsRoot: fakeSysfs(PI5_CHIPS), clock, log },
  );
  return { board, clock, lock, logLines };
}

describe('GPIO lock relay', () => {
  it('drives the fail-mode state in the same write that makes the pin an output, before anything else', async () => {
    const { board, lock } = relay({ failMode: 'secure', energised: 'unlocked' });
    await lock.start();
    expect(board.operations[0]).toBe(`export ${PIN} low`);
    expect(lock.state).toBe('locked');
  });

  it('starts a fail-safe door unlocked', async () => {
    const { board, lock } = relay({ failMode: 'safe', energised: 'locked' });
    await lock.start();
    expect(board.operations[0]).toBe(`export ${PIN} low`);
    expect(lock.state).toBe('unlocked');
  });

  it('energises an active-high relay (pin high) to unlock a strike', async () => {
    const { board, lock } = relay({ activeLow: false, energised: 'unlocked' });
    await lock.start();
    lock.unlock();
    expect(board.level(PIN)).toBe(1);
    lock.lock();
    expect(board.level(PIN)).toBe(0);
  });

  it('energises an active-low relay (pin low) to unlock, and holds the pin high while locked', async () => {
    const { board, lock } = relay({ activeLow: true, energised: 'unlocked' });
    await lock.start();
    expect(board.operations[0]).toBe(`export ${PIN} high`);
    lock.unlock();
    expect(board.level(PIN)).toBe(0);
    lock.lock();
    expect(board.level(PIN)).toBe(1);
  });

  it('energises a maglock relay to lock it', async () => {
    const { board, lock } = relay({ activeLow: false, energised: 'locked', failMode: 'safe' });
    await lock.start();
    lock.lock();
    expect(board.level(PIN)).toBe(1);
    lock.unlock();
    expect(board.level(PIN)).toBe(0);
  });

  it('ignores a stale active_low left in sysfs by another program', async () => {
    const { board, lock } = relay({ activeLow: false });
    board.pin(PIN).activeLow = true;
    await lock.start();
    lock.unlock();
    expect(board.level(PIN)).toBe(1);
  });

  it('applies a command given before start only after the fail-mode state', async () => {
    const { board, lock } = relay({ failMode: 'secure' });
    lock.unlock();
    await lock.start();
    expect(board.operations).toEqual([`export ${PIN} low`, `write ${PIN} 1`]);
    expect(lock.state).toBe('unlocked');
  });

  it('returns to the fail-mode state on stop and leaves the pin driven (not unexported)', async () => {
    const { board, lock } = relay({ failMode: 'secure' });
    await lock.start();
    lock.unlock();
    await lock.stop();
    expect(board.level(PIN)).toBe(0);
    expect(lock.state).toBe('locked');
    expect(board.exported(PIN)).toBe(true);
  });

  it('warns when the wiring leaves the door in the opposite of its fail mode without power', async () => {
    const { lock, logLines } = relay({ failMode: 'secure', energised: 'locked' });
    await lock.start();
    expect(
      logLines.some((line) => line.includes('"level":"warn"') && line.includes('opposite of its fail mode')),
    ).toBe(true);
  });

  it('reports a fault once when the relay cannot be driven, and ok when it can again', async () => {
    const { board, lock } = relay();
    const health: DeviceHealth[] = [];
    lock.health.on((h) => health.push(h));
    await lock.start();
    board.failWrites = true;
    lock.unlock();
    lock.lock();
    board.failWrites = false;
    lock.lock();
    expect(health).toEqual([
      { device: 'main.lock', state: 'fault', message: 'main.lock: cannot drive the relay unlocked' },
      { device: 'main.lock', state: 'ok' },
    ]);
  });

  it('refuses to start on a pin that does not exist', async () => {
    const { lock } = relay({ pin: { chip: 'pinctrl-bcm2711', line: 17 } });
    await expect(lock.start()).rejects.toMatchObject({ code: 'IDG_GPIO_CHIP_NOT_FOUND' });
  });

  it('names the gpio group when sysfs GPIO export is not writable', async () => {
    const { board, lock } = relay();
    board.accessible = false;
    await expect(lock.start()).rejects.toMatchObject({
      code: 'IDG_GPIO_ACCESS_DENIED',
      message: expect.stringContaining('SupplementaryGroups=gpio'),
    });
  });

  it('says when another driver holds the pin', async () => {
    const { board, lock } = relay();
    board.exportErrors.set(PIN, Object.assign(new Error('EBUSY: resource busy'), { code: 'EBUSY' }));
    await expect(lock.start()).rejects.toMatchObject({ code: 'IDG_GPIO_BUSY' });
  });
});

describe('GPIO lock relay: opening before start', () => {
  it('drives the fail-mode state on driveFailMode(), without start', () => {
    const { board, lock } = relay({ failMode: 'secure' });
    // A crashed run left the pin exported and high (strike released).
    Object.assign(board.pin(PIN), { exported: true, direction: 'out', physical: 1 });
    lock.driveFailMode();
    expect(board.operations).toEqual([`export ${PIN} low`]);
    expect(board.level(PIN)).toBe(0);
  });

  it('does not open the output again on start', async () => {
    const { board, lock } = relay();
    lock.driveFailMode();
    await lock.start();
    expect(board.operations).toEqual([`export ${PIN} low`]);
  });

  it('tells on start a write that failed before anyone listened to its health', async () => {
    const { board, lock } = relay();
    lock.driveFailMode();
    board.failWrites = true;
    lock.unlock();
    const health: DeviceHealth[] = [];
    lock.health.on((h) => health.push(h));
    await lock.start();
    expect(health).toEqual([
      { device: 'main.lock', state: 'fault', message: 'main.lock: cannot drive the relay unlocked' },
    ]);
  });
});

describe('GPIO lock relay: a write that fails', () => {
  async function released() {
    const rig = relay();
    const changes: LockState[] = [];
    const health: string[] = [];
    rig.lock.changes.on((state) => changes.push(state));
    rig.lock.health.on((h) => health.push(h.state));
    await rig.lock.start();
    rig.lock.unlock();
    return { ...rig, changes, health };
  }

  it('leaves the state at what the relay carries', async () => {
    const { board, lock } = await released();
    board.failWrites = true;
    lock.lock();
    expect([lock.state, board.level(PIN)]).toEqual(['unlocked', 1]);
  });

  it('is written again every second while it fails, with one fault', async () => {
    const { board, clock, lock, health } = await released();
    board.failWritesTo.add(PIN);
    lock.lock();
    clock.advance(RELAY_RETRY_MS * 10);
    expect({
      state: lock.state,
      failedWrites: board.operations.filter((op) => op === `write ${PIN} 0 failed`).length,
      health,
    }).toEqual({ state: 'unlocked', failedWrites: 1 + 10, health: ['fault'] });
  });

  it('reaches the state asked for once a retry goes through, says so on changes, and is ok again', async () => {
    const { board, clock, lock, changes, health } = await released();
    board.failWrites = true;
    lock.lock();
    clock.advance(RELAY_RETRY_MS * 3);
    board.failWrites = false;
    clock.advance(RELAY_RETRY_MS);
    expect({ state: lock.state, level: board.level(PIN), changes, health }).toEqual({
      state: 'locked',
      level: 0,
      changes: ['unlocked', 'locked'],
      health: ['fault', 'ok'],
    });
    clock.advance(RELAY_RETRY_MS * 10);
    expect(clock.pendingTimers()).toBe(0);
  });

  it('stops retrying when a newer command goes through', async () => {
    const { board, clock, lock, health } = await released();
    board.failWrites = true;
    lock.lock();
    board.failWrites = false;
    lock.unlock(); // released again before the retry: nothing is owed any more
    clock.advance(RELAY_RETRY_MS * 5);
    expect({ state: lock.state, level: board.level(PIN), health, pending: clock.pendingTimers() }).toEqual({
      state: 'unlocked',
      level: 1,
      health: ['fault', 'ok'],
      pending: 0,
    });
  });

  it('stops retrying once stopped', async () => {
    const { board, clock, lock } = await released();
    board.failWrites = true;
    lock.lock();
    await lock.stop();
    expect(clock.pendingTimers()).toBe(0);
  });
});
