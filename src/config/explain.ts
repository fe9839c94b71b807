import type { TSchema } from 'typebox';
import type { Validator } from 'typebox/compile';
import { Settings } from 'typebox/system';

/**
 * Turns schema validation errors into one sentence per problem, naming the key and what is
 * allowed there, so that an operator can fix a configuration file without reading the schema.
 */
export interface ConfigProblem {
  /** JSON pointer into the document, e.g. `/doors/0/unlockSeconds`. */
  pointer: string;
  message: string;
}

type SchemaNode = Record<string, unknown>;

export function pointerToKeyPath(pointer: string): string {
  if (pointer === '') return '(top level)';
  let out = '';
  for (const raw of pointer.slice(1).split('/')) {
    const part = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    out += /^\d+$/.test(part) ? `[${part}]` : out === '' ? part : `.${part}`;
  }
  return out;
}

function resolveSchemaPath(root: TSchema, schemaPath: string): SchemaNode | undefined {
  let node: unknown = root;
  for (const raw of schemaPath.replace(/^#\/?/, '').split('/').filter(Boolean)) {
    const part = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node && typeof node === 'object' ? (node as SchemaNode) : undefined;
}

function valueAt(root: unknown, pointer: string): unknown {
  let node = root;
  for (const part of pointer.slice(1).split('/').filter(Boolean)) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

/** What a schema allows, in words: its description where it has one, with the numeric range. */
export function describeSchema(schema: SchemaNode): string {
  const shape = describeShape(schema);
  if (typeof schema.description !== 'string') return shape;
  return schema.type === 'integer' || schema.type === 'number' || allConst(schema)
    ? `${shape} (${schema.description})`
    : schema.description;
}

function describeShape(schema: SchemaNode): string {
  if ('const' in schema) return JSON.stringify(schema.const);
  if (Array.isArray(schema.anyOf)) {
    const options = schema.anyOf as SchemaNode[];
    return allConst(schema)
      ? `one of ${options.map((o) => JSON.stringify(o.const)).join(', ')}`
      : options.map(describeSchema).join(' or ');
  }
  switch (schema.type) {
    case 'integer':
    case 'number': {
      const noun = schema.type === 'integer' ? 'an integer' : 'a number';
      const { minimum, maximum } = schema;
      if (minimum !== undefined && maximum !== undefined) return `${noun} from ${minimum} to ${maximum}`;
      if (minimum !== undefined) return `${noun} of at least ${minimum}`;
      if (maximum !== undefined) return `${noun} of at most ${maximum}`;
      return noun;
    }
    case 'boolean':
      return 'true or false';
    case 'string': {
      if (typeof schema.pattern === 'string') return `a string matching /${schema.pattern}/`;
      if (typeof schema.minLength === 'number' && schema.minLength > 0) return 'a non-empty string';
      return 'a string';
    }
    case 'array':
      return schema.items ? `a list of ${describeSchema(schema.items as SchemaNode)}` : 'a list';
    case 'object': {
      const keys = Object.keys((schema.properties as object | undefined) ?? {});
      return keys.length ? `a mapping with keys ${keys.join(', ')}` : 'a mapping';
    }
    default:
      return 'a value of the documented form';
  }
}

function allConst(schema: SchemaNode): boolean {
  return Array.isArray(schema.anyOf) && (schema.anyOf as SchemaNode[]).every((o) => 'const' in o);
}

function shown(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** Configuration is trusted input of bounded size, so every error is wanted, not the first eight. */
function allErrors(validator: Validator, value: unknown) {
  const previous = Settings.Get().maxErrors;
  Settings.Set({ maxErrors: 1000 });
  try {
    return [...validator.Errors(value)];
  } finally {
    Settings.Set({ maxErrors: previous });
  }
}

/**
 * The key that tells a union's branches apart when every branch is an object with a constant
 * there (`type: simulated | gpio | …`), so that errors can come from the branch the value chose.
 */
function discriminator(node: SchemaNode): string | undefined {
  const branches = Array.isArray(node.anyOf) ? (node.anyOf as SchemaNode[]) : [];
  const first = branches[0]?.properties as Record<string, SchemaNode> | undefined;
  if (!first) return undefined;
  return Object.keys(first).find((key) =>
    branches.every((branch) => {
      const property = (branch.properties as Record<string, SchemaNode> | undefined)?.[key];
      return property !== undefined && 'const' in property;
    }),
  );
}

interface UnionVerdict {
  /** Where the union's branch errors live in the schema. */
  prefix: string;
  /** The schema path of the branch the value picked by its discriminator; its errors are reported. */
  chosen?: string;
}

export function explainErrors(validator: Validator, schema: TSchema, value: unknown): ConfigProblem[] {
  const errors = allErrors(validator, value);
  const problems: ConfigProblem[] = [];
  const seen = new Set<string>();
  const add = (pointer: string, message: string) => {
    const key = `${pointer}\u0000${message}`;
    if (seen.has(key)) return;
    seen.add(key);
    problems.push({ pointer, message });
  };
  // A failed union reports every branch. Keep the branch its discriminator picked; without
  // one, keep only the union's own error and say what it allows.
  const unions: UnionVerdict[] = [];
  const handled = new Set<(typeof errors)[number]>();
  for (const error of errors.filter((e) => e.keyword === 'anyOf')) {
    const prefix = `${error.schemaPath}/anyOf/`;
    const node = resolveSchemaPath(schema, error.schemaPath) ?? {};
    const key = discriminator(node);
    const instance = valueAt(value, error.instancePath);
    if (key === undefined || instance === null || typeof instance !== 'object') {
      unions.push({ prefix });
      continue;
    }
    const branches = node.anyOf as SchemaNode[];
    const picked = (instance as Record<string, unknown>)[key];
    const index = branches.findIndex(
      (b) => ((b.properties as Record<string, SchemaNode>)[key] as SchemaNode).const === picked,
    );
    handled.add(error);
    if (index >= 0) {
      unions.push({ prefix, chosen: `${prefix}${index}` });
    } else {
      unions.push({ prefix });
      const allowed = branches.map((b) =>
        JSON.stringify((b.properties as Record<string, SchemaNode>)[key]?.const),
      );
      add(`${error.instancePath}/${key}`, `must be one of ${allowed.join(', ')}, got ${shown(picked)}`);
    }
  }
  const within = (path: string, base: string) => path === base || path.startsWith(`${base}/`);
  const inReportedBranch = (schemaPath: string) =>
    unions.every(
      (u) => !schemaPath.startsWith(u.prefix) || (u.chosen !== undefined && within(schemaPath, u.chosen)),
    );
  for (const error of errors) {
    if (error.keyword === 'boolean' || handled.has(error)) continue;
    if (!inReportedBranch(error.schemaPath)) continue;
    const node = resolveSchemaPath(schema, error.schemaPath) ?? {};
    const params = error.params as Record<string, unknown>;
    if (error.keyword === 'required') {
      const properties = (node.properties ?? {}) as Record<string, SchemaNode>;
      for (const name of (params.requiredProperties as string[] | undefined) ?? []) {
        const child = properties[name];
        // Defaults are filled only into a value that is otherwise valid: a key with one is not missing.
        if (child && 'default' in child) continue;
        add(`${error.instancePath}/${name}`, `is required: ${child ? describeSchema(child) : 'a value'}`);
      }
    } else if (error.keyword === 'additionalProperties') {
      const allowed = Object.keys((node.properties ?? {}) as object);
      for (const name of (params.additionalProperties as string[] | undefined) ?? []) {
        add(`${error.instancePath}/${name}`, `unknown key; allowed here: ${allowed.join(', ') || 'none'}`);
      }
    } else {
      add(
        error.instancePath,
        `must be ${describeSchema(node)}, got ${shown(valueAt(value, error.instancePath))}`,
      );
    }
  }
  return problems;
}
