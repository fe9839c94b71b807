import type { Logger } from '../../lib/logger.js';
import { Signal } from '../../lib/signal.js';
import type { DeviceHealth } from './device-ports.js';
import type { HidConnection } from './hid-connection.js';

/**
 * What a HID input device does with its reports: a keyboard-wedge decoder, a profile decoder.
 * `reset()` voids a half-read badge or entry when the device goes away or the adapter stops.
 */
export interface ReportInterpreter {
  feed(report: Uint8Array): void;
  reset(): void;
}

/** A HID device that turns reports into values (badge ids, keypad entries) on one signal. */
export class HidInputDevice<T, I extends ReportInterpreter = ReportInterpreter> {
  readonly output: Signal<T>;
  readonly health: Signal<DeviceHealth>;
  protected readonly interpreter: I;
  private subscriptions: Array<() => void> = [];

  constructor(
    readonly name: string,
    private readonly connection: HidConnection,
    interpreter: (deliver: (value: T) => void) => I,
    outputName: string,
    log: Logger,
  ) {
    this.output = new Signal(`${name}.${outputName}`, log);
    this.health = connection.health;
    this.interpreter = interpreter((value) => this.output.emit(value));
  }

  async start(): Promise<void> {
    if (this.subscriptions.length > 0) return;
    this.subscriptions = [
      this.connection.reports.on((report) => this.interpreter.feed(report)),
      this.connection.lost.on(() => this.interpreter.reset()),
    ];
    await this.connection.start();
  }

  async stop(): Promise<void> {
    for (const off of this.subscriptions) off();
    this.subscriptions = [];
    this.interpreter.reset();
    await this.connection.stop();
  }
}
