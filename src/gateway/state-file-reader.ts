import { readFileSync } from 'node:fs';
import type { Static, TSchema } from 'typebox';
import type { Validator } from 'typebox/compile';
import { describeSchemaErrors } from '../protocol/envelope.js';

/**
 * Reads one of the gateway's JSON state files against its schema: `missing` when there is none
 * (what that means is the caller's: a first start, or a file removed), `lost` with the reason
 * when it cannot be read, is not JSON or has another shape.
 */
export function readStateFile<T extends TSchema>(
  path: string,
  validator: Validator<Record<string, never>, T>,
): { value: Static<T> } | { lost: string } | { missing: true } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { missing: true };
    return { lost: `the file cannot be read (${(error as Error).message})` };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return { lost: `the file is not JSON (${(error as Error).message})` };
  }
  if (!validator.Check(parsed))
    return { lost: `the file has an unexpected shape (${describeSchemaErrors(validator, parsed)})` };
  return { value: parsed as Static<T> };
}
