/**
 * Wiegand frames as readers send them, bit 0 first on the wire. Each card format is data: where
 * its facility code and card number sit and which bits each parity bit covers. Positions and
 * parity masks follow HID's published format descriptions as implemented in the Proxmark3
 * client (client/src/wiegand_formats.c), which is the most widely cross-checked public source.
 */
export type WiegandFormatId = 'h10301' | 'h10306' | 'c1k35' | 'h10304' | 'h10302';
export type KeypadFrameId = 'keypad-4' | 'keypad-8';

interface Field {
  start: number;
  length: number;
}

interface ParityBit {
  position: number;
  kind: 'even' | 'odd';
  over: readonly number[];
}

export interface WiegandFormat {
  id: WiegandFormatId;
  name: string;
  bits: number;
  facility?: Field;
  card: Field;
  parity: readonly ParityBit[];
}

const range = (from: number, to: number): number[] =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

export const WIEGAND_FORMATS: Readonly<Record<WiegandFormatId, WiegandFormat>> = {
  h10301: {
    id: 'h10301',
    name: 'HID H10301 26-bit (8-bit facility, 16-bit card)',
    bits: 26,
    facility: { start: 1, length: 8 },
    card: { start: 9, length: 16 },
    parity: [
      { position: 0, kind: 'even', over: range(1, 12) },
      { position: 25, kind: 'odd', over: range(13, 24) },
    ],
  },
  h10306: {
    id: 'h10306',
    name: 'HID H10306 34-bit (16-bit facility, 16-bit card)',
    bits: 34,
    facility: { start: 1, length: 16 },
    card: { start: 17, length: 16 },
    parity: [
      { position: 0, kind: 'even', over: range(1, 16) },
      { position: 33, kind: 'odd', over: range(17, 32) },
    ],
  },
  c1k35: {
    id: 'c1k35',
    name: 'HID Corporate 1000 35-bit (12-bit company, 20-bit card)',
    bits: 35,
    facility: { start: 2, length: 12 },
    card: { start: 14, length: 20 },
    parity: [
      { position: 1, kind: 'even', over: range(2, 33).filter((p) => p % 3 !== 1) },
      { position: 34, kind: 'odd', over: range(1, 33).filter((p) => p % 3 !== 0) },
      { position: 0, kind: 'odd', over: range(1, 34) },
    ],
  },
  h10304: {
    id: 'h10304',
    name: 'HID H10304 37-bit (16-bit facility, 19-bit card)',
    bits: 37,
    facility: { start: 1, length: 16 },
    card: { start: 17, length: 19 },
    parity: [
      { position: 0, kind: 'even', over: range(1, 18) },
      { position: 36, kind: 'odd', over: range(18, 35) },
    ],
  },
  h10302: {
    id: 'h10302',
    name: 'HID H10302 37-bit (35-bit card, no facility)',
    bits: 37,
    card: { start: 1, length: 35 },
    parity: [
      { position: 0, kind: 'even', over: range(1, 18) },
      { position: 36, kind: 'odd', over: range(18, 35) },
    ],
  },
};

export type WiegandCard = { format: WiegandFormatId; facility?: number; card: number };
export type WiegandResult = ({ ok: true } & WiegandCard) | { ok: false; reason: string };

function fieldValue(bits: readonly number[], field: Field): number {
  // Arithmetic, not bit operators: card numbers reach 35 bits.
  let value = 0;
  for (let i = field.start; i < field.start + field.length; i++) value = value * 2 + (bits[i] ?? 0);
  return value;
}

function parityHolds(bits: readonly number[], check: ParityBit): boolean {
  const ones = check.over.reduce((sum, position) => sum + (bits[position] ?? 0), bits[check.position] ?? 0);
  return check.kind === 'even' ? ones % 2 === 0 : ones % 2 === 1;
}

/** Decodes a frame with the first of `allowed` that has its length; parity must hold. */
export function decodeWiegand(bits: readonly number[], allowed: readonly WiegandFormatId[]): WiegandResult {
  const format = allowed.map((id) => WIEGAND_FORMATS[id]).find((f) => f.bits === bits.length);
  if (!format) {
    return {
      ok: false,
      reason: `no allowed format has ${bits.length} bits (allowed: ${allowed.join(', ') || 'none'})`,
    };
  }
  const failed = format.parity.find((check) => !parityHolds(bits, check));
  if (failed) {
    return { ok: false, reason: `${format.id}: ${failed.kind} parity bit ${failed.position} does not match` };
  }
  return {
    ok: true,
    format: format.id,
    ...(format.facility ? { facility: fieldValue(bits, format.facility) } : {}),
    card: fieldValue(bits, format.card),
  };
}

/** Builds a frame with correct parity (for tests, simulations and bridge firmware authors). */
export function encodeWiegand(id: WiegandFormatId, card: number, facility = 0): number[] {
  const format = WIEGAND_FORMATS[id];
  const bits = new Array<number>(format.bits).fill(0);
  const put = (field: Field, value: number) => {
    for (let i = field.length - 1, v = value; i >= 0; i--, v = Math.floor(v / 2))
      bits[field.start + i] = v % 2;
  };
  if (format.facility) put(format.facility, facility);
  put(format.card, card);
  // Parity bits are listed so that each one's coverage is final before it is computed.
  for (const check of format.parity) {
    bits[check.position] = 0;
    if (!parityHolds(bits, check)) bits[check.position] = 1;
  }
  return bits;
}

/**
 * A keypad on a Wiegand line sends each key as a 4-bit frame, or as 8 bits whose upper nibble is
 * the complement of the lower one; 10 is `*` and 11 is `#`.
 */
export function decodeKeypadFrame(
  bits: readonly number[],
  allowed: readonly KeypadFrameId[],
): string | undefined {
  const value = fieldValue(bits, { start: 0, length: bits.length });
  let key: number | undefined;
  if (bits.length === 4 && allowed.includes('keypad-4')) key = value;
  if (bits.length === 8 && allowed.includes('keypad-8') && value >> 4 === (~value & 0x0f)) key = value & 0x0f;
  if (key === undefined || key > 11) return undefined;
  return key === 10 ? '*' : key === 11 ? '#' : String(key);
}

/**
 * Reads `bitCount` frame bits out of bytes. `right`: the frame's last bit is the least
 * significant bit of the last byte (a number written big-endian); `left`: its first bit is the
 * most significant bit of the first byte.
 */
export function bitsFromBytes(bytes: Uint8Array, bitCount: number, align: 'left' | 'right'): number[] {
  const all: number[] = [];
  for (const byte of bytes) for (let b = 7; b >= 0; b--) all.push((byte >> b) & 1);
  return align === 'left' ? all.slice(0, bitCount) : all.slice(all.length - bitCount);
}

/** The inverse of bitsFromBytes (for tests and simulations). */
export function bytesFromBits(bits: readonly number[], length: number, align: 'left' | 'right'): Uint8Array {
  const padded = new Array<number>(length * 8).fill(0);
  const offset = align === 'left' ? 0 : length * 8 - bits.length;
  bits.forEach((bit, i) => {
    padded[offset + i] = bit;
  });
  const out = new Uint8Array(length);
  for (let i = 0; i < length * 8; i++) out[i >> 3] = ((out[i >> 3] ?? 0) << 1) | (padded[i] ?? 0);
  return out;
}
