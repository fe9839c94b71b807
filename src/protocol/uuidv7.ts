import { randomBytes } from 'node:crypto';

/**
 * UUIDv7 (RFC 9562): 48-bit Unix milliseconds, then 74 random bits. Within one millisecond the
 * 12-bit `rand_a` field is used as a counter (RFC 9562 §6.2, method 1) so ids from one generator
 * sort in creation order, which the ingest and the audit chain rely on.
 */
export class Uuidv7Generator {
  private lastMs = -1;
  private counter = 0;

  constructor(private readonly nowMs: () => number = Date.now) {}

  next(): string {
    let ms = this.nowMs();
    if (ms <= this.lastMs) {
      // Clock stood still or stepped back: keep ids monotonic by continuing the last millisecond.
      ms = this.lastMs;
      this.counter += 1;
      if (this.counter > 0xfff) {
        this.lastMs += 1;
        ms = this.lastMs;
        this.counter = 0;
      }
    } else {
      this.lastMs = ms;
      this.counter = 0;
    }
    const bytes = randomBytes(16);
    bytes.writeUIntBE(ms, 0, 6);
    bytes[6] = 0x70 | ((this.counter >> 8) & 0x0f);
    bytes[7] = this.counter & 0xff;
    bytes[8] = 0x80 | ((bytes[8] ?? 0) & 0x3f);
    const hex = bytes.toString('hex');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }
}

export const UUIDV7_PATTERN = '^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$';

/** The creation time in milliseconds encoded in a UUIDv7. */
export function uuidv7Time(id: string): number {
  return Number.parseInt(id.replaceAll('-', '').slice(0, 12), 16);
}
