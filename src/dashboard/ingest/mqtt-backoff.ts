/**
 * Capped exponential backoff between reconnect attempts: `initialMs`, doubling per failed
 * attempt, never above `maxMs`. No jitter: a dashboard runs one or two subscribers per broker,
 * so there is no herd to spread out.
 */
export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
}

export const defaultBackoff: BackoffPolicy = { initialMs: 100, maxMs: 10_000 };

/** Delay before reconnect attempt number `attempt` (0 for the first retry). */
export function backoffDelay(attempt: number, policy: BackoffPolicy = defaultBackoff): number {
  // 2 ** 40 is far past any cap; bounding the exponent keeps the product finite.
  const factor = 2 ** Math.min(Math.max(0, attempt), 40);
  return Math.min(policy.maxMs, policy.initialMs * factor);
}
