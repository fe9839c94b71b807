import type { Static, TSchema } from 'typebox';
import type { ConfigProblem } from './explain.js';

/**
 * Rules a JSON schema cannot state — one key compared with another (a hold that ends before it
 * starts), or a reference to an id listed elsewhere (a hold naming a camera that is not
 * configured) — attached to the schema they belong to. The loader runs them after the schema
 * accepted the document, so their problems name the key exactly as schema problems do.
 */
export type Refinement<S extends TSchema> = (value: Static<S>) => ConfigProblem[];

const refinements = new WeakMap<TSchema, (value: unknown) => ConfigProblem[]>();

/** Attaches `check` to `schema` (returned as is); pointers in its problems are relative to the schema's value. */
export function refine<S extends TSchema>(schema: S, check: Refinement<S>): S {
  refinements.set(schema, check as (value: unknown) => ConfigProblem[]);
  return schema;
}

/** Every refinement's problems for a value the schema accepted, with pointers from the document root. */
export function refinementProblems(schema: TSchema, value: unknown, pointer = ''): ConfigProblem[] {
  const node = schema as { properties?: Record<string, TSchema>; items?: TSchema };
  const problems: ConfigProblem[] = [];
  const own = refinements.get(schema);
  if (own) problems.push(...own(value).map((p) => ({ ...p, pointer: pointer + p.pointer })));
  if (node.properties && value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [key, child] of Object.entries(node.properties)) {
      const inner = (value as Record<string, unknown>)[key];
      if (inner !== undefined) problems.push(...refinementProblems(child, inner, `${pointer}/${key}`));
    }
  }
  if (node.items && Array.isArray(value)) {
    for (const [at, inner] of value.entries())
      problems.push(...refinementProblems(node.items, inner, `${pointer}/${at}`));
  }
  return problems;
}
