import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type {
  GpioConstructor,
  GpioDirection,
  GpioEdge,
  GpioLevel,
  GpioLine,
  GpioOptions,
} from '../../../../src/gateway/devices/gpio-backend.js';

interface FakePin {
  physical: GpioLevel;
  direction: 'in' | 'out';
  edge: GpioEdge;
  activeLow: boolean;
  exported: boolean;
  watchers: Array<(error: Error | null | undefined, value: GpioLevel) => void>;
}

/**
 * The GPIO header for tests, with onoff's `Gpio` API bound to it. It keeps sysfs semantics:
 * "high"/"low" directions set the physical level, `active_low` inverts value reads and writes and
 * persists between exports. `operations` records what happened, in order. Exports, reads and
 * writes fail on demand, as sysfs does when a line is taken or its value file gives EIO.
 */
export class FakeGpioBoard {
  readonly operations: string[] = [];
  accessible = true;
  /** Every write fails with EIO. */
  failWrites = false;
  /** Opening these GPIOs throws the error given. */
  readonly exportErrors = new Map<number, NodeJS.ErrnoException>();
  /** Reads of these GPIOs fail with EIO. */
  readonly failReads = new Set<number>();
  /** Writes to these GPIOs fail with EIO. */
  readonly failWritesTo = new Set<number>();
  readonly Gpio: GpioConstructor;
  private readonly pins = new Map<number, FakePin>();

  constructor() {
    const board = this;
    class Gpio implements GpioLine {
      static get accessible(): boolean {
        return board.accessible;
      }

      private readonly pin: FakePin;

      constructor(
        private readonly gpio: number,
        direction: GpioDirection,
        edge: GpioEdge = 'none',
        options: GpioOptions = {},
      ) {
        const error = board.exportErrors.get(gpio);
        if (error) {
          board.operations.push(`export ${gpio} ${direction} failed`);
          throw error;
        }
        const pin = board.pin(gpio);
        if (options.activeLow !== undefined) pin.activeLow = options.activeLow;
        pin.direction = direction === 'in' ? 'in' : 'out';
        if (direction === 'high') pin.physical = 1;
        if (direction === 'low' || direction === 'out') pin.physical = 0;
        pin.edge = edge;
        pin.exported = true;
        this.pin = pin;
        board.operations.push(`export ${gpio} ${direction}`);
      }

      readSync(): GpioLevel {
        if (board.failReads.has(this.gpio)) throw eio('read');
        return (this.pin.physical ^ (this.pin.activeLow ? 1 : 0)) as GpioLevel;
      }

      writeSync(value: GpioLevel): void {
        if (board.failWrites || board.failWritesTo.has(this.gpio)) {
          board.operations.push(`write ${this.gpio} ${value} failed`);
          throw eio('write');
        }
        this.pin.physical = (value ^ (this.pin.activeLow ? 1 : 0)) as GpioLevel;
        board.operations.push(`write ${this.gpio} ${value}`);
      }

      watch(callback: (error: Error | null | undefined, value: GpioLevel) => void): void {
        this.pin.watchers.push(callback);
      }

      unexport(): void {
        this.pin.watchers = [];
        this.pin.exported = false;
        board.operations.push(`unexport ${this.gpio}`);
      }
    }
    this.Gpio = Gpio;
  }

  pin(gpio: number): FakePin {
    let pin = this.pins.get(gpio);
    if (!pin) {
      pin = { physical: 0, direction: 'in', edge: 'none', activeLow: false, exported: false, watchers: [] };
      this.pins.set(gpio, pin);
    }
    return pin;
  }

  /** The electrical level on a pin (what a meter would show). */
  level(gpio: number): GpioLevel {
    return this.pin(gpio).physical;
  }

  /** Something outside drives an input to `level`; an interrupt fires on a change the edge setting watches. */
  drive(gpio: number, level: GpioLevel): void {
    const pin = this.pin(gpio);
    if (pin.physical === level) return;
    pin.physical = level;
    const value = (level ^ (pin.activeLow ? 1 : 0)) as GpioLevel;
    const watched =
      pin.edge === 'both' || (pin.edge === 'rising' ? value === 1 : pin.edge === 'falling' && value === 0);
    if (pin.exported && watched) for (const watcher of [...pin.watchers]) watcher(null, value);
  }

  /** A bouncing contact: the levels follow each other with no time in between. */
  bounce(gpio: number, levels: GpioLevel[]): void {
    for (const level of levels) this.drive(gpio, level);
  }

  /** The interrupt for a pin reports an error (what onoff passes its watchers when epoll fails). */
  watchError(gpio: number): void {
    for (const watcher of [...this.pin(gpio).watchers]) watcher(eio('poll'), 0);
  }

  watched(gpio: number): boolean {
    return this.pin(gpio).watchers.length > 0;
  }

  exported(gpio: number): boolean {
    return this.pin(gpio).exported;
  }
}

function eio(operation: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`EIO: i/o error, ${operation}`), { code: 'EIO' });
}

export interface FakeChip {
  label: string;
  base: number;
  ngpio: number;
}

/** A sysfs tree in a temporary directory with /class/gpio/gpiochipN/{label,base,ngpio}. */
export function fakeSysfs(chips: FakeChip[]): string {
  const root = mkdtempSync(join(tmpdir(), 'idg-sysfs-'));
  const gpio = join(root, 'class', 'gpio');
  mkdirSync(gpio, { recursive: true });
  writeFileSync(join(gpio, 'export'), '');
  writeFileSync(join(gpio, 'unexport'), '');
  for (const chip of chips) {
    const dir = join(gpio, `gpiochip${chip.base}`);
    mkdirSync(dir);
    writeFileSync(join(dir, 'label'), `${chip.label}\n`);
    writeFileSync(join(dir, 'base'), `${chip.base}\n`);
    writeFileSync(join(dir, 'ngpio'), `${chip.ngpio}\n`);
  }
  return root;
}

/** Raspberry Pi 5 on Raspberry Pi OS with kernel 6.6, as /sys/kernel/debug/gpio shows it. */
export const PI5_CHIPS: FakeChip[] = [
  { label: 'gpio-brcmstb@107d508500', base: 512, ngpio: 32 },
  { label: 'gpio-brcmstb@107d508520', base: 544, ngpio: 4 },
  { label: 'gpio-brcmstb@107d517c00', base: 548, ngpio: 17 },
  { label: 'gpio-brcmstb@107d517c20', base: 565, ngpio: 6 },
  { label: 'pinctrl-rp1', base: 571, ngpio: 54 },
];

/** Raspberry Pi 4 on a kernel before 6.6: the header's chip at base 0. */
export const PI4_OLD_CHIPS: FakeChip[] = [
  { label: 'pinctrl-bcm2711', base: 0, ngpio: 58 },
  { label: 'raspberrypi-exp-gpio', base: 504, ngpio: 8 },
];

/** Raspberry Pi 4 on kernel 6.6 and later: the same chip moved to 512. */
export const PI4_CHIPS: FakeChip[] = [
  { label: 'pinctrl-bcm2711', base: 512, ngpio: 58 },
  { label: 'raspberrypi-exp-gpio', base: 570, ngpio: 8 },
];
