import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import type { Signal } from '../../lib/signal.js';
import type { Keypad } from './device-ports.js';
import type { HidConnection } from './hid-connection.js';
import { HidInputDevice, type ReportInterpreter } from './hid-input-device.js';
import { KeyboardReportDecoder } from './keyboard-report-decoder.js';
import { KeypadAssembler } from './keypad-assembler.js';
import type { ReportDecoder } from './report-decoder.js';

/** Reports in, digits out; the half-typed entry can be voided from outside. */
export interface KeypadInterpreter extends ReportInterpreter {
  clearEntry(reason: string): void;
}

/** A USB HID keypad: a numeric keypad (keyboard reports) or a reader's PIN pad (Wiegand key frames). */
export class HidKeypad extends HidInputDevice<string, KeypadInterpreter> implements Keypad {
  constructor(
    name: string,
    connection: HidConnection,
    interpreter: (deliver: (digits: string) => void) => KeypadInterpreter,
    log: Logger,
  ) {
    super(name, connection, interpreter, 'entries', log);
  }

  get entries(): Signal<string> {
    return this.output;
  }

  clearEntry(): void {
    this.interpreter.clearEntry('a badge was presented');
  }
}

export interface KeypadEntryOptions {
  name: string;
  clock: Clock;
  log: Logger;
  entryTimeoutMs: number;
  maxDigits: number;
}

function assembler(options: KeypadEntryOptions, deliver: (digits: string) => void): KeypadAssembler {
  const { name, log } = options;
  // Never log the digits: they are a one-time code.
  return new KeypadAssembler(options, {
    entry: deliver,
    cleared: (reason) => log.info({ device: name }, `keypad entry cleared: ${reason}`),
  });
}

export function keyboardKeypadInterpreter(
  options: KeypadEntryOptions & { reportId?: number },
): (deliver: (digits: string) => void) => KeypadInterpreter {
  return (deliver) => {
    const decoder = new KeyboardReportDecoder({ reportId: options.reportId });
    const entry = assembler(options, deliver);
    return {
      feed(report) {
        const result = decoder.decode(report);
        if ('ignored' in result)
          options.log.debug({ device: options.name, reason: result.ignored }, 'HID report ignored');
        for (const stroke of result.strokes) entry.key(stroke);
      },
      reset() {
        decoder.reset();
        entry.reset();
      },
      // The decoder keeps which keys are down: a key held across the badge is not pressed anew.
      clearEntry: (reason) => entry.clear(reason),
    };
  };
}

export function profileKeypadInterpreter(
  decoder: ReportDecoder,
  options: KeypadEntryOptions,
): (deliver: (digits: string) => void) => KeypadInterpreter {
  return (deliver) => {
    const entry = assembler(options, deliver);
    return {
      feed(report) {
        const event = decoder.decode(report);
        if (event.kind === 'key') entry.key(event.key);
        else if (event.kind === 'ignored')
          options.log.debug({ device: options.name, reason: event.reason }, 'HID report ignored');
      },
      reset() {
        entry.reset();
      },
      clearEntry: (reason) => entry.clear(reason),
    };
  };
}
