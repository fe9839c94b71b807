import { readFileSync, statSync } from 'node:fs';
import type { Static, TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import Value from 'typebox/value';
import { isMap, LineCounter, parseDocument, parse as parseYaml } from 'yaml';
import { ConfigError, ConfigErrorCode } from './config-error.js';
import { type ConfigProblem, explainErrors, pointerToKeyPath } from './explain.js';
import { refinementProblems } from './refinements.js';

type Env = Record<string, string | undefined>;
type SchemaNode = Record<string, unknown>;

export const ENV_PREFIX = 'IDENTGATE_';

/** `httpPort` → `HTTP_PORT`; path segments are joined with `__`. */
export function envNameFor(path: readonly string[]): string {
  return ENV_PREFIX + path.map((p) => p.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()).join('__');
}

interface EnvOverride {
  path: string[];
  name: string;
  leaf: SchemaNode;
}

/** Every scalar key the schema reaches through plain objects can be overridden from the environment. */
export function environmentOverrides(schema: TSchema, path: string[] = []): EnvOverride[] {
  const node = schema as SchemaNode;
  if (node.type === 'object' && node.properties) {
    return Object.entries(node.properties as Record<string, TSchema>).flatMap(([key, child]) =>
      key === 'kind' && path.length === 0 ? [] : environmentOverrides(child, [...path, key]),
    );
  }
  const scalar =
    ['string', 'integer', 'number', 'boolean'].includes(node.type as string) ||
    (Array.isArray(node.anyOf) && (node.anyOf as SchemaNode[]).every((o) => 'const' in o));
  return scalar && path.length > 0 ? [{ path, name: envNameFor(path), leaf: node }] : [];
}

function applyOverride(target: Record<string, unknown>, override: EnvOverride, raw: string): void {
  let value: unknown = raw;
  if (override.leaf.type !== 'string') {
    try {
      value = parseYaml(raw);
    } catch {
      value = raw;
    }
  }
  let node = target;
  for (const key of override.path.slice(0, -1)) {
    const next = node[key];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[override.path[override.path.length - 1] as string] = value;
}

export interface LoadOptions {
  env?: Env;
  /** Shown in messages instead of the path, e.g. for built-in defaults. */
  displayName?: string;
}

/** Reads, overrides from the environment, fills defaults, validates and reports every problem at once. */
export function loadConfigFile<S extends TSchema>(
  file: string,
  schema: S,
  options: LoadOptions = {},
): Static<S> {
  const name = options.displayName ?? file;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(
      name,
      [`cannot read the file: ${(error as Error).message}`],
      ConfigErrorCode.notFound,
    );
  }
  return parseConfigText(text, schema, { ...options, displayName: name });
}

export function parseConfigText<S extends TSchema>(
  text: string,
  schema: S,
  options: LoadOptions = {},
): Static<S> {
  const name = options.displayName ?? '(config)';
  const env = options.env ?? process.env;
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      name,
      doc.errors.map((e) => `line ${e.linePos?.[0].line ?? '?'}: ${e.message.split('\n')[0]}`),
    );
  }
  const raw: unknown = doc.toJS() ?? {};
  if (typeof raw !== 'object' || Array.isArray(raw) || raw === null) {
    throw new ConfigError(name, ['the file must contain a YAML mapping at the top level']);
  }
  const value = raw as Record<string, unknown>;
  const fromEnv = new Map<string, string>();
  for (const override of environmentOverrides(schema)) {
    const setting = env[override.name];
    if (setting === undefined || setting === '') continue;
    applyOverride(value, override, setting);
    fromEnv.set(`/${override.path.join('/')}`, override.name);
  }
  const withDefaults = Value.Default(schema, value);
  const validator = Compile(schema);
  // Rules between keys (refinements.ts) only make sense once every key has the right shape.
  const found: ConfigProblem[] = validator.Check(withDefaults)
    ? refinementProblems(schema, withDefaults)
    : explainErrors(validator, schema, withDefaults);
  if (found.length === 0) return withDefaults as Static<S>;
  const problems = found.map((problem) => {
    const source = fromEnv.get(problem.pointer);
    const where = source ? undefined : locate(doc, lineCounter, problem.pointer);
    return `${where ? `line ${where}: ` : ''}${pointerToKeyPath(problem.pointer)}${source ? ` (from ${source})` : ''}: ${problem.message}`;
  });
  throw new ConfigError(name, problems);
}

function locate(
  doc: ReturnType<typeof parseDocument>,
  lines: LineCounter,
  pointer: string,
): string | undefined {
  const parts = pointer
    .slice(1)
    .split('/')
    .filter(Boolean)
    .map((p) => (/^\d+$/.test(p) ? Number(p) : p));
  // Missing keys have no node of their own: fall back to the closest parent that exists.
  for (let depth = parts.length; depth >= 0; depth--) {
    const node = depth === 0 ? doc.contents : doc.getIn(parts.slice(0, depth), true);
    if (node && typeof node === 'object' && 'range' in node && Array.isArray(node.range)) {
      if (depth === 0 && !isMap(node)) return undefined;
      const pos = lines.linePos(node.range[0] as number);
      return `${pos.line}`;
    }
  }
  return undefined;
}

export interface SecretSource {
  file?: string;
  env?: string;
}

/** Reads a secret from a file (which must not be readable by group or others) or the environment. */
export function resolveSecret(ref: SecretSource, key: string, env: Env = process.env): string {
  if (ref.env !== undefined) {
    const value = env[ref.env];
    if (!value)
      throw new ConfigError(key, [`environment variable ${ref.env} is not set`], ConfigErrorCode.secret);
    return value;
  }
  if (ref.file !== undefined) {
    let mode: number;
    try {
      mode = statSync(ref.file).mode;
    } catch (error) {
      throw new ConfigError(
        key,
        [`cannot read secret file: ${(error as Error).message}`],
        ConfigErrorCode.secret,
      );
    }
    if ((mode & 0o077) !== 0) {
      throw new ConfigError(
        key,
        [
          `secret file ${ref.file} is readable by group or others (mode ${(mode & 0o777).toString(8)}); chmod 600 it`,
        ],
        ConfigErrorCode.secret,
      );
    }
    return readFileSync(ref.file, 'utf8').replace(/\r?\n$/, '');
  }
  throw new ConfigError(key, ['a secret needs `file` or `env`'], ConfigErrorCode.secret);
}
