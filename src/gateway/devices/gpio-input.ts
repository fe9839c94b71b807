import type { Clock, TimerHandle } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import { Signal } from '../../lib/signal.js';
import type { DeviceHealth, DoorContact, ExitButton } from './device-ports.js';
import type { GpioLine } from './gpio-backend.js';
import { type GpioContext, openGpioLine } from './gpio-line.js';
import type { GpioPinRef } from './gpio-pins.js';

/**
 * A debounced GPIO input watched on both edges. Every edge restarts a settle timer on the
 * injected clock; when the line has been quiet for `debounceMs` its level is read once and, if it
 * differs from the last stable state, reported. The state is read at start, so the door
 * controller knows whether the door stands open before the first edge.
 */
export interface GpioInputOptions {
  pin: GpioPinRef;
  /** The input reads low while active (door open, button pressed). */
  activeLow: boolean;
  debounceMs: number;
}

export type GpioInputContext = GpioContext & { clock: Clock; log: Logger };

export class DebouncedGpioInput {
  readonly health: Signal<DeviceHealth>;
  private line: GpioLine | undefined;
  private settle: TimerHandle | undefined;
  private stable = false;
  private faulted = false;

  constructor(
    readonly name: string,
    private readonly options: GpioInputOptions,
    private readonly context: GpioInputContext,
    private readonly changed: (active: boolean) => void,
  ) {
    this.health = new Signal(`${name}.health`, context.log);
  }

  get active(): boolean {
    return this.stable;
  }

  start(): void {
    if (this.line) return;
    const line = openGpioLine(this.context, this.name, this.options.pin, 'in', 'both');
    this.line = line;
    this.stable = this.read(line) ?? false;
    line.watch((error) => {
      if (error) this.fault(error);
      else this.edge();
    });
  }

  stop(): void {
    this.settle?.cancel();
    this.settle = undefined;
    const line = this.line;
    this.line = undefined;
    line?.unexport();
  }

  private edge(): void {
    this.settle?.cancel();
    if (this.options.debounceMs === 0) {
      this.settled();
      return;
    }
    this.settle = this.context.clock.setTimeout(() => this.settled(), this.options.debounceMs);
  }

  private settled(): void {
    this.settle = undefined;
    if (!this.line) return;
    const active = this.read(this.line);
    if (active === undefined || active === this.stable) return;
    this.stable = active;
    this.changed(active);
  }

  private read(line: GpioLine): boolean | undefined {
    try {
      const active = (line.readSync() === 1) !== this.options.activeLow;
      if (this.faulted) {
        this.faulted = false;
        this.health.emit({ device: this.name, state: 'ok' });
      }
      return active;
    } catch (error) {
      this.fault(error);
      return undefined;
    }
  }

  private fault(error: unknown): void {
    this.context.log.error({ err: error, device: this.name }, 'GPIO input failed');
    if (this.faulted) return;
    this.faulted = true;
    const message = error instanceof Error ? error.message : String(error);
    this.health.emit({ device: this.name, state: 'fault', message: `${this.name}: ${message}` });
  }
}

/** The door contact: active means the door stands open. */
export class GpioDoorContact implements DoorContact {
  readonly changes: Signal<boolean>;
  readonly health: Signal<DeviceHealth>;
  private readonly input: DebouncedGpioInput;

  constructor(
    readonly name: string,
    options: GpioInputOptions,
    context: GpioInputContext,
  ) {
    this.changes = new Signal(`${name}.changes`, context.log);
    this.input = new DebouncedGpioInput(name, options, context, (open) => this.changes.emit(open));
    this.health = this.input.health;
  }

  isOpen(): boolean {
    return this.input.active;
  }

  async start(): Promise<void> {
    this.input.start();
  }

  async stop(): Promise<void> {
    this.input.stop();
  }
}

/** The request-to-exit button: one press per settled transition to active. */
export class GpioExitButton implements ExitButton {
  readonly presses: Signal<void>;
  readonly health: Signal<DeviceHealth>;
  private readonly input: DebouncedGpioInput;

  constructor(
    readonly name: string,
    options: GpioInputOptions,
    context: GpioInputContext,
  ) {
    this.presses = new Signal(`${name}.presses`, context.log);
    this.input = new DebouncedGpioInput(name, options, context, (pressed) => {
      if (pressed) this.presses.emit();
    });
    this.health = this.input.health;
  }

  async start(): Promise<void> {
    this.input.start();
  }

  async stop(): Promise<void> {
    this.input.stop();
  }
}
