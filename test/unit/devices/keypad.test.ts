import { describe, expect, it } from 'vitest';
import type { KeyStroke } from '../../../src/gateway/devices/hid-usage-table.js';
import { KeyboardReportDecoder } from '../../../src/gateway/devices/keyboard-report-decoder.js';
import { KeypadAssembler } from '../../../src/gateway/devices/keypad-assembler.js';
import { FakeClock } from '../../../src/lib/clock.js';
import { ESCAPE, KEY_UP, KEYPAD_ENTER, keyReport } from './helpers/hid-reports.js';

const KEYPAD_DIGITS: Record<string, number> = {
  '1': 0x59,
  '2': 0x5a,
  '3': 0x5b,
  '4': 0x5c,
  '5': 0x5d,
  '6': 0x5e,
  '7': 0x5f,
  '8': 0x60,
  '9': 0x61,
  '0': 0x62,
  '*': 0x55,
};

function keypad(options: { entryTimeoutMs?: number; maxDigits?: number } = {}) {
  const clock = new FakeClock();
  const entries: string[] = [];
  const cleared: string[] = [];
  const assembler = new KeypadAssembler(
    { clock, entryTimeoutMs: 10_000, maxDigits: 12, ...options },
    { entry: (digits) => entries.push(digits), cleared: (reason) => cleared.push(reason) },
  );
  const decoder = new KeyboardReportDecoder();
  /** Presses keys on a USB numeric keypad: digits and `*` on the keypad block, `E` for Keypad Enter, `#` as Shift+3. */
  const press = (keys: string) => {
    for (const key of keys) {
      const report =
        key === 'E'
          ? keyReport(0, KEYPAD_ENTER)
          : key === '#'
            ? keyReport(0x02, 0x20)
            : key === 'X'
              ? keyReport(0, ESCAPE)
              : keyReport(0, KEYPAD_DIGITS[key] ?? 0);
      for (const r of [report, KEY_UP]) for (const stroke of decoder.decode(r).strokes) assembler.key(stroke);
    }
  };
  const stroke = (char: string): KeyStroke => ({ kind: 'char', char, usage: 0 });
  return { clock, entries, cleared, press, assembler, stroke };
}

describe('keypad entry', () => {
  it('submits the digits typed before Enter', () => {
    const { entries, press } = keypad();
    press('123456E');
    expect(entries).toEqual(['123456']);
  });

  it('submits the digits typed before #', () => {
    const { entries, press } = keypad();
    press('654321#');
    expect(entries).toEqual(['654321']);
  });

  it('clears the entry at * and starts over', () => {
    const { entries, cleared, press } = keypad();
    press('999*123456E');
    expect(entries).toEqual(['123456']);
    expect(cleared).toEqual(['cleared by the user']);
  });

  it('clears the entry at Escape', () => {
    const { entries, press } = keypad();
    press('999X123456E');
    expect(entries).toEqual(['123456']);
  });

  it('clears a half-typed entry after the entry timeout', () => {
    const { clock, entries, cleared, press } = keypad({ entryTimeoutMs: 10_000 });
    press('123');
    clock.advance(10_000);
    press('456789E');
    expect(entries).toEqual(['456789']);
    expect(cleared).toEqual(['entry timed out']);
  });

  it('keeps an entry alive while keys keep coming', () => {
    const { clock, entries, press } = keypad({ entryTimeoutMs: 10_000 });
    press('123');
    clock.advance(9_000);
    press('456');
    clock.advance(9_000);
    press('E');
    expect(entries).toEqual(['123456']);
  });

  it('ignores a submit with nothing typed', () => {
    const { entries, press } = keypad();
    press('E#');
    expect(entries).toEqual([]);
  });

  it('clears an entry longer than the maximum', () => {
    const { entries, cleared, press } = keypad({ maxDigits: 4 });
    press('12345E');
    expect(entries).toEqual([]);
    expect(cleared).toEqual(['more than 4 digits']);
  });

  it('removes the last digit at Backspace', () => {
    const { entries, assembler, stroke } = keypad();
    for (const s of [
      stroke('1'),
      stroke('2'),
      { kind: 'control', key: 'backspace', usage: 0x2a } as const,
      stroke('3'),
    ])
      assembler.key(s);
    assembler.key({ kind: 'control', key: 'enter', usage: 0x28 });
    expect(entries).toEqual(['13']);
  });

  it('ignores keys that are neither digits nor commands', () => {
    const { entries, assembler, stroke } = keypad();
    for (const s of [stroke('1'), stroke('a'), stroke('-'), stroke('2'), stroke('#')]) assembler.key(s);
    expect(entries).toEqual(['12']);
  });
});
