import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../../../../src/gateway/recorder/backoff.js';

describe('restart backoff', () => {
  const policy = { initialMs: 1000, maxMs: 60_000 };

  it('doubles from the initial delay', () => {
    expect([1, 2, 3, 4, 5].map((n) => backoffDelay(n, policy))).toEqual([1000, 2000, 4000, 8000, 16_000]);
  });

  it('never exceeds the cap, however many failures', () => {
    expect(backoffDelay(7, policy)).toBe(60_000);
    expect(backoffDelay(10_000, policy)).toBe(60_000);
  });

  it('restarts at once before any failure', () => {
    expect(backoffDelay(0, policy)).toBe(0);
  });
});
