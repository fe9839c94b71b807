import { hash, verify } from '@node-rs/argon2';

/**
 * argon2id with parameters above OWASP's minimum (m = 19 MiB, t = 2): 64 MiB, 3 passes, one lane.
 * A hash with weaker parameters (an older setting) is rehashed at the next successful login.
 */
// `algorithm: 2` is Argon2id (the package's const enum cannot be imported under verbatimModuleSyntax).
export const ARGON2_PARAMETERS = { algorithm: 2, memoryCost: 65_536, timeCost: 3, parallelism: 1 } as const;

export function hashPassword(password: string): Promise<string> {
  return hash(password.normalize('NFKC'), ARGON2_PARAMETERS);
}

export async function verifyPassword(stored: string, password: string): Promise<boolean> {
  try {
    return await verify(stored, password.normalize('NFKC'));
  } catch {
    return false; // a malformed stored hash never verifies
  }
}

export function needsRehash(stored: string): boolean {
  return !stored.startsWith(
    `$argon2id$v=19$m=${ARGON2_PARAMETERS.memoryCost},t=${ARGON2_PARAMETERS.timeCost},p=${ARGON2_PARAMETERS.parallelism}$`,
  );
}

/** A fixed hash to verify against when the login does not exist, so both cases take as long. */
export const DUMMY_HASH =
  '$argon2id$v=19$m=65536,t=3,p=1$q4t6sVk2bl0g/y4Y6Udnhg$Q6hOOR3cW4xFcXVEgkePGzFgb7Wp0dwyE5sMI++duRA';
