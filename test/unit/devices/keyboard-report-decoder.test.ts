import { describe, expect, it } from 'vitest';
import type { KeyStroke } from '../../../src/gateway/devices/hid-usage-table.js';
import { KeyboardReportDecoder } from '../../../src/gateway/devices/keyboard-report-decoder.js';
import { ENTER, hexFixture, KEY_UP, keyReport, typed } from './helpers/hid-reports.js';

function text(strokes: KeyStroke[]): string {
  return strokes.map((s) => (s.kind === 'char' ? s.char : `<${s.key}>`)).join('');
}

function decodeAll(reports: Uint8Array[], decoder = new KeyboardReportDecoder()): string {
  return reports.map((report) => text(decoder.decode(report).strokes)).join('');
}

describe('boot-keyboard report decoding', () => {
  it('reads digits through the HID usage table', () => {
    expect(decodeAll(typed('0123456789', null))).toBe('0123456789');
  });

  it('reads letters, lower case without Shift and upper case with either Shift key', () => {
    const decoder = new KeyboardReportDecoder();
    expect(text(decoder.decode(keyReport(0, 0x04)).strokes)).toBe('a');
    decoder.decode(KEY_UP);
    expect(text(decoder.decode(keyReport(0x02, 0x04)).strokes)).toBe('A');
    decoder.decode(KEY_UP);
    expect(text(decoder.decode(keyReport(0x20, 0x1d)).strokes)).toBe('Z');
  });

  it('reports a key once while it is held, and again after a key-up report', () => {
    const decoder = new KeyboardReportDecoder();
    expect(decodeAll([keyReport(0, 0x1e), keyReport(0, 0x1e), KEY_UP, keyReport(0, 0x1e)], decoder)).toBe(
      '11',
    );
  });

  it('reads two keys pressed in one report (rollover) in slot order', () => {
    expect(decodeAll([keyReport(0, 0x1f, 0x20)])).toBe('23');
  });

  it('reports only the newly pressed key when another is still held', () => {
    expect(decodeAll([keyReport(0, 0x1f), keyReport(0, 0x1f, 0x20)])).toBe('23');
  });

  it('turns Enter and Keypad Enter into the enter control key', () => {
    expect(decodeAll([keyReport(0, ENTER), KEY_UP, keyReport(0, 0x58)])).toBe('<enter><enter>');
  });

  it('decodes shifted capitals and rollover in a reader sequence', () => {
    expect(decodeAll(hexFixture('shift-and-rollover.hex'))).toBe('04A7bF<enter>');
  });

  it('ignores noise: short reports, rollover errors, Ctrl combinations, unknown usages, other collections', () => {
    const decoder = new KeyboardReportDecoder();
    const results = hexFixture('noise.hex').map((report) => decoder.decode(report));
    expect(results.flatMap((r) => r.strokes)).toEqual([]);
    expect(results.filter((r) => 'ignored' in r).map((r) => ('ignored' in r ? r.ignored : ''))).toEqual([
      'not a boot keyboard report (3 bytes, expected 8)',
      'keyboard rollover error report',
      'key pressed with Ctrl, Alt or GUI held',
      'not a boot keyboard report (12 bytes, expected 8)',
    ]);
  });

  it('keeps the held keys through a rollover error report', () => {
    const decoder = new KeyboardReportDecoder();
    const reports = [keyReport(0, 0x1e), keyReport(0, 1, 1, 1, 1, 1, 1), keyReport(0, 0x1e)];
    expect(decodeAll(reports, decoder)).toBe('1');
  });

  it('strips a configured report id and ignores reports with another id', () => {
    const decoder = new KeyboardReportDecoder({ reportId: 1 });
    expect(text(decoder.decode(Uint8Array.of(1, ...keyReport(0, 0x1e))).strokes)).toBe('1');
    expect(decoder.decode(Uint8Array.of(2, 0, 0))).toEqual({ strokes: [], ignored: 'report id 2 is not 1' });
  });
});
