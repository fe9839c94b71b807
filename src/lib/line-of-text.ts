import Type from 'typebox';

/**
 * One line of text as staff type it (a name, a reason, a comment, a case reference): not blank, no
 * control characters. PostgreSQL cannot store NUL at all (text or jsonb), and line breaks or escape
 * sequences would reach logs, the audit log and the gateways' credential sets. The one pattern for
 * every free-text field the dashboard takes, over HTTP or from the command line.
 */
export const LINE_PATTERN = '^(?=.*\\S)[^\\u0000-\\u001f\\u007f]+$';

/** No control characters, and possibly empty: a search term, where an empty one means no filter. */
export const NO_CONTROL_PATTERN = '^[^\\u0000-\\u001f\\u007f]*$';

export function lineOfText(maxLength: number, options: { description?: string } = {}) {
  return Type.String({ minLength: 1, maxLength, pattern: LINE_PATTERN, ...options });
}
