import type { Logger } from '../../lib/logger.js';
import { Signal } from '../../lib/signal.js';
import { DeviceError, DeviceErrorCode } from './device-errors.js';
import type { DeviceHealth, LockRelay, LockState } from './device-ports.js';
import type { GpioLevel, GpioLine } from './gpio-backend.js';
import { type GpioContext, openGpioLine } from './gpio-line.js';
import { describePin, type GpioPinRef } from './gpio-pins.js';

/**
 * The lock relay on a GPIO output. It decides nothing: the door controller calls lock() and
 * unlock(). It only guarantees that the output carries the door's fail-mode state before
 * anything else when it starts, and again when it stops.
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

export class GpioLockRelay implements LockRelay {
  readonly health: Signal<DeviceHealth>;
  state: LockState;
  private line: GpioLine | undefined;
  private faulted = false;

  constructor(
    readonly name: string,
    private readonly options: GpioLockOptions,
    private readonly context: GpioContext & { log: Logger },
  ) {
    this.health = new Signal(`${name}.health`, context.log);
    this.state = this.failState;
  }

  get failState(): LockState {
    return this.options.failMode === 'secure' ? 'locked' : 'unlocked';
  }

  /** The pin level that puts the door in `state`. */
  levelFor(state: LockState): GpioLevel {
    const energise = state === this.options.energised;
    return energise !== this.options.activeLow ? 1 : 0;
  }

  async start(): Promise<void> {
    if (this.line) return;
    const { log } = this.context;
    // "high"/"low" set direction and level in one write: the pin never glitches through the other state.
    const initial = this.levelFor(this.failState) === 1 ? 'high' : 'low';
    this.line = openGpioLine(this.context, this.name, this.options.pin, initial, 'none');
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
    // A command the controller gave before start() (it sets the fail state first) applies now.
    if (this.state !== this.failState) this.drive(this.state);
  }

  /** Leaves the output driven at the fail-mode level and exported: releasing it would let the pin float. */
  async stop(): Promise<void> {
    if (!this.line) return;
    this.drive(this.failState);
    this.line = undefined;
  }

  unlock(): void {
    this.drive('unlocked');
  }

  lock(): void {
    this.drive('locked');
  }

  private drive(state: LockState): void {
    this.state = state;
    if (!this.line) return;
    try {
      this.line.writeSync(this.levelFor(state));
      if (this.faulted) {
        this.faulted = false;
        this.health.emit({ device: this.name, state: 'ok' });
      }
    } catch (cause) {
      const error = new DeviceError(DeviceErrorCode.gpioIo, `${this.name}: cannot drive the relay ${state}`, {
        cause,
      });
      this.context.log.error({ err: error, device: this.name }, 'lock relay write failed');
      if (!this.faulted) {
        this.faulted = true;
        this.health.emit({ device: this.name, state: 'fault', message: error.message });
      }
    }
  }
}
