import Type from 'typebox';

/**
 * One line of text as administrators type it (a name, a reference): not blank, no control
 * characters. PostgreSQL cannot store NUL at all, and line breaks or escape sequences in a name
 * would reach logs, the audit log and the gateways' credential sets.
 */
export const LINE_PATTERN = '^(?=.*\\S)[^\\u0000-\\u001f\\u007f]+$';

export function lineOfText(maxLength: number, options: { description?: string } = {}) {
  return Type.String({ minLength: 1, maxLength, pattern: LINE_PATTERN, ...options });
}
