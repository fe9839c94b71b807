import type { Logger } from '../../lib/logger.js';
import { Signal } from '../../lib/signal.js';
import type {
  BadgeReader,
  DeviceHealth,
  DoorContact,
  ExitButton,
  Indicator,
  IndicatorPattern,
  Keypad,
  LockRelay,
  LockState,
} from './device-ports.js';

/**
 * Simulated devices: the same interfaces as the hardware adapters, driven by `identgate sim`
 * and by tests. They are the demo's devices.
 */
abstract class SimulatedDevice {
  readonly health: Signal<DeviceHealth>;
  protected running = false;

  constructor(
    readonly name: string,
    log?: Logger,
  ) {
    this.health = new Signal(`${name}.health`, log);
  }

  async start(): Promise<void> {
    this.running = true;
  }

  async stop(): Promise<void> {
    this.running = false;
  }

  /** Simulates the device failing (unplugged) or coming back. */
  setFault(message: string | undefined): void {
    this.health.emit(
      message === undefined
        ? { device: this.name, state: 'ok' }
        : { device: this.name, state: 'fault', message },
    );
  }

  protected assertRunning(): void {
    if (!this.running) throw new Error(`simulated device ${this.name} is not running`);
  }
}

export class SimulatedBadgeReader extends SimulatedDevice implements BadgeReader {
  readonly badges: Signal<string>;

  constructor(name: string, log?: Logger) {
    super(name, log);
    this.badges = new Signal(`${name}.badges`, log);
  }

  present(badge: string): void {
    this.assertRunning();
    this.badges.emit(badge);
  }
}

export class SimulatedKeypad extends SimulatedDevice implements Keypad {
  readonly entries: Signal<string>;

  constructor(name: string, log?: Logger) {
    super(name, log);
    this.entries = new Signal(`${name}.entries`, log);
  }

  type(digits: string): void {
    this.assertRunning();
    this.entries.emit(digits);
  }

  /** `type` delivers whole entries: nothing is ever half-typed. */
  clearEntry(): void {}
}

export class SimulatedLockRelay extends SimulatedDevice implements LockRelay {
  state: LockState;
  readonly changes: Signal<LockState>;
  /** Every command the relay received, oldest first; tests read it. */
  readonly history: LockState[] = [];
  private readonly failState: LockState;

  /** Like the GPIO relay, it starts in and returns to the door's fail-mode state (default secure). */
  constructor(name: string, log?: Logger, options: { failMode?: 'secure' | 'safe' } = {}) {
    super(name, log);
    this.changes = new Signal(`${name}.changes`, log);
    this.failState = options.failMode === 'safe' ? 'unlocked' : 'locked';
    this.state = this.failState;
  }

  /** Nothing to open: the simulated relay is in its fail-mode state from construction. */
  driveFailMode(): void {}

  override async stop(): Promise<void> {
    if (this.running && this.state !== this.failState) this.set(this.failState);
    await super.stop();
  }

  unlock(): void {
    this.set('unlocked');
  }

  lock(): void {
    this.set('locked');
  }

  private set(state: LockState): void {
    const changed = state !== this.state;
    this.state = state;
    this.history.push(state);
    if (changed) this.changes.emit(state);
  }
}

export class SimulatedDoorContact extends SimulatedDevice implements DoorContact {
  readonly changes: Signal<boolean>;
  private open = false;

  constructor(name: string, log?: Logger) {
    super(name, log);
    this.changes = new Signal(`${name}.changes`, log);
  }

  isOpen(): boolean {
    return this.open;
  }

  set(open: boolean): void {
    this.assertRunning();
    if (open === this.open) return;
    this.open = open;
    this.changes.emit(open);
  }
}

export class SimulatedExitButton extends SimulatedDevice implements ExitButton {
  readonly presses: Signal<void>;

  constructor(name: string, log?: Logger) {
    super(name, log);
    this.presses = new Signal(`${name}.presses`, log);
  }

  press(): void {
    this.assertRunning();
    this.presses.emit();
  }
}

export class SimulatedIndicator extends SimulatedDevice implements Indicator {
  pattern: IndicatorPattern = 'idle';

  show(pattern: IndicatorPattern): void {
    this.pattern = pattern;
  }
}
