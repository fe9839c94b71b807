import type { Clock, TimerHandle } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import { Signal } from '../../lib/signal.js';
import type { DeviceHealth, Indicator, IndicatorPattern } from './device-ports.js';
import type { GpioLine } from './gpio-backend.js';
import { type GpioContext, openGpioLine } from './gpio-line.js';
import type { GpioPinRef } from './gpio-pins.js';

/**
 * The reader's LEDs and buzzer on GPIO outputs (Wiegand-style readers have LED and beeper
 * inputs; a panel LED and piezo buzzer work the same). Each pattern says what each output does;
 * blinking runs on the injected clock.
 */
export type IndicatorOutputName = 'green' | 'red' | 'buzzer';

export interface GpioOutputOptions {
  pin: GpioPinRef;
  activeLow: boolean;
}

export type IndicatorOutputs = Partial<Record<IndicatorOutputName, GpioOutputOptions>>;

/** `on`, `off`, or blinking: on for onMs, off for offMs, `times` times (forever without). */
type Drive = 'on' | 'off' | { onMs: number; offMs: number; times?: number };

export const INDICATOR_PATTERNS: Readonly<Record<IndicatorPattern, Record<IndicatorOutputName, Drive>>> = {
  idle: { green: 'off', red: 'off', buzzer: 'off' },
  'awaiting-code': {
    green: { onMs: 250, offMs: 250 },
    red: 'off',
    buzzer: { onMs: 100, offMs: 0, times: 1 },
  },
  granted: { green: 'on', red: 'off', buzzer: { onMs: 300, offMs: 0, times: 1 } },
  denied: { green: 'off', red: 'on', buzzer: { onMs: 100, offMs: 100, times: 3 } },
  alarm: { green: 'off', red: { onMs: 250, offMs: 250 }, buzzer: { onMs: 500, offMs: 500 } },
};

interface Output {
  name: IndicatorOutputName;
  options: GpioOutputOptions;
  line?: GpioLine;
  timer?: TimerHandle;
}

export class GpioIndicator implements Indicator {
  readonly health: Signal<DeviceHealth>;
  pattern: IndicatorPattern = 'idle';
  private readonly outputs: Output[];
  private started = false;
  private faulted = false;

  constructor(
    readonly name: string,
    outputs: IndicatorOutputs,
    private readonly context: GpioContext & { clock: Clock; log: Logger },
  ) {
    this.health = new Signal(`${name}.health`, context.log);
    this.outputs = (Object.entries(outputs) as Array<[IndicatorOutputName, GpioOutputOptions]>).map(
      ([name, options]) => ({ name, options }),
    );
  }

  async start(): Promise<void> {
    if (this.started) return;
    for (const output of this.outputs) {
      const off = output.options.activeLow ? 'high' : 'low';
      output.line = openGpioLine(
        this.context,
        `${this.name}.${output.name}`,
        output.options.pin,
        off,
        'none',
      );
    }
    this.started = true;
    this.show(this.pattern);
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    for (const output of this.outputs) {
      output.timer?.cancel();
      this.set(output, false);
      output.line?.unexport();
      output.line = undefined;
    }
  }

  show(pattern: IndicatorPattern): void {
    this.pattern = pattern;
    if (!this.started) return;
    for (const output of this.outputs) this.drive(output, INDICATOR_PATTERNS[pattern][output.name]);
  }

  /** Whether an output is on right now (for tests and diagnostics). */
  isOn(name: IndicatorOutputName): boolean | undefined {
    const output = this.outputs.find((o) => o.name === name);
    if (!output?.line) return undefined;
    return (output.line.readSync() === 1) !== output.options.activeLow;
  }

  private drive(output: Output, drive: Drive): void {
    output.timer?.cancel();
    output.timer = undefined;
    if (drive === 'on' || drive === 'off') {
      this.set(output, drive === 'on');
      return;
    }
    const { clock } = this.context;
    const blink = (remaining: number) => {
      this.set(output, true);
      output.timer = clock.setTimeout(() => {
        this.set(output, false);
        if (remaining <= 1) return;
        output.timer = clock.setTimeout(() => blink(remaining - 1), drive.offMs);
      }, drive.onMs);
    };
    blink(drive.times ?? Number.POSITIVE_INFINITY);
  }

  private set(output: Output, on: boolean): void {
    try {
      output.line?.writeSync(on !== output.options.activeLow ? 1 : 0);
      if (this.faulted) {
        this.faulted = false;
        this.health.emit({ device: this.name, state: 'ok' });
      }
    } catch (error) {
      this.context.log.error(
        { err: error, device: this.name, output: output.name },
        'indicator write failed',
      );
      if (this.faulted) return;
      this.faulted = true;
      this.health.emit({
        device: this.name,
        state: 'fault',
        message: `${this.name}.${output.name}: ${error instanceof Error ? error.message : String(error)}`,
      });
    }
  }
}
