import type { Static, TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import Value from 'typebox/value';

/** A device configuration as the loader produces it: defaults filled, then validated. */
export function configured<S extends TSchema>(schema: S, value: unknown): Static<S> {
  const filled = Value.Default(schema, structuredClone(value));
  const validator = Compile(schema);
  if (!validator.Check(filled)) {
    throw new Error(
      `invalid test configuration: ${JSON.stringify([...validator.Errors(filled)].slice(0, 3))}`,
    );
  }
  return filled as Static<S>;
}
