/**
 * A token bucket per key: up to `burst` takes at once, then one more every `intervalMs`. Pure:
 * the caller hands in the time, so tests need no clock. A bucket that has refilled is the same
 * as none, so such buckets are dropped (at most once per refill time, in `take`): the map holds
 * only keys taken from within the last refill time.
 */
export interface BucketLimits {
  burst: number;
  intervalMs: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();
  private prunedAt = Number.NEGATIVE_INFINITY;

  constructor(readonly limits: BucketLimits) {}

  /** How long an untouched bucket takes to refill from empty. */
  get refillMs(): number {
    return this.limits.burst * this.limits.intervalMs;
  }

  /** Takes a token for `key` at `now`; false when its bucket is empty (nothing is taken then). */
  take(key: string, now: number): boolean {
    if (now - this.prunedAt >= this.refillMs) this.prune(now);
    const bucket = this.refilled(key, now);
    this.buckets.set(key, bucket);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  /** Keys with a bucket not yet refilled (for tests and the bound). */
  get size(): number {
    return this.buckets.size;
  }

  /** Drops every bucket that has refilled by `now`. */
  prune(now: number): void {
    this.prunedAt = now;
    for (const [key, bucket] of this.buckets)
      if (this.refilled(key, now, bucket).tokens >= this.limits.burst) this.buckets.delete(key);
  }

  private refilled(key: string, now: number, bucket = this.buckets.get(key)): Bucket {
    // A clock set back (NTP correcting a clock that ran ahead) hides how long it has been: the
    // bucket counts as refilled, rather than throttling the next person for as long as the step.
    if (!bucket || now < bucket.at) return { tokens: this.limits.burst, at: now };
    const elapsed = now - bucket.at;
    return {
      tokens: Math.min(this.limits.burst, bucket.tokens + elapsed / this.limits.intervalMs),
      at: now,
    };
  }
}
