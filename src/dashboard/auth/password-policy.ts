import { dictionary } from '@zxcvbn-ts/language-common';

/**
 * Password rules for staff accounts, following NIST SP 800-63B and BSI IT-Grundschutz ORP.4:
 * at least 12 characters (15 recommended), up to 128, not on the bundled list of common and
 * breached passwords, not derived from the login or the name; no composition rules and no
 * periodic forced change.
 */
export const MIN_PASSWORD_LENGTH = 12;
export const RECOMMENDED_PASSWORD_LENGTH = 15;
export const MAX_PASSWORD_LENGTH = 128;

let common: Set<string> | undefined;

function commonPasswords(): Set<string> {
  common ??= new Set((dictionary['passwords-common'] as string[]).map((p) => p.toLowerCase()));
  return common;
}

export interface PasswordContext {
  login: string;
  name?: string;
}

/** Returns what is wrong with the password (empty when it is acceptable). */
export function passwordProblems(password: string, context: PasswordContext): string[] {
  const normalised = password.normalize('NFKC');
  const length = [...normalised].length;
  const problems: string[] = [];
  if (length < MIN_PASSWORD_LENGTH)
    problems.push(
      `shorter than ${MIN_PASSWORD_LENGTH} characters (${RECOMMENDED_PASSWORD_LENGTH} or more recommended)`,
    );
  if (length > MAX_PASSWORD_LENGTH) problems.push(`longer than ${MAX_PASSWORD_LENGTH} characters`);
  const lower = normalised.toLowerCase();
  const squeezed = lower.replace(/[^a-z0-9äöüß]/g, '');
  if (commonPasswords().has(lower) || commonPasswords().has(squeezed)) {
    problems.push('a common or previously breached password');
  }
  const personal = [context.login, ...(context.name ?? '').split(/\s+/)]
    .map((part) => part.toLowerCase().replace(/[^a-z0-9äöüß]/g, ''))
    .filter((part) => part.length >= 3);
  if (personal.some((part) => squeezed.includes(part))) problems.push('contains your login or name');
  if (/^(.)\1+$/.test(normalised)) problems.push('one character repeated');
  return problems;
}
