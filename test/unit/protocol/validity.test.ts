import { describe, expect, it } from 'vitest';
import { CLOCK_SKEW_MS, checkValidity } from '../../../src/protocol/validity.js';

const now = Date.UTC(2026, 10, 27, 12);
const at = (offsetMs: number) => new Date(now + offsetMs).toISOString();
const MAX = 5 * 60_000;

describe('the validity window of signed messages', () => {
  it('accepts a window that covers now, and one just within the clock skew', () => {
    expect(checkValidity(at(-1000), at(60_000), now, MAX)).toBeUndefined();
    expect(checkValidity(at(CLOCK_SKEW_MS - 1), at(CLOCK_SKEW_MS + 60_000), now, MAX)).toBeUndefined();
    expect(checkValidity(at(-120_000), at(-CLOCK_SKEW_MS + 1), now, MAX)).toBeUndefined();
  });

  it('refuses windows that are no window or too long', () => {
    for (const [issued, expires] of [
      ['not a time', at(1000)],
      [at(0), 'not a time'],
      [at(1000), at(1000)],
      [at(2000), at(1000)],
      [at(0), at(MAX + 1)],
    ]) {
      expect(checkValidity(issued as string, expires as string, now, MAX)?.reason).toBe('implausible');
    }
  });

  it('refuses a message from the future and an expired one, saying which', () => {
    expect(checkValidity(at(CLOCK_SKEW_MS + 1), at(CLOCK_SKEW_MS + 60_000), now, MAX)).toEqual({
      reason: 'not-yet-valid',
      detail: `issued ${at(CLOCK_SKEW_MS + 1)}`,
    });
    expect(checkValidity(at(-120_000), at(-CLOCK_SKEW_MS - 1), now, MAX)?.reason).toBe('expired');
  });
});
