/** Allowed clock difference between the central side and a gateway or workstation. */
export const CLOCK_SKEW_MS = 30_000;

export interface ValidityProblem {
  /** `implausible`: a window that is not a window, or longer than the kind allows. */
  reason: 'implausible' | 'not-yet-valid' | 'expired';
  detail: string;
}

/**
 * Whether a signed message's validity window (commands, lock commands, footage requests) is
 * plausible and covers `nowMs`, allowing for clock skew. One rule for every kind of message.
 */
export function checkValidity(
  issuedAt: string,
  expiresAt: string,
  nowMs: number,
  maxValidityMs: number,
): ValidityProblem | undefined {
  const issued = Date.parse(issuedAt);
  const expires = Date.parse(expiresAt);
  if (
    Number.isNaN(issued) ||
    Number.isNaN(expires) ||
    expires <= issued ||
    expires - issued > maxValidityMs
  ) {
    return { reason: 'implausible', detail: 'validity window is not plausible' };
  }
  if (issued > nowMs + CLOCK_SKEW_MS) return { reason: 'not-yet-valid', detail: `issued ${issuedAt}` };
  if (expires + CLOCK_SKEW_MS < nowMs) return { reason: 'expired', detail: `expired ${expiresAt}` };
  return undefined;
}
