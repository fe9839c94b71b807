import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DeviceError, DeviceErrorCode } from './device-errors.js';

/**
 * Turns a configured pin into the number sysfs GPIO wants. A raw number is taken as it is; a
 * gpiochip label and line offset are looked up in the label, base and ngpio files of /sys/class/gpio/gpiochipN,
 * because the base is not 0 on recent kernels (Raspberry Pi 4 on 6.6: pinctrl-bcm2711 at 512;
 * Raspberry Pi 5: pinctrl-rp1 at 571, or 399 on 6.1) and can change with the next kernel.
 */
export type GpioPinRef = number | { chip: string; line: number };

export interface GpioChip {
  name: string;
  label: string;
  base: number;
  ngpio: number;
}

function read(file: string): string {
  return readFileSync(file, 'utf8').trim();
}

/** The GPIO chips sysfs knows of; an error when the kernel offers no sysfs GPIO at all. */
export function listGpioChips(sysfsRoot = '/sys'): GpioChip[] {
  const dir = join(sysfsRoot, 'class', 'gpio');
  if (!existsSync(dir)) {
    throw new DeviceError(
      DeviceErrorCode.gpioSysfsUnavailable,
      `sysfs GPIO is not available (${dir} does not exist): the kernel lacks CONFIG_GPIO_SYSFS. ` +
        'identgate drives GPIO through sysfs; use a kernel that has it (see docs/install-gateway.md)',
    );
  }
  return readdirSync(dir)
    .filter((name) => /^gpiochip\d+$/.test(name))
    .map((name) => ({
      name,
      label: read(join(dir, name, 'label')),
      base: Number(read(join(dir, name, 'base'))),
      ngpio: Number(read(join(dir, name, 'ngpio'))),
    }))
    .sort((a, b) => a.base - b.base);
}

function describeChips(chips: GpioChip[]): string {
  return (
    chips
      .map((c) => `${c.label} (lines 0-${c.ngpio - 1}, sysfs ${c.base}-${c.base + c.ngpio - 1})`)
      .join(', ') || 'none'
  );
}

export function describePin(pin: GpioPinRef): string {
  return typeof pin === 'number' ? `GPIO ${pin}` : `${pin.chip} line ${pin.line}`;
}

/** The sysfs GPIO number of a pin, checked against the chips that exist. */
export function resolveGpioPin(pin: GpioPinRef, sysfsRoot = '/sys'): number {
  const chips = listGpioChips(sysfsRoot);
  if (typeof pin === 'number') {
    if (!chips.some((c) => pin >= c.base && pin < c.base + c.ngpio)) {
      throw new DeviceError(
        DeviceErrorCode.gpioPinNotFound,
        `sysfs GPIO ${pin} belongs to no GPIO chip; chips: ${describeChips(chips)}. ` +
          'Name the pin as { chip: <label>, line: <n> } so it survives kernel updates',
      );
    }
    return pin;
  }
  const matching = chips.filter((c) => c.label === pin.chip);
  const chip = matching[0];
  if (!chip) {
    throw new DeviceError(
      DeviceErrorCode.gpioChipNotFound,
      `no GPIO chip labelled "${pin.chip}"; chips: ${describeChips(chips)}`,
    );
  }
  if (matching.length > 1) {
    throw new DeviceError(
      DeviceErrorCode.gpioChipNotFound,
      `${matching.length} GPIO chips are labelled "${pin.chip}" (${matching.map((c) => c.name).join(', ')}); use a raw number`,
    );
  }
  if (pin.line >= chip.ngpio) {
    throw new DeviceError(
      DeviceErrorCode.gpioLineOutOfRange,
      `${pin.chip} has lines 0-${chip.ngpio - 1}; line ${pin.line} does not exist`,
    );
  }
  return chip.base + pin.line;
}
