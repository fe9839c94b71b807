import Type from 'typebox';

/**
 * The characters no line of text may hold, as the body of a regular-expression class: the C0 and
 * C1 controls with DEL (U+0000–U+001F, U+007F–U+009F: NUL, line breaks, NEL, the escape-sequence
 * introducers ESC and CSI), the Unicode line and paragraph separators (U+2028, U+2029), every
 * bidirectional control (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069), which make a
 * reason display in another order than it was stored, and the byte-order mark U+FEFF. Written as
 * `\u` escapes so that the pattern means the same with and without the `u` flag.
 */
const EXCLUDED = '\\u0000-\\u001f\\u007f-\\u009f\\u061c\\u200e\\u200f\\u2028-\\u202e\\u2066-\\u2069\\ufeff';

/**
 * One line of text as staff type it (a name, a reason, a comment, a case reference): not blank,
 * none of the characters above. PostgreSQL cannot store NUL at all (text or jsonb), and line
 * breaks, escape sequences or reordering would reach logs, the audit log and the gateways'
 * credential sets looking other than they are. The one pattern for every free-text field the
 * dashboard takes, over HTTP or from the command line.
 */
export const LINE_PATTERN = `^(?=.*\\S)[^${EXCLUDED}]+$`;

/** None of the characters above, and possibly empty: a search term, where an empty one means no filter. */
export const NO_CONTROL_PATTERN = `^[^${EXCLUDED}]*$`;

export function lineOfText(maxLength: number, options: { description?: string } = {}) {
  return Type.String({ minLength: 1, maxLength, pattern: LINE_PATTERN, ...options });
}

const EXCLUDED_ANYWHERE = new RegExp(`[${EXCLUDED}\\\\]`, 'g');

/**
 * `text` fit to print as one line of a terminal or a log: each character above, and the
 * backslash, written as its escape (`\u001b`, `\u005c`), so that text from elsewhere (an alarm's
 * detail from a gateway) can neither start a line of its own that looks like the tool's, nor move
 * the cursor, nor reorder itself, nor pass its own `\u000a` off as an escaped line break.
 */
export function printableLine(text: string): string {
  return text.replace(EXCLUDED_ANYWHERE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
