import { describe, expect, it } from 'vitest';
import {
  bitsFromBytes,
  bytesFromBits,
  decodeKeypadFrame,
  decodeWiegand,
  encodeWiegand,
  type WiegandFormatId,
} from '../../../src/gateway/devices/wiegand.js';

const bits = (text: string) => [...text].map(Number);
const ALL: WiegandFormatId[] = ['h10301', 'h10306', 'c1k35', 'h10304'];

describe('Wiegand card formats', () => {
  it('decodes the published H10301 reference frame: facility 90, card 324', () => {
    // Reference vector from the wiegand-encoder package's documentation.
    expect(decodeWiegand(bits('00101101000000001010001000'), ALL)).toEqual({
      ok: true,
      format: 'h10301',
      facility: 90,
      card: 324,
    });
  });

  it('rejects an H10301 frame whose odd parity bit is wrong, naming the bit', () => {
    expect(decodeWiegand(bits('00101101000000001010001001'), ALL)).toEqual({
      ok: false,
      reason: 'h10301: odd parity bit 25 does not match',
    });
  });

  it('rejects an H10301 frame whose even parity bit is wrong', () => {
    expect(decodeWiegand(bits('10101101000000001010001000'), ALL)).toEqual({
      ok: false,
      reason: 'h10301: even parity bit 0 does not match',
    });
  });

  it('rejects a frame length no allowed format has', () => {
    expect(decodeWiegand(new Array(30).fill(0), ALL)).toEqual({
      ok: false,
      reason: 'no allowed format has 30 bits (allowed: h10301, h10306, c1k35, h10304)',
    });
  });

  it.each([
    ['h10301', 255, 65535, 26],
    ['h10306', 65535, 65535, 34],
    ['c1k35', 4095, 1048575, 35],
    ['h10304', 65535, 524287, 37],
    ['h10301', 0, 0, 26],
    ['c1k35', 1234, 567890, 35],
  ] as const)(
    'round-trips %s facility %i card %i through its %i-bit frame',
    (format, facility, card, length) => {
      const frame = encodeWiegand(format, card, facility);
      expect(frame).toHaveLength(length);
      expect(decodeWiegand(frame, ALL)).toEqual({ ok: true, format, facility, card });
    },
  );

  it('decodes the 35-bit card number of an H10302 frame without a facility', () => {
    const frame = encodeWiegand('h10302', 34_359_738_367);
    expect(decodeWiegand(frame, ['h10302'])).toEqual({ ok: true, format: 'h10302', card: 34_359_738_367 });
  });

  it.each(['h10306', 'c1k35', 'h10304'] as const)(
    'rejects a %s frame with any single bit flipped',
    (format) => {
      const frame = encodeWiegand(format, 12345, 321);
      for (let i = 0; i < frame.length; i++) {
        const flipped = frame.map((bit, j) => (j === i ? 1 - bit : bit));
        expect(decodeWiegand(flipped, [format]).ok, `bit ${i}`).toBe(false);
      }
    },
  );

  it('checks all three Corporate 1000 parity bits', () => {
    const frame = encodeWiegand('c1k35', 567890, 1234);
    for (const position of [0, 1, 34]) {
      const broken = frame.map((bit, j) => (j === position ? 1 - bit : bit));
      expect(decodeWiegand(broken, ['c1k35'])).toMatchObject({
        ok: false,
        reason: expect.stringContaining(`bit ${position}`),
      });
    }
  });
});

describe('Wiegand keypad frames', () => {
  it('reads 4-bit keys, with 10 as * and 11 as #', () => {
    expect(decodeKeypadFrame(bits('0111'), ['keypad-4'])).toBe('7');
    expect(decodeKeypadFrame(bits('1010'), ['keypad-4'])).toBe('*');
    expect(decodeKeypadFrame(bits('1011'), ['keypad-4'])).toBe('#');
  });

  it('reads 8-bit keys only when the upper nibble is the complement of the lower', () => {
    expect(decodeKeypadFrame(bits('10100101'), ['keypad-8'])).toBe('5');
    expect(decodeKeypadFrame(bits('00000101'), ['keypad-8'])).toBeUndefined();
  });

  it('ignores key codes above 11 and formats the profile does not allow', () => {
    expect(decodeKeypadFrame(bits('1100'), ['keypad-4'])).toBeUndefined();
    expect(decodeKeypadFrame(bits('0111'), ['keypad-8'])).toBeUndefined();
  });
});

describe('frame bits in report bytes', () => {
  it('reads right-aligned bits from the end of the data', () => {
    expect(bitsFromBytes(Uint8Array.of(0x00, 0x05), 3, 'right')).toEqual([1, 0, 1]);
  });

  it('reads left-aligned bits from the start of the data', () => {
    expect(bitsFromBytes(Uint8Array.of(0xa0, 0x00), 3, 'left')).toEqual([1, 0, 1]);
  });

  it('writes bits back into the same bytes', () => {
    expect([...bytesFromBits([1, 0, 1], 2, 'right')]).toEqual([0x00, 0x05]);
    expect([...bytesFromBits([1, 0, 1], 2, 'left')]).toEqual([0xa0, 0x00]);
  });
});
