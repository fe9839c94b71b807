import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { usageForChar } from '../../../../src/gateway/devices/hid-usage-table.js';

/** Reads a hex dump fixture from test/fixtures/hid: one report per line, `#` starts a comment. */
export function hexFixture(name: string): Uint8Array[] {
  const text = readFileSync(join('test', 'fixtures', 'hid', name), 'utf8');
  return text
    .split('\n')
    .map((line) => line.replace(/#.*/, '').trim())
    .filter((line) => line !== '')
    .map((line) => Uint8Array.from(line.split(/\s+/).map((byte) => Number.parseInt(byte, 16))));
}

export const ENTER = 0x28;
export const KEYPAD_ENTER = 0x58;
export const ESCAPE = 0x29;
export const KEY_UP = Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0);

/** One boot-keyboard report holding `usages` with `modifiers`. */
export function keyReport(modifiers: number, ...usages: number[]): Uint8Array {
  const report = new Uint8Array(8);
  report[0] = modifiers;
  usages.slice(0, 6).forEach((usage, i) => {
    report[2 + i] = usage;
  });
  return report;
}

/** The reports a keyboard-wedge reader sends to type `text`: press and release per character. */
export function typed(text: string, terminator: number | null = ENTER): Uint8Array[] {
  const reports: Uint8Array[] = [];
  for (const char of text) {
    const key = usageForChar(char);
    if (!key) throw new Error(`cannot type ${JSON.stringify(char)}`);
    reports.push(keyReport(key.shifted ? 0x02 : 0, key.usage), KEY_UP);
  }
  if (terminator !== null) reports.push(keyReport(0, terminator), KEY_UP);
  return reports;
}
