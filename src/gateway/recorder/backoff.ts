/**
 * Restart delays: doubling from `initialMs` up to `maxMs`. No jitter: a gateway restarts a
 * handful of its own cameras, not thousands of clients hitting one server.
 */
export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
}

/** The delay before restart number `attempt` (1 for the first restart after a failure). */
export function backoffDelay(attempt: number, policy: BackoffPolicy): number {
  if (attempt <= 0) return 0;
  const exponent = Math.min(attempt - 1, 30);
  return Math.min(policy.maxMs, policy.initialMs * 2 ** exponent);
}
