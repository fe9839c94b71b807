import type { KeyStroke } from './hid-usage-table.js';
import type { NumberPayload, ReportProfile, WiegandPayload } from './reader-profiles.js';
import {
  bitsFromBytes,
  decodeKeypadFrame,
  decodeWiegand,
  type KeypadFrameId,
  type WiegandCard,
  type WiegandFormatId,
} from './wiegand.js';

/**
 * Reads one raw input report with a reader profile's layout: a card (as a badge id), a key from
 * a Wiegand keypad, or nothing with the reason (idle report, wrong length, bad parity).
 */
export type ReportEvent =
  | { kind: 'badge'; badge: string }
  | { kind: 'key'; key: KeyStroke }
  | { kind: 'ignored'; reason: string };

/** How a Wiegand card becomes a badge id: `123-4567` (facility-card) or `4567` (card). */
export type BadgeIdStyle = 'facility-card' | 'card';

const KEYPAD_FRAMES: readonly string[] = ['keypad-4', 'keypad-8'];

export class ReportDecoder {
  constructor(
    private readonly profile: ReportProfile,
    private readonly badgeId: BadgeIdStyle = 'facility-card',
  ) {}

  decode(report: Uint8Array): ReportEvent {
    let body = report;
    const { reportId, payload } = this.profile;
    if (reportId !== undefined) {
      if (report[0] !== reportId) return ignored(`report id ${report[0] ?? 'none'} is not ${reportId}`);
      body = report.subarray(1);
    }
    const { offset, length } = payload.data;
    if (body.length < offset + length) {
      return ignored(`report has ${body.length} bytes, the profile reads up to byte ${offset + length - 1}`);
    }
    const data = body.subarray(offset, offset + length);
    return payload.kind === 'wiegand' ? this.wiegand(payload, body, data) : number(payload, data);
  }

  private wiegand(payload: WiegandPayload, body: Uint8Array, data: Uint8Array): ReportEvent {
    const count = 'fixed' in payload.bitCount ? payload.bitCount.fixed : (body[payload.bitCount.offset] ?? 0);
    if (count === 0) return ignored('empty report (no frame)');
    if (count > data.length * 8) return ignored(`bit count ${count} exceeds the ${data.length} data bytes`);
    const bits = bitsFromBytes(data, count, payload.align);
    const keypadFrames = payload.formats.filter((f): f is KeypadFrameId => KEYPAD_FRAMES.includes(f));
    if (count === 4 || count === 8) {
      const key = decodeKeypadFrame(bits, keypadFrames);
      if (key !== undefined) return { kind: 'key', key: { kind: 'char', char: key, usage: 0 } };
    }
    const cardFormats = payload.formats.filter((f): f is WiegandFormatId => !KEYPAD_FRAMES.includes(f));
    const card = decodeWiegand(bits, cardFormats);
    if (!card.ok) return ignored(card.reason);
    return { kind: 'badge', badge: this.render(card) };
  }

  private render(card: WiegandCard): string {
    if (this.badgeId === 'card' || card.facility === undefined) return String(card.card);
    return `${card.facility}-${card.card}`;
  }
}

function number(payload: NumberPayload, data: Uint8Array): ReportEvent {
  const ordered = payload.byteOrder === 'big-endian' ? [...data] : [...data].reverse();
  if (ordered.every((b) => b === 0)) return ignored('empty report (card number 0)');
  const value = ordered.reduce((sum, byte) => sum * 256n + BigInt(byte), 0n);
  const text = payload.render === 'hex' ? value.toString(16).toUpperCase() : value.toString(10);
  return { kind: 'badge', badge: text.padStart(payload.digits ?? 0, '0') };
}

function ignored(reason: string): ReportEvent {
  return { kind: 'ignored', reason };
}
