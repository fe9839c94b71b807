import { COMMAND_MASK, ERROR_USAGES, type KeyStroke, keyForUsage, SHIFT_MASK } from './hid-usage-table.js';

/**
 * Turns HID boot-keyboard input reports into key strokes. A report lists the keys held down
 * right now (byte 0 modifiers, byte 1 reserved, bytes 2–7 up to six usages), so a key stroke is a
 * usage that appears in a report and was not held in the one before. Two new usages in one report
 * (rollover, as fast readers send) are two strokes in slot order; a report with no keys releases
 * everything, so the same character can be typed again.
 */
export interface KeyboardReportDecoderOptions {
  /** Set when the device prefixes its keyboard reports with a report id (byte 0 on hidraw). */
  reportId?: number;
}

export type KeyboardDecodeResult = { strokes: KeyStroke[] } | { strokes: []; ignored: string };

const BOOT_REPORT_LENGTH = 8;

export class KeyboardReportDecoder {
  private held = new Set<number>();

  constructor(private readonly options: KeyboardReportDecoderOptions = {}) {}

  decode(report: Uint8Array): KeyboardDecodeResult {
    let body = report;
    if (this.options.reportId !== undefined) {
      if (report[0] !== this.options.reportId) {
        return { strokes: [], ignored: `report id ${report[0] ?? 'none'} is not ${this.options.reportId}` };
      }
      body = report.subarray(1);
    }
    if (body.length !== BOOT_REPORT_LENGTH) {
      return { strokes: [], ignored: `not a boot keyboard report (${body.length} bytes, expected 8)` };
    }
    const modifiers = body[0] ?? 0;
    const usages = [...body.subarray(2)].filter((usage) => usage !== 0);
    // An error report says nothing about which keys are down: keep the previous state.
    if (usages.some((usage) => ERROR_USAGES.has(usage))) {
      return { strokes: [], ignored: 'keyboard rollover error report' };
    }
    const pressed = [...new Set(usages)].filter((usage) => !this.held.has(usage));
    this.held = new Set(usages);
    if (pressed.length > 0 && (modifiers & COMMAND_MASK) !== 0) {
      return { strokes: [], ignored: 'key pressed with Ctrl, Alt or GUI held' };
    }
    const shifted = (modifiers & SHIFT_MASK) !== 0;
    const strokes = pressed
      .map((usage) => keyForUsage(usage, shifted))
      .filter((stroke): stroke is KeyStroke => stroke !== undefined);
    return { strokes };
  }

  /** Forgets the held keys, e.g. after the device was unplugged mid-report. */
  reset(): void {
    this.held.clear();
  }
}
