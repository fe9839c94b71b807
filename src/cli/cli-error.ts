import { CodedError } from '../lib/coded-error.js';

/** A mistake in how the command was called (exit code 64, EX_USAGE). */
export class UsageError extends CodedError {
  constructor(message: string) {
    super('IDG_CLI_USAGE', message);
    this.name = 'UsageError';
  }
}

export const ExitCode = { ok: 0, failure: 1, denied: 2, usage: 64, config: 78 } as const;
