import { describe, expect, it } from 'vitest';
import { FailureThrottle } from '../../../src/controllers/failure-throttle.js';

describe('failure throttle', () => {
  const settings = { maxFailures: 3, windowMs: 60_000, lockoutMs: 300_000 };

  it('locks a key out at the n-th failure within the window, and only that key', () => {
    const throttle = new FailureThrottle(settings);
    expect(throttle.fail('a', 0)).toBe(false);
    expect(throttle.fail('a', 10_000)).toBe(false);
    expect(throttle.fail('a', 20_000)).toBe(true);
    expect(throttle.isLocked('a', 20_000)).toBe(true);
    expect(throttle.isLocked('b', 20_000)).toBe(false);
    expect(throttle.isLocked('a', 320_000)).toBe(false);
  });

  it('forgets failures outside the window and after a success', () => {
    const throttle = new FailureThrottle(settings);
    throttle.fail('a', 0);
    throttle.fail('a', 10_000);
    expect(throttle.fail('a', 70_001)).toBe(false);
    throttle.succeed('a');
    throttle.fail('a', 70_002);
    expect(throttle.fail('a', 70_003)).toBe(false);
  });

  it('survives a snapshot and restore', () => {
    const throttle = new FailureThrottle(settings);
    for (const t of [0, 1, 2]) throttle.fail('a', t);
    const copy = new FailureThrottle(settings);
    copy.restore(JSON.parse(JSON.stringify(throttle.snapshot())));
    expect(copy.isLocked('a', 100)).toBe(true);
  });

  it('prunes failures outside the window, ended lockouts and keys it is told not to keep', () => {
    const throttle = new FailureThrottle(settings);
    throttle.fail('old', 0);
    for (const t of [0, 1, 2]) throttle.fail('ended', t);
    throttle.fail('a', 350_000);
    for (const t of [350_000, 350_001, 350_002]) throttle.fail('locked', t);
    throttle.fail('gone', 350_000);
    for (const t of [350_000, 350_001, 350_002]) throttle.fail('gone-locked', t);
    expect(throttle.prune(360_000, (key) => !key.startsWith('gone'))).toBe(true);
    expect(throttle.snapshot()).toEqual({ failures: { a: [350_000] }, lockedUntil: { locked: 650_002 } });
    expect(throttle.prune(360_000)).toBe(false);
  });
});
