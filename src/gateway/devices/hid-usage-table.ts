/**
 * The part of the USB HID usage table (page 0x07, Keyboard/Keypad) that badge readers and keypads
 * use, read with a US layout: keyboard-wedge readers send usages, not characters, and every
 * reader we know of assumes a US host layout. Source: USB HID Usage Tables 1.5, section 10.
 */
export type ControlKey = 'enter' | 'escape' | 'backspace' | 'tab';

export type KeyStroke =
  | { kind: 'char'; char: string; usage: number }
  | { kind: 'control'; key: ControlKey; usage: number };

/** Usages 0x01–0x03 fill every slot when the keyboard cannot report its state (rollover, POST fail). */
export const ERROR_USAGES: ReadonlySet<number> = new Set([0x01, 0x02, 0x03]);

export const MODIFIER = {
  leftCtrl: 0x01,
  leftShift: 0x02,
  leftAlt: 0x04,
  leftGui: 0x08,
  rightCtrl: 0x10,
  rightShift: 0x20,
  rightAlt: 0x40,
  rightGui: 0x80,
} as const;
export const SHIFT_MASK = MODIFIER.leftShift | MODIFIER.rightShift;
/** Ctrl, Alt and GUI: a reader never types with these held, a person at a keyboard does. */
export const COMMAND_MASK = 0xff & ~SHIFT_MASK;

/** [unshifted, shifted] for the printable keys of the main block. */
const MAIN_BLOCK: ReadonlyMap<number, readonly [string, string]> = new Map<number, readonly [string, string]>(
  [
    ...Array.from({ length: 26 }, (_, i): [number, readonly [string, string]] => [
      0x04 + i,
      [String.fromCharCode(0x61 + i), String.fromCharCode(0x41 + i)],
    ]),
    [0x1e, ['1', '!']],
    [0x1f, ['2', '@']],
    [0x20, ['3', '#']],
    [0x21, ['4', '$']],
    [0x22, ['5', '%']],
    [0x23, ['6', '^']],
    [0x24, ['7', '&']],
    [0x25, ['8', '*']],
    [0x26, ['9', '(']],
    [0x27, ['0', ')']],
    [0x2c, [' ', ' ']],
    [0x2d, ['-', '_']],
    [0x2e, ['=', '+']],
    [0x2f, ['[', '{']],
    [0x30, [']', '}']],
    [0x31, ['\\', '|']],
    [0x33, [';', ':']],
    [0x34, ["'", '"']],
    [0x35, ['`', '~']],
    [0x36, [',', '<']],
    [0x37, ['.', '>']],
    [0x38, ['/', '?']],
  ],
);

/** The numeric keypad: the same character with or without Shift (Num Lock is host state). */
const KEYPAD: ReadonlyMap<number, string> = new Map([
  [0x54, '/'],
  [0x55, '*'],
  [0x56, '-'],
  [0x57, '+'],
  [0x59, '1'],
  [0x5a, '2'],
  [0x5b, '3'],
  [0x5c, '4'],
  [0x5d, '5'],
  [0x5e, '6'],
  [0x5f, '7'],
  [0x60, '8'],
  [0x61, '9'],
  [0x62, '0'],
  [0x63, '.'],
  [0x67, '='],
]);

const CONTROL: ReadonlyMap<number, ControlKey> = new Map<number, ControlKey>([
  [0x28, 'enter'],
  [0x29, 'escape'],
  [0x2a, 'backspace'],
  [0x2b, 'tab'],
  [0x58, 'enter'], // Keypad Enter
]);

/** The key a usage stands for, or undefined for keys a reader or keypad never means (F1, Caps Lock…). */
export function keyForUsage(usage: number, shifted: boolean): KeyStroke | undefined {
  const control = CONTROL.get(usage);
  if (control) return { kind: 'control', key: control, usage };
  const keypad = KEYPAD.get(usage);
  if (keypad) return { kind: 'char', char: keypad, usage };
  const main = MAIN_BLOCK.get(usage);
  if (main) return { kind: 'char', char: shifted ? main[1] : main[0], usage };
  return undefined;
}

/** The usage and Shift state that type `char` (for tests and simulations that build reports). */
export function usageForChar(char: string): { usage: number; shifted: boolean } | undefined {
  for (const [usage, [plain, shifted]] of MAIN_BLOCK) {
    if (plain === char) return { usage, shifted: false };
    if (shifted === char) return { usage, shifted: true };
  }
  return undefined;
}
