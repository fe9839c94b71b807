import { describe, expect, it } from 'vitest';
import {
  GpioDoorContact,
  GpioExitButton,
  type GpioInputOptions,
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
  return { board, clock, door, changes };
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
});
