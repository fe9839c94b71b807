import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import type { Signal } from '../../lib/signal.js';
import { BadgeAssembler } from './badge-assembler.js';
import type { BadgeReader } from './device-ports.js';
import type { HidConnection } from './hid-connection.js';
import { HidInputDevice, type ReportInterpreter } from './hid-input-device.js';
import { KeyboardReportDecoder } from './keyboard-report-decoder.js';
import type { ReportDecoder } from './report-decoder.js';

/** A USB HID badge reader: a keyboard-wedge reader or a raw-report reader read through a profile. */
export class HidBadgeReader extends HidInputDevice<string> implements BadgeReader {
  constructor(
    name: string,
    connection: HidConnection,
    interpreter: (deliver: (badge: string) => void) => ReportInterpreter,
    log: Logger,
  ) {
    super(name, connection, interpreter, 'badges', log);
  }

  get badges(): Signal<string> {
    return this.output;
  }
}

export interface KeyboardBadgeOptions {
  name: string;
  clock: Clock;
  log: Logger;
  interCharTimeoutMs: number;
  minLength: number;
  maxLength: number;
  reportId?: number;
}

/** Keyboard-wedge readers type the badge id: decode key strokes, assemble them into an id. */
export function keyboardBadgeInterpreter(
  options: KeyboardBadgeOptions,
): (deliver: (badge: string) => void) => ReportInterpreter {
  return (deliver) => {
    const { name, log } = options;
    const decoder = new KeyboardReportDecoder({ reportId: options.reportId });
    const assembler = new BadgeAssembler(options, {
      badge: deliver,
      // The discarded text may be part of a badge id: log the reason only.
      discarded: (reason) => log.warn({ device: name }, reason),
    });
    return {
      feed(report) {
        const result = decoder.decode(report);
        if ('ignored' in result) log.debug({ device: name, reason: result.ignored }, 'HID report ignored');
        for (const stroke of result.strokes) assembler.key(stroke);
      },
      reset() {
        decoder.reset();
        assembler.reset();
      },
    };
  };
}

/** Raw-report readers send the card in one report, laid out as their profile says. */
export function profileBadgeInterpreter(
  decoder: ReportDecoder,
  name: string,
  log: Logger,
): (deliver: (badge: string) => void) => ReportInterpreter {
  return (deliver) => ({
    feed(report) {
      const event = decoder.decode(report);
      if (event.kind === 'badge') deliver(event.badge);
      else if (event.kind === 'ignored')
        log.debug({ device: name, reason: event.reason }, 'HID report ignored');
    },
    reset() {},
  });
}
