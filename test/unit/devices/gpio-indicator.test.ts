import { describe, expect, it } from 'vitest';
import { GpioIndicator } from '../../../src/gateway/devices/gpio-indicator.js';
import { FakeClock } from '../../../src/lib/clock.js';
import { silentLogger } from '../../../src/lib/logger.js';
import { FakeGpioBoard, fakeSysfs, PI5_CHIPS } from './helpers/fake-gpio.js';

const GREEN = 571 + 23;
const RED = 571 + 24;
const BUZZER = 571 + 25;

function rig() {
  const board = new FakeGpioBoard();
  const clock = new FakeClock();
  const indicator = new GpioIndicator(
    'main.indicator',
    {
      green: { pin: { chip: 'pinctrl-rp1', line: 23 }, activeLow: false },
      red: { pin: { chip: 'pinctrl-rp1', line: 24 }, activeLow: true },
      buzzer: { pin: { chip: 'pinctrl-rp1', line: 25 }, activeLow: false },
    },
    { Gpio: board.Gpio, sysfsRoot: fakeSysfs(PI5_CHIPS), clock, log: silentLogger },
  );
  return { board, clock, indicator };
}

describe('GPIO indicator', () => {
  it('starts with every output off, an active-low one held high', async () => {
    const { board, indicator } = rig();
    await indicator.start();
    expect([board.level(GREEN), board.level(RED), board.level(BUZZER)]).toEqual([0, 1, 0]);
  });

  it('shows granted: green on, one beep', async () => {
    const { clock, indicator } = rig();
    await indicator.start();
    indicator.show('granted');
    expect([indicator.isOn('green'), indicator.isOn('red'), indicator.isOn('buzzer')]).toEqual([
      true,
      false,
      true,
    ]);
    clock.advance(300);
    expect(indicator.isOn('buzzer')).toBe(false);
    clock.advance(10_000);
    expect(indicator.isOn('buzzer')).toBe(false);
    expect(indicator.isOn('green')).toBe(true);
  });

  it('shows denied: red on (pin low), three beeps', async () => {
    const { board, clock, indicator } = rig();
    await indicator.start();
    indicator.show('denied');
    expect(board.level(RED)).toBe(0);
    let beeps = 0;
    let wasOn = false;
    for (let t = 0; t < 2000; t += 10) {
      const on = indicator.isOn('buzzer') === true;
      if (on && !wasOn) beeps++;
      wasOn = on;
      clock.advance(10);
    }
    expect(beeps).toBe(3);
  });

  it('blinks green while awaiting the code, until the pattern changes', async () => {
    const { clock, indicator } = rig();
    await indicator.start();
    indicator.show('awaiting-code');
    const samples: boolean[] = [];
    for (let t = 0; t < 1000; t += 250) {
      samples.push(indicator.isOn('green') === true);
      clock.advance(250);
    }
    expect(samples).toEqual([true, false, true, false]);
    indicator.show('idle');
    clock.advance(1000);
    expect([indicator.isOn('green'), indicator.isOn('buzzer')]).toEqual([false, false]);
    expect(clock.pendingTimers()).toBe(0);
  });

  it('turns everything off and releases the lines on stop', async () => {
    const { board, clock, indicator } = rig();
    await indicator.start();
    indicator.show('alarm');
    await indicator.stop();
    expect([board.level(GREEN), board.level(RED), board.level(BUZZER)]).toEqual([0, 1, 0]);
    expect([board.exported(GREEN), board.exported(RED), board.exported(BUZZER)]).toEqual([
      false,
      false,
      false,
    ]);
    clock.advance(5000);
    expect(board.level(BUZZER)).toBe(0);
  });
});
