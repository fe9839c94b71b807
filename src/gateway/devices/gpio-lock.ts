import type { Clock, TimerHandle } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import { Signal } from '../../lib/signal.js';
import { DeviceError, DeviceErrorCode } from './device-errors.js';
import type { DeviceHealth, LockRelay, LockState } from './device-ports.js';
import type { GpioLevel, GpioLine } from './gpio-backend.js';
import { type GpioContext, openGpioLine } from './gpio-line.js';
import { describePin, type GpioPinRef } from './gpio-pins.js';

/**
 * The lock relay on a GPIO output. It decides nothing: the door controller calls lock() and
 * unlock(). It guarantees that the output carries the door's fail-mode state before anything
 * else (driveFailMode), and again when it stops; that `state` is what the relay carries, not what
 * was asked; and that a write that fails is retried every second until one goes through, with a
 * fault reported meanwhile.
 */
export interface GpioLockOptions {
  pin: GpioPinRef;
  /** The relay driver energises the relay when the pin is low. */
  activeLow: boolean;
  /** What an energised relay does to the door: release it (fail-secure strike) or hold it (maglock). */
  energised: LockState;
  /** The door's fail mode: `secure` starts and stops locked, `safe` unlocked. */
  failMode: 'secure' | 'safe';
}

/** How long a relay whose write failed waits before writing again. */
export const RELAY_RETRY_MS = 1_000;

export class GpioLockRelay implements LockRelay {
  readonly health: Signal<DeviceHealth>;
  readonly changes: Signal<LockState>;
  /** What the relay carries: the fail-mode state from the open, then each write that went through. */
  private carried: LockState;
  /** What the controller asked for last. */
  private wanted: LockState;
  private line: GpioLine | undefined;
  private retry: TimerHandle | undefined;
  private fault: string | undefined;

  constructor(
    readonly name: string,
    private readonly options: GpioLockOptions,
    private readonly context: GpioContext & { clock: Clock; log: Logger },
  ) {
    this.health = new Signal(`${name}.health`, context.log);
    this.changes = new Signal(`${name}.changes`, context.log);
    this.carried = this.failState;
    this.wanted = this.failState;
  }

  get state(): LockState {
    return this.carried;
  }

  get failState(): LockState {
    return this.options.failMode === 'secure' ? 'locked' : 'unlocked';
  }

  /** The pin level that puts the door in `state`. */
  levelFor(state: LockState): GpioLevel {
    const energise = state === this.options.energised;
    return energise !== this.options.activeLow ? 1 : 0;
  }

  driveFailMode(): void {
    if (this.line) return;
    const { log } = this.context;
    // "high"/"low" set direction and level in one write: the pin never glitches through the other state.
    const initial = this.levelFor(this.failState) === 1 ? 'high' : 'low';
    this.line = openGpioLine(this.context, this.name, this.options.pin, initial, 'none');
    this.carried = this.failState;
    log.info(
      { device: this.name, pin: describePin(this.options.pin), state: this.failState },
      'lock relay driven to the fail-mode state',
    );
    if (this.options.energised === this.failState) {
      log.warn(
        { device: this.name, failMode: this.options.failMode, energised: this.options.energised },
        'a de-energised relay leaves this door in the opposite of its fail mode when the gateway loses power; check the wiring and `energised`',
      );
    }
    // A command the controller gave before the output was open applies now.
    if (this.wanted !== this.carried) this.write();
  }

  async start(): Promise<void> {
    this.driveFailMode();
    // A write that failed before the gateway listened to this relay's health is told again.
    if (this.fault !== undefined)
      this.health.emit({ device: this.name, state: 'fault', message: this.fault });
  }

  /** Leaves the output driven at the fail-mode level and exported: releasing it would let the pin float. */
  async stop(): Promise<void> {
    if (!this.line) return;
    this.wanted = this.failState;
    this.write();
    this.retry?.cancel();
    this.retry = undefined;
    this.line = undefined;
  }

  unlock(): void {
    this.command('unlocked');
  }

  lock(): void {
    this.command('locked');
  }

  private command(state: LockState): void {
    this.wanted = state;
    this.write();
  }

  private write(): void {
    const line = this.line;
    if (!line) return;
    const state = this.wanted;
    try {
      line.writeSync(this.levelFor(state));
    } catch (cause) {
      this.writeFailed(state, cause);
      return;
    }
    this.retry?.cancel();
    this.retry = undefined;
    const changed = state !== this.carried;
    this.carried = state;
    if (changed) this.changes.emit(state);
    if (this.fault !== undefined) {
      this.fault = undefined;
      this.context.log.info({ device: this.name, state }, 'lock relay driven again');
      this.health.emit({ device: this.name, state: 'ok' });
    }
  }

  /** Reports the fault once, and writes again in a second for as long as the writes fail. */
  private writeFailed(state: LockState, cause: unknown): void {
    const { log, clock } = this.context;
    const error = new DeviceError(DeviceErrorCode.gpioIo, `${this.name}: cannot drive the relay ${state}`, {
      cause,
    });
    if (this.fault === undefined) {
      this.fault = error.message;
      log.error({ err: error, device: this.name, carried: this.carried }, 'lock relay write failed');
      this.health.emit({ device: this.name, state: 'fault', message: error.message });
    } else {
      log.debug({ err: error, device: this.name }, 'lock relay write failed again');
    }
    this.retry ??= clock.setTimeout(() => {
      this.retry = undefined;
      this.write();
    }, RELAY_RETRY_MS);
  }
}
