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

export function explainErrors(validator: Validator, schema: TSchema, value: unknown): ConfigProblem[] {
  const errors = allErrors(validator, value);
  // A failed union reports every branch; keep only the union's own error and say what it allows.
  const unionPaths = errors.filter((e) => e.keyword === 'anyOf').map((e) => `${e.schemaPath}/anyOf/`);
  const problems: ConfigProblem[] = [];
  const seen = new Set<string>();
  const add = (pointer: string, message: string) => {
    const key = `${pointer}\u0000${message}`;
    if (seen.has(key)) return;
    seen.add(key);
    problems.push({ pointer, message });
  };
  for (const error of errors) {
    if (error.keyword === 'boolean') continue;
    if (unionPaths.some((prefix) => error.schemaPath.startsWith(prefix))) continue;
    const node = resolveSchemaPath(schema, error.schemaPath) ?? {};
    const params = error.params as Record<string, unknown>;
    if (error.keyword === 'required') {
      const properties = (node.properties ?? {}) as Record<string, SchemaNode>;
      for (const name of (params.requiredProperties as string[] | undefined) ?? []) {
        const child = properties[name];
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
