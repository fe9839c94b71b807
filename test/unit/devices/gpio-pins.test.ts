import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveGpioPin } from '../../../src/gateway/devices/gpio-pins.js';
import { hasCode } from '../../../src/lib/coded-error.js';
import { fakeSysfs, PI4_CHIPS, PI4_OLD_CHIPS, PI5_CHIPS } from './helpers/fake-gpio.js';

function failure(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (error) {
    if (error instanceof Error && 'code' in error)
      return { code: String(error.code), message: error.message };
    throw error;
  }
  throw new Error('expected an error');
}

describe('GPIO pin resolution through sysfs', () => {
  it('finds pinctrl-rp1 on a Raspberry Pi 5 at its base, not at 0', () => {
    expect(resolveGpioPin({ chip: 'pinctrl-rp1', line: 17 }, fakeSysfs(PI5_CHIPS))).toBe(571 + 17);
  });

  it('finds a chip whose base is 512 (gpiochip512)', () => {
    const root = fakeSysfs([{ label: 'pinctrl-rp1', base: 512, ngpio: 54 }]);
    expect(resolveGpioPin({ chip: 'pinctrl-rp1', line: 17 }, root)).toBe(529);
  });

  it('finds pinctrl-bcm2711 on a Raspberry Pi 4 at base 0 on older kernels and 512 on newer ones', () => {
    expect(resolveGpioPin({ chip: 'pinctrl-bcm2711', line: 17 }, fakeSysfs(PI4_OLD_CHIPS))).toBe(17);
    expect(resolveGpioPin({ chip: 'pinctrl-bcm2711', line: 17 }, fakeSysfs(PI4_CHIPS))).toBe(529);
  });

  it('accepts a raw sysfs number that belongs to a chip', () => {
    expect(resolveGpioPin(588, fakeSysfs(PI5_CHIPS))).toBe(588);
  });

  it('refuses a raw number no chip has, listing the chips and how to name pins instead', () => {
    const { code, message } = failure(() => resolveGpioPin(17, fakeSysfs(PI5_CHIPS)));
    expect(code).toBe('IDG_GPIO_PIN_NOT_FOUND');
    expect(message).toContain('sysfs GPIO 17 belongs to no GPIO chip');
    expect(message).toContain('pinctrl-rp1 (lines 0-53, sysfs 571-624)');
    expect(message).toContain('{ chip: <label>, line: <n> }');
  });

  it('names the chips there are when the label does not exist', () => {
    const { code, message } = failure(() =>
      resolveGpioPin({ chip: 'pinctrl-rp1', line: 17 }, fakeSysfs(PI4_CHIPS)),
    );
    expect(code).toBe('IDG_GPIO_CHIP_NOT_FOUND');
    expect(message).toBe(
      'no GPIO chip labelled "pinctrl-rp1"; chips: pinctrl-bcm2711 (lines 0-57, sysfs 512-569), raspberrypi-exp-gpio (lines 0-7, sysfs 570-577)',
    );
  });

  it('refuses a line beyond the chip', () => {
    const { code, message } = failure(() =>
      resolveGpioPin({ chip: 'pinctrl-rp1', line: 54 }, fakeSysfs(PI5_CHIPS)),
    );
    expect(code).toBe('IDG_GPIO_LINE_OUT_OF_RANGE');
    expect(message).toBe('pinctrl-rp1 has lines 0-53; line 54 does not exist');
  });

  it('says so when the kernel offers no sysfs GPIO at all', () => {
    const root = mkdtempSync(join(tmpdir(), 'idg-nosysfs-'));
    const { code, message } = failure(() => resolveGpioPin({ chip: 'pinctrl-rp1', line: 17 }, root));
    expect(code).toBe('IDG_GPIO_SYSFS_UNAVAILABLE');
    expect(message).toContain('class/gpio does not exist): the kernel lacks CONFIG_GPIO_SYSFS');
  });

  it('refuses an ambiguous label', () => {
    const root = fakeSysfs([
      { label: 'gpio-expander', base: 500, ngpio: 8 },
      { label: 'gpio-expander', base: 508, ngpio: 8 },
    ]);
    let caught: unknown;
    try {
      resolveGpioPin({ chip: 'gpio-expander', line: 1 }, root);
    } catch (error) {
      caught = error;
    }
    expect(hasCode(caught, 'IDG_GPIO_CHIP_NOT_FOUND')).toBe(true);
  });
});
