import { describe, expect, it } from 'vitest';
import type { DeviceHealth } from '../../../src/gateway/devices/device-ports.js';
import {
  GpioDoorContact,
  GpioExitButton,
  type GpioInputOptions,
  INPUT_RETRY_INITIAL_MS,
  INPUT_RETRY_MAX_MS,
} from '../../../src/gateway/devices/gpio-input.js';
import { FakeClock } from '../../../src/lib/clock.js';
import { silentLogger } from '../../../src/lib/logger.js';
import { FakeGpioBoard, fakeSysfs, PI4_CHIPS } from './helpers/fake-gpio.js';

const CONTACT = 512 + 27;
const REX = 512 + 22;

function rig() {
  const board = new FakeGpioBoard();
  const clock = new FakeClock();
  const context = { Gpio: board.Gpio, sysfsRoot: fakeSysfs(PI4_CHIPS), clock, log: silentLogger };
  return { board, clock, context };
}

function contact(options: Partial<GpioInputOptions> = {}) {
  const { board, clock, context } = rig();
  const door = new GpioDoorContact(
    'main.contact',
    { pin: { chip: 'pinctrl-bcm2711', line: 27 }, activeLow: false, debounceMs: 50, ...options },
    context,
  );
  const changes: boolean[] = [];
  door.changes.on((open) => changes.push(open));
  const health: DeviceHealth[] = [];
  door.health.on((h) => health.push(h));
  return { board, clock, door, changes, health };
}

/** Noise on the line: it toggles every `periodMs` for `forMs`, ending at `last`. */
function chatter(
  board: ReturnType<typeof rig>['board'],
  clock: ReturnType<typeof rig>['clock'],
  gpio: number,
  forMs: number,
  periodMs = 20,
) {
  for (let t = 0; t < forMs; t += periodMs) {
    board.drive(gpio, (t / periodMs) % 2 === 0 ? 1 : 0);
    clock.advance(periodMs);
  }
}

describe('GPIO door contact', () => {
  it('reads the state at start: a door already open is open before any edge', async () => {
    const { board, door, changes } = contact();
    board.drive(CONTACT, 1);
    await door.start();
    expect(door.isOpen()).toBe(true);
    expect(changes).toEqual([]);
  });

  it('watches both edges: opening and closing are both reported', async () => {
    const { board, clock, door, changes } = contact();
    await door.start();
    board.drive(CONTACT, 1);
    clock.advance(50);
    board.drive(CONTACT, 0);
    clock.advance(50);
    expect(changes).toEqual([true, false]);
    expect(door.isOpen()).toBe(false);
  });

  it('reports a change only once the line has been stable for the debounce time', async () => {
    const { board, clock, door, changes } = contact({ debounceMs: 50 });
    await door.start();
    board.drive(CONTACT, 1);
    clock.advance(49);
    expect(changes).toEqual([]);
    clock.advance(1);
    expect(changes).toEqual([true]);
  });

  it('reports one change for a bouncing contact', async () => {
    const { board, clock, door, changes } = contact({ debounceMs: 50 });
    await door.start();
    board.bounce(CONTACT, [1, 0, 1, 0, 1]);
    clock.advance(20);
    board.bounce(CONTACT, [0, 1]);
    clock.advance(50);
    expect(changes).toEqual([true]);
  });

  it('reports nothing for a glitch shorter than the debounce time', async () => {
    const { board, clock, door, changes } = contact({ debounceMs: 50 });
    await door.start();
    board.drive(CONTACT, 1);
    clock.advance(10);
    board.drive(CONTACT, 0);
    clock.advance(100);
    expect(changes).toEqual([]);
  });

  it('inverts an active-low contact: low means open', async () => {
    const { board, clock, door, changes } = contact({ activeLow: true });
    board.drive(CONTACT, 1);
    await door.start();
    expect(door.isOpen()).toBe(false);
    board.drive(CONTACT, 0);
    clock.advance(50);
    expect(changes).toEqual([true]);
  });

  it('watches with onoff edge "both" and no onoff debounce (its timers are real)', async () => {
    const { board, door } = contact();
    await door.start();
    expect(board.operations).toEqual([`export ${CONTACT} in`]);
    expect(board.pin(CONTACT).edge).toBe('both');
  });

  it('stops watching and releases the line on stop', async () => {
    const { board, clock, door, changes } = contact();
    await door.start();
    await door.stop();
    board.drive(CONTACT, 1);
    clock.advance(100);
    expect(changes).toEqual([]);
    expect(board.exported(CONTACT)).toBe(false);
  });
});

describe('GPIO door contact on a line that will not settle', () => {
  it('takes a line still changing ten debounce times after its first change as open, with a fault', async () => {
    const { board, clock, door, changes, health } = contact({ debounceMs: 50 });
    await door.start();
    chatter(board, clock, CONTACT, 480);
    expect(changes).toEqual([]);
    chatter(board, clock, CONTACT, 2_000);
    expect({ changes, open: door.isOpen(), health: health.map((h) => h.state) }).toEqual({
      changes: [true],
      open: true,
      health: ['fault'],
    });
    expect(health[0]).toMatchObject({ message: expect.stringContaining('does not settle') });
  });

  it('reports the level once the line is quiet again, and clears the fault', async () => {
    const { board, clock, door, changes, health } = contact({ debounceMs: 50 });
    await door.start();
    chatter(board, clock, CONTACT, 1_000);
    board.drive(CONTACT, 0);
    clock.advance(50);
    expect({ changes, open: door.isOpen(), health: health.map((h) => h.state) }).toEqual({
      changes: [true, false],
      open: false,
      health: ['fault', 'ok'],
    });
  });
});

describe('GPIO door contact that cannot be opened or read', () => {
  it('does not know the state of a door whose first read fails, and says so as a fault', async () => {
    const { board, door, changes, health } = contact();
    board.drive(CONTACT, 1);
    board.failReads.add(CONTACT);
    await door.start();
    expect({ open: door.isOpen(), changes, health: health.map((h) => h.state) }).toEqual({
      open: undefined,
      changes: [],
      health: ['fault'],
    });
  });

  it('reads the line again after a second, and reports the state it finds', async () => {
    const { board, clock, door, changes, health } = contact();
    board.drive(CONTACT, 1);
    board.failReads.add(CONTACT);
    await door.start();
    board.failReads.delete(CONTACT);
    clock.advance(INPUT_RETRY_INITIAL_MS);
    expect({ open: door.isOpen(), changes, health: health.map((h) => h.state) }).toEqual({
      open: true,
      changes: [true],
      health: ['fault', 'ok'],
    });
  });

  it('does not know the state after the interrupt reports an error, until a read succeeds', async () => {
    const { board, clock, door, health } = contact();
    await door.start();
    board.watchError(CONTACT);
    const during = door.isOpen();
    clock.advance(INPUT_RETRY_INITIAL_MS);
    expect({ during, after: door.isOpen(), health: health.map((h) => h.state) }).toEqual({
      during: undefined,
      after: false,
      health: ['fault', 'ok'],
    });
  });

  it('reports a line busy at start as a fault, without failing the start', async () => {
    const { board, door, health } = contact();
    board.exportErrors.set(CONTACT, Object.assign(new Error('EBUSY: resource busy'), { code: 'EBUSY' }));
    await door.start();
    expect(door.isOpen()).toBeUndefined();
    expect(health).toEqual([
      {
        device: 'main.contact',
        state: 'fault',
        message: expect.stringContaining('is in use by a kernel driver'),
      },
    ]);
  });

  it('tries a busy line again after 1 s, 2 s, 4 s … and at most every minute', async () => {
    const { board, clock, door } = contact();
    board.exportErrors.set(CONTACT, Object.assign(new Error('EBUSY: resource busy'), { code: 'EBUSY' }));
    const attempts = () => board.operations.filter((op) => op === `export ${CONTACT} in failed`).length;
    await door.start();
    const seen: number[] = [];
    for (const wait of [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000]) {
      clock.advance(wait - 1);
      seen.push(attempts());
      clock.advance(1);
    }
    expect(seen).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(INPUT_RETRY_MAX_MS).toBe(60_000);
  });

  it('opens the line once it is free, and watches it from then on', async () => {
    const { board, clock, door, changes, health } = contact();
    board.exportErrors.set(CONTACT, Object.assign(new Error('EBUSY: resource busy'), { code: 'EBUSY' }));
    await door.start();
    board.exportErrors.delete(CONTACT);
    clock.advance(INPUT_RETRY_INITIAL_MS);
    board.drive(CONTACT, 1);
    clock.advance(50);
    expect({ open: door.isOpen(), changes, health: health.map((h) => h.state) }).toEqual({
      open: true,
      changes: [false, true],
      health: ['fault', 'ok'],
    });
  });

  it('stops trying once stopped', async () => {
    const { board, clock, door } = contact();
    board.exportErrors.set(CONTACT, Object.assign(new Error('EBUSY: resource busy'), { code: 'EBUSY' }));
    await door.start();
    await door.stop();
    expect(clock.pendingTimers()).toBe(0);
  });
});

describe('GPIO request-to-exit button', () => {
  function button() {
    const { board, clock, context } = rig();
    board.drive(REX, 1); // pulled up, not pressed
    const rex = new GpioExitButton(
      'main.rex',
      { pin: { chip: 'pinctrl-bcm2711', line: 22 }, activeLow: true, debounceMs: 50 },
      context,
    );
    let presses = 0;
    rex.presses.on(() => presses++);
    return { board, clock, rex, presses: () => presses };
  }

  it('reports one press per press and release, however the button bounces', async () => {
    const { board, clock, rex, presses } = button();
    await rex.start();
    board.bounce(REX, [0, 1, 0]);
    clock.advance(50);
    board.bounce(REX, [1, 0, 1]);
    clock.advance(50);
    expect(presses()).toBe(1);
  });

  it('does not report a button held down at start as a press', async () => {
    const { board, clock, rex, presses } = button();
    board.drive(REX, 0);
    await rex.start();
    clock.advance(100);
    expect(presses()).toBe(0);
  });

  it('reports two presses for two presses', async () => {
    const { board, clock, rex, presses } = button();
    await rex.start();
    for (let i = 0; i < 2; i++) {
      board.drive(REX, 0);
      clock.advance(50);
      board.drive(REX, 1);
      clock.advance(50);
    }
    expect(presses()).toBe(2);
  });

  it('does not report a press for a line that will not settle, and raises a fault', async () => {
    const { board, clock, rex, presses } = button();
    const health: string[] = [];
    rex.health.on((h) => health.push(h.state));
    await rex.start();
    chatter(board, clock, REX, 3_000);
    board.drive(REX, 1);
    clock.advance(500); // at most one more capped window, then quiet for the debounce time
    expect({ presses: presses(), health }).toEqual({ presses: 0, health: ['fault', 'ok'] });
  });

  it('does not take a button that could not be read at start and answers pressed as a press', async () => {
    const { board, clock, rex, presses } = button();
    board.failReads.add(REX);
    await rex.start();
    board.drive(REX, 0);
    board.failReads.delete(REX);
    clock.advance(INPUT_RETRY_INITIAL_MS);
    expect(presses()).toBe(0);
  });
});
