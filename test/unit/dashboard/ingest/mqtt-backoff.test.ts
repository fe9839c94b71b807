import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../../../../src/dashboard/ingest/mqtt-backoff.js';

describe('reconnect backoff', () => {
  it('doubles from the initial delay per failed attempt', () => {
    const delays = [0, 1, 2, 3].map((attempt) => backoffDelay(attempt, { initialMs: 100, maxMs: 10_000 }));
    expect(delays).toEqual([100, 200, 400, 800]);
  });

  it('never waits longer than the cap, however many attempts failed', () => {
    const policy = { initialMs: 100, maxMs: 10_000 };
    expect(backoffDelay(7, policy)).toBe(10_000);
    expect(backoffDelay(10_000, policy)).toBe(10_000);
  });
});
