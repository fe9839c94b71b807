import { CodedError } from '../lib/coded-error.js';

export const ConfigErrorCode = {
  invalid: 'IDG_CONFIG_INVALID',
  notFound: 'IDG_CONFIG_NOT_FOUND',
  secret: 'IDG_CONFIG_SECRET',
} as const;

/** A configuration that cannot be used, with every problem found, each naming file and key. */
export class ConfigError extends CodedError {
  constructor(
    readonly file: string,
    readonly problems: string[],
    code: string = ConfigErrorCode.invalid,
  ) {
    super(
      code,
      code === ConfigErrorCode.invalid
        ? `${file}: ${problems.length} configuration problem(s)\n${problems.map((p) => `  - ${p}`).join('\n')}`
        : `${file}: ${problems.join('; ')}`,
    );
    this.name = 'ConfigError';
  }
}
