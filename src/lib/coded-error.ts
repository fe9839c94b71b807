/**
 * Every error identgate raises on purpose carries a stable `IDG_…` code so that operators can
 * search for it and tests can assert on it without matching message text.
 */
export class CodedError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CodedError';
    this.code = code;
  }
}

export function hasCode(error: unknown, code: string): boolean {
  return error instanceof CodedError && error.code === code;
}

/** Turns anything thrown into an Error without losing what it was. */
export function toError(value: unknown): Error {
  if (value instanceof Error) return value;
  if (typeof value === 'string') return new Error(value);
  try {
    return new Error(JSON.stringify(value) ?? String(value));
  } catch {
    return new Error(String(value)); // a BigInt, a circular object
  }
}
