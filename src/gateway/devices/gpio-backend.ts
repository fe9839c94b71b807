import { createRequire } from 'node:module';

/**
 * The part of onoff's `Gpio` the adapters use, behind a seam so tests inject a fake class.
 * onoff (and its native epoll module) is loaded on first use, so simulated-only gateways and
 * machines without sysfs GPIO never load it.
 */
export type GpioLevel = 0 | 1;
export type GpioDirection = 'in' | 'out' | 'high' | 'low';
export type GpioEdge = 'none' | 'rising' | 'falling' | 'both';

export interface GpioOptions {
  debounceTimeout?: number;
  activeLow?: boolean;
  reconfigureDirection?: boolean;
}

export interface GpioLine {
  readSync(): GpioLevel;
  writeSync(value: GpioLevel): void;
  watch(callback: (error: Error | null | undefined, value: GpioLevel) => void): void;
  unexport(): void;
}

export interface GpioConstructor {
  new (gpio: number, direction: GpioDirection, edge?: GpioEdge, options?: GpioOptions): GpioLine;
  readonly accessible: boolean;
}

let onoff: GpioConstructor | undefined;

export function onoffGpio(): GpioConstructor {
  if (!onoff) {
    const require = createRequire(import.meta.url);
    onoff = (require('onoff') as { Gpio: GpioConstructor }).Gpio;
  }
  return onoff;
}
