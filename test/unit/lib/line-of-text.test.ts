import { describe, expect, it } from 'vitest';
import { LINE_PATTERN, NO_CONTROL_PATTERN, printableLine } from '../../../src/lib/line-of-text.js';

/**
 * The one pattern for staff's free text (reasons, names, comments) and its possibly-empty variant
 * for search terms: nothing that breaks a line, starts an escape sequence or reorders what a
 * reader of the audit log sees. Checked with and without the `u` flag (Ajv and TypeBox use it;
 * a plain `new RegExp` does not).
 */
const patterns = [
  ['LINE_PATTERN', LINE_PATTERN],
  ['NO_CONTROL_PATTERN', NO_CONTROL_PATTERN],
] as const;
const variants = patterns.flatMap(([name, source]) =>
  ['u', ''].map((flags) => ({ name: `${name}/${flags || 'no flag'}`, re: new RegExp(source, flags) })),
);

const refused: [string, string][] = [
  ['NUL', 'visitor\u0000'],
  ['a line feed', 'reason\nforged: second line'],
  ['ESC, the C0 escape', 'reason \u001b[31m red'],
  ['DEL', 'reason\u007f'],
  ['the first C1 control (PAD)', 'reason\u0080'],
  ['NEL, a C1 line break', 'lock down\u0085forged: evacuation ended'],
  ['CSI, the C1 escape-sequence introducer', 'reason \u009b31m red'],
  ['APC, the last C1 control', 'reason\u009f'],
  ['LINE SEPARATOR', 'reason\u2028second line'],
  ['PARAGRAPH SEPARATOR', 'reason\u2029second line'],
  ['ARABIC LETTER MARK', 'reason\u061c'],
  ['LEFT-TO-RIGHT MARK', 'reason\u200e'],
  ['RIGHT-TO-LEFT MARK', 'reason\u200f'],
  ['LEFT-TO-RIGHT EMBEDDING', 'reason\u202a'],
  ['RIGHT-TO-LEFT OVERRIDE, which reorders what an auditor reads', 'unlock \u202edenied'],
  ['LEFT-TO-RIGHT ISOLATE', 'reason\u2066'],
  ['POP DIRECTIONAL ISOLATE', 'reason\u2069'],
  ['a byte-order mark', '\ufeffreason'],
];

const accepted: [string, string][] = [
  ['German umlauts and ß', 'Schlüssel für Tür Süd, Straße'],
  ['accents', 'Café crème, São Paulo, Ærøskøbing'],
  ['emoji, outside the basic plane', 'Feueralarm 🔥 geprüft 👍🏽'],
  ['CJK', '入口の鍵を交換した'],
  ['right-to-left script, without controls', 'שלום עולם'],
  ['a non-breaking space and typographic quotes', 'Tür\u00a03 „geprüft“ – ok'],
  ['the characters just outside the excluded ranges', '\u00a0\u200d\u2030\u2065\u206a\ufefe'],
];

describe.each(variants)('$name', ({ re }) => {
  it.each(refused)('refuses %s', (_what, text) => {
    expect(re.test(text)).toBe(false);
  });

  it.each(accepted)('accepts %s', (_what, text) => {
    expect(re.test(text)).toBe(true);
  });
});

describe('LINE_PATTERN', () => {
  const line = new RegExp(LINE_PATTERN, 'u');
  it('refuses an empty or blank line', () => {
    expect([line.test(''), line.test('   '), line.test('\u00a0')]).toEqual([false, false, false]);
  });
});

describe('NO_CONTROL_PATTERN', () => {
  it('accepts the empty search term, which means no filter', () => {
    expect(new RegExp(NO_CONTROL_PATTERN, 'u').test('')).toBe(true);
  });
});

describe('printableLine', () => {
  it('writes every character a line may not hold as its escape, so that nothing forges a line or moves the cursor', () => {
    const forged = 'door forced\n#1  info  resolved by staff:alice\u001b[2K\r\u202eevil\u0085\u2028';
    const printed = printableLine(forged);
    expect(printed).toBe(
      'door forced\\u000a#1  info  resolved by staff:alice\\u001b[2K\\u000d\\u202eevil\\u0085\\u2028',
    );
    expect(new RegExp(LINE_PATTERN).test(printed)).toBe(true);
  });

  it("escapes a backslash too, so that a text's own `\\u000a` cannot pass for an escaped line break", () => {
    expect(printableLine('a\\u000a b')).toBe('a\\u005cu000a b');
  });

  it('leaves ordinary text, other scripts and emoji as they are', () => {
    for (const text of ['Zoë Ødegård — Tür 2', 'Назар', '门禁 🚪', 'a  b'])
      expect(printableLine(text)).toBe(text);
  });
});
