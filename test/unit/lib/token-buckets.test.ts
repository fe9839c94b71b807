import { describe, expect, it } from 'vitest';
import { TokenBuckets } from '../../../src/lib/token-buckets.js';

describe('token buckets per key', () => {
  const limits = { burst: 3, intervalMs: 2_000 };
  const takes = (buckets: TokenBuckets, key: string, n: number, at: number) =>
    Array.from({ length: n }, () => buckets.take(key, at));

  it('allows a burst at once and refuses the take beyond it', () => {
    const buckets = new TokenBuckets(limits);
    expect(takes(buckets, 'a', 4, 0)).toEqual([true, true, true, false]);
  });

  it('allows one more take per interval once the burst is spent', () => {
    const buckets = new TokenBuckets(limits);
    takes(buckets, 'a', 3, 0);
    expect(buckets.take('a', 1_999)).toBe(false);
    expect(buckets.take('a', 2_000)).toBe(true);
    expect(buckets.take('a', 2_000)).toBe(false);
  });

  it('counts a refused take against nothing: refusals do not delay the refill', () => {
    const buckets = new TokenBuckets(limits);
    takes(buckets, 'a', 3, 0);
    takes(buckets, 'a', 100, 1_000);
    expect(buckets.take('a', 2_000)).toBe(true);
  });

  it('refills no further than the burst, however long a key was quiet', () => {
    const buckets = new TokenBuckets(limits);
    takes(buckets, 'a', 3, 0);
    expect(takes(buckets, 'a', 4, 3_600_000)).toEqual([true, true, true, false]);
  });

  it('keeps each key apart', () => {
    const buckets = new TokenBuckets(limits);
    takes(buckets, 'a', 3, 0);
    expect(buckets.take('a', 0)).toBe(false);
    expect(buckets.take('b', 0)).toBe(true);
  });

  it('counts a bucket as refilled when the clock is set back, then refills from the new time on', () => {
    const buckets = new TokenBuckets(limits);
    takes(buckets, 'a', 3, 10_000);
    expect(buckets.take('a', 10_000)).toBe(false);
    // How long it has been is unknown after the step: the next person is not made to wait for it.
    expect(takes(buckets, 'a', 3, 0)).toEqual([true, true, true]);
    expect(buckets.take('a', 1_999)).toBe(false);
    expect(buckets.take('a', 2_000)).toBe(true);
  });

  it('drops the buckets of keys that have refilled, so memory holds only recent keys', () => {
    const buckets = new TokenBuckets(limits);
    for (let i = 0; i < 1_000; i++) buckets.take(`ws-${i}`, 0);
    expect(buckets.size).toBe(1_000);
    // One refill time (3 × 2 s) later the next take prunes them all.
    buckets.take('late', 6_000);
    expect(buckets.size).toBe(1);
  });

  it('keeps a bucket that has not refilled when pruning', () => {
    const buckets = new TokenBuckets(limits);
    takes(buckets, 'busy', 3, 5_000);
    buckets.prune(6_000);
    expect(buckets.size).toBe(1);
    expect(buckets.take('busy', 6_000)).toBe(false);
  });
});
