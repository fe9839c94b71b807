/**
 * Counts failures per key (a badge, a reader) in a sliding window; too many locks the key out for
 * a while. An attacker can lock out only the key they attack, never everyone: badges are counted
 * separately, and a throttled reader refuses only until its lockout ends.
 */
export interface ThrottleSettings {
  maxFailures: number;
  windowMs: number;
  lockoutMs: number;
}

export interface ThrottleState {
  failures: Record<string, number[]>;
  lockedUntil: Record<string, number>;
}

export class FailureThrottle {
  private failures = new Map<string, number[]>();
  private lockedUntil = new Map<string, number>();

  constructor(private readonly settings: ThrottleSettings) {}

  /** Records a failure; returns true when this failure starts a lockout. */
  fail(key: string, nowMs: number): boolean {
    if (this.isLocked(key, nowMs)) return false;
    const recent = (this.failures.get(key) ?? []).filter((t) => t > nowMs - this.settings.windowMs);
    recent.push(nowMs);
    if (recent.length >= this.settings.maxFailures) {
      this.failures.delete(key);
      this.lockedUntil.set(key, nowMs + this.settings.lockoutMs);
      return true;
    }
    this.failures.set(key, recent);
    return false;
  }

  /** A success forgets earlier failures of the key. */
  succeed(key: string): void {
    this.failures.delete(key);
  }

  isLocked(key: string, nowMs: number): boolean {
    const until = this.lockedUntil.get(key);
    if (until === undefined) return false;
    if (until > nowMs) return true;
    this.lockedUntil.delete(key);
    return false;
  }

  /**
   * Drops what can no longer count: failures older than the window, lockouts that have ended,
   * and every entry of a key `keep` refuses (a badge the credential set no longer holds). Keys
   * are badge ids and the failures times of wrong codes, personal data that would otherwise stay
   * until that key failed again. Returns whether anything was dropped.
   */
  prune(nowMs: number, keep: (key: string) => boolean = () => true): boolean {
    let dropped = false;
    for (const [key, times] of this.failures) {
      const recent = keep(key) ? times.filter((t) => t > nowMs - this.settings.windowMs) : [];
      if (recent.length === times.length && recent.length > 0) continue;
      dropped = true;
      if (recent.length === 0) this.failures.delete(key);
      else this.failures.set(key, recent);
    }
    for (const [key, until] of this.lockedUntil)
      if (until <= nowMs || !keep(key)) {
        this.lockedUntil.delete(key);
        dropped = true;
      }
    return dropped;
  }

  lockedUntilMs(key: string): number | undefined {
    return this.lockedUntil.get(key);
  }

  snapshot(): ThrottleState {
    return { failures: Object.fromEntries(this.failures), lockedUntil: Object.fromEntries(this.lockedUntil) };
  }

  restore(state: ThrottleState): void {
    this.failures = new Map(Object.entries(state.failures));
    this.lockedUntil = new Map(Object.entries(state.lockedUntil));
  }
}
