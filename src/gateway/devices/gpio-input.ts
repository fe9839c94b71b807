import type { Clock, TimerHandle } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import { Signal } from '../../lib/signal.js';
import { DeviceError } from './device-errors.js';
import type { DeviceHealth, DoorContact, ExitButton } from './device-ports.js';
import type { GpioLine } from './gpio-backend.js';
import { type GpioContext, openGpioLine } from './gpio-line.js';
import type { GpioPinRef } from './gpio-pins.js';

/**
 * A debounced GPIO input watched on both edges. Every edge restarts a settle timer on the
 * injected clock; when the line has been quiet for `debounceMs` its level is read once and, if it
 * differs from the last stable state, reported. The state is read at start, so the door
 * controller knows whether the door stands open before the first edge.
 *
 * Noise cannot hold a change back for ever: a line still changing 10 × `debounceMs` after its
 * first edge is unstable, a fault, and taken as the role's `unstable.as` (a contact as open, a
 * button as not pressed) until it is quiet again. A line that cannot be opened or read is a fault
 * too, its state unknown (`active` undefined), and is opened or read again with capped backoff
 * until it answers.
 */
export interface GpioInputOptions {
  pin: GpioPinRef;
  /** The input reads low while active (door open, button pressed). */
  activeLow: boolean;
  debounceMs: number;
}

export type GpioInputContext = GpioContext & { clock: Clock; log: Logger };

/** What a line that will not settle is taken as, and the word for it in the fault. */
export interface UnstableReading {
  as: boolean;
  label: string;
}

/** How many debounce times a line may keep changing before it counts as unstable. */
export const SETTLE_CAP_FACTOR = 10;
/** Backoff of a line that cannot be opened or read: 1 s, doubling, at most a minute. */
export const INPUT_RETRY_INITIAL_MS = 1_000;
export const INPUT_RETRY_MAX_MS = 60_000;

export class DebouncedGpioInput {
  readonly health: Signal<DeviceHealth>;
  private line: GpioLine | undefined;
  private running = false;
  private settle: TimerHandle | undefined;
  /** When the edges the settle timer waits out began, and how many there have been. */
  private window: { since: number; edges: number } | undefined;
  private retry: TimerHandle | undefined;
  private attempts = 0;
  /** The last level known (read at start, or reported since); undefined before any read. */
  private stable: boolean | undefined;
  /** Why the line cannot be opened or read, while it cannot. */
  private unreadable: string | undefined;
  /** Why the line counts as unstable, while it does. */
  private unstable: string | undefined;
  private faulted = false;

  constructor(
    readonly name: string,
    private readonly options: GpioInputOptions,
    private readonly context: GpioInputContext,
    private readonly unstableReading: UnstableReading,
    /** A new level; `previous` undefined when none was known (the line answered only now). */
    private readonly changed: (active: boolean, previous: boolean | undefined) => void,
  ) {
    this.health = new Signal(`${name}.health`, context.log);
  }

  /** The line's state; undefined while it cannot be opened or read. */
  get active(): boolean | undefined {
    return this.unreadable === undefined ? this.stable : undefined;
  }

  /** Opens the line and reads its state; a failure is reported as a fault and retried, not thrown. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.connect(false);
  }

  stop(): void {
    this.running = false;
    this.settle?.cancel();
    this.settle = undefined;
    this.window = undefined;
    this.retry?.cancel();
    this.retry = undefined;
    const line = this.line;
    this.line = undefined;
    line?.unexport();
  }

  /** Opens the line if it is not open, and reads it; `report` tells a level that differs. */
  private connect(report: boolean): void {
    if (!this.line) {
      try {
        const line = openGpioLine(this.context, this.name, this.options.pin, 'in', 'both');
        line.watch((error) => {
          if (error) this.failed(error);
          else this.edge();
        });
        this.line = line;
      } catch (error) {
        this.failed(error);
        return;
      }
    }
    const active = this.read(this.line);
    if (active === undefined) return;
    if (report) this.report(active);
    else this.stable = active;
  }

  private edge(): void {
    this.settle?.cancel();
    const { debounceMs } = this.options;
    if (debounceMs === 0) {
      this.settled();
      return;
    }
    const { clock } = this.context;
    const now = clock.now();
    this.window ??= { since: now, edges: 0 };
    this.window.edges++;
    const capAt = this.window.since + debounceMs * SETTLE_CAP_FACTOR;
    this.settle =
      now + debounceMs <= capAt
        ? clock.setTimeout(() => this.settled(), debounceMs)
        : clock.setTimeout(() => this.neverSettled(), capAt - now);
  }

  private settled(): void {
    this.settle = undefined;
    this.window = undefined;
    if (!this.line) return;
    const active = this.read(this.line);
    if (active === undefined) return;
    if (this.unstable !== undefined) {
      this.unstable = undefined;
      this.context.log.info({ device: this.name }, 'GPIO input settled again');
      this.updateHealth();
    }
    this.report(active);
  }

  /**
   * The line kept changing for the whole cap: it is unstable, and taken as the role says. A new
   * window begins, so that the line is read once it has been quiet for the debounce time.
   */
  private neverSettled(): void {
    const { clock } = this.context;
    const { debounceMs } = this.options;
    const edges = this.window?.edges ?? 0;
    this.window = { since: clock.now(), edges: 0 };
    this.settle = clock.setTimeout(() => this.settled(), debounceMs);
    if (this.unstable === undefined) {
      this.unstable =
        `${this.name}: the line does not settle (${edges} changes in ${debounceMs * SETTLE_CAP_FACTOR} ms); ` +
        `taken as ${this.unstableReading.label} until it is quiet for ${debounceMs} ms`;
      this.context.log.warn({ device: this.name, edges }, this.unstable);
      this.updateHealth();
    }
    this.report(this.unstableReading.as);
  }

  private report(active: boolean): void {
    if (active === this.stable) return;
    const previous = this.stable;
    this.stable = active;
    this.changed(active, previous);
  }

  private read(line: GpioLine): boolean | undefined {
    let active: boolean;
    try {
      active = (line.readSync() === 1) !== this.options.activeLow;
    } catch (error) {
      this.failed(error);
      return undefined;
    }
    if (this.unreadable !== undefined) {
      this.unreadable = undefined;
      this.attempts = 0;
      this.retry?.cancel();
      this.retry = undefined;
      this.context.log.info({ device: this.name }, 'GPIO input readable again');
      this.updateHealth();
    }
    return active;
  }

  /** The line could not be opened or read: its state is unknown until a retry reads it. */
  private failed(error: unknown): void {
    const { log, clock } = this.context;
    const message = error instanceof DeviceError ? error.message : `${this.name}: ${errorMessage(error)}`;
    if (this.unreadable === undefined) log.error({ err: error, device: this.name }, 'GPIO input failed');
    else log.debug({ err: error, device: this.name }, 'GPIO input still failing');
    this.unreadable ??= message;
    this.updateHealth();
    if (!this.running || this.retry) return;
    const delay = Math.min(INPUT_RETRY_MAX_MS, INPUT_RETRY_INITIAL_MS * 2 ** this.attempts);
    this.attempts++;
    this.retry = clock.setTimeout(() => {
      this.retry = undefined;
      this.connect(true);
    }, delay);
  }

  /** One fault per outage, whatever its causes; ok once none is left. */
  private updateHealth(): void {
    const message = this.unreadable ?? this.unstable;
    if (message !== undefined && !this.faulted) {
      this.faulted = true;
      this.health.emit({ device: this.name, state: 'fault', message });
    } else if (message === undefined && this.faulted) {
      this.faulted = false;
      this.health.emit({ device: this.name, state: 'ok' });
    }
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
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
    // Noise on the line must not hide an opening: a contact that will not settle reads open.
    const unstable = { as: true, label: 'open' };
    this.input = new DebouncedGpioInput(name, options, context, unstable, (open) => this.changes.emit(open));
    this.health = this.input.health;
  }

  isOpen(): boolean | undefined {
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
    // Noise on the line must not open the door: a button that will not settle reads not pressed,
    // and one that answers only now (it could not be read) counts as pressed only from released.
    const unstable = { as: false, label: 'not pressed' };
    this.input = new DebouncedGpioInput(name, options, context, unstable, (pressed, previous) => {
      if (pressed && previous === false) this.presses.emit();
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
