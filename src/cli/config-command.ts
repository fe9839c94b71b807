import { readFileSync, writeFileSync } from 'node:fs';
import type { TSchema } from 'typebox';
import { parse as parseYaml } from 'yaml';
import { ConfigError, ConfigErrorCode } from '../config/config-error.js';
import { DashboardConfig } from '../config/dashboard-config.js';
import { DemoConfig } from '../config/demo-config.js';
import { describeSchema } from '../config/explain.js';
import { GatewayConfig } from '../config/gateway-config.js';
import { environmentOverrides, parseConfigText } from '../config/load-config.js';
import { WorkstationClientConfig } from '../config/workstation-config.js';
import { UsageError } from './cli-error.js';

/**
 * `identgate config check <file>` validates a file without starting anything;
 * `identgate config reference` lists every scalar key with what it allows, its default and the
 * variable that overrides it (docs/configuration.md embeds this table).
 */
const SCHEMAS: Record<string, { title: string; schema: TSchema }> = {
  demo: { title: 'demo.yaml (`kind: demo`)', schema: DemoConfig },
  gateway: { title: 'gateway (`kind: gateway`)', schema: GatewayConfig },
  dashboard: { title: 'dashboard (`kind: dashboard`)', schema: DashboardConfig },
  workstation: {
    title: 'workstation (`kind: workstation`, docs/workstations.md)',
    schema: WorkstationClientConfig,
  },
};

export const CONFIG_USAGE = `usage:
  identgate config check <file>     validate a configuration file and exit
  identgate config reference [--write <file.md>]   every key, what it allows, its default and variable`;

export function configReference(): string[] {
  const lines: string[] = [];
  for (const { title, schema } of Object.values(SCHEMAS)) {
    lines.push(
      '',
      `### ${title}`,
      '',
      '| key | allowed | default | environment |',
      '| --- | --- | --- | --- |',
    );
    for (const override of environmentOverrides(schema)) {
      const fallback = (override.leaf as { default?: unknown }).default;
      const allowed = describeSchema(override.leaf as Record<string, unknown>).replaceAll('|', '\\|');
      const shownDefault = fallback === undefined ? '—' : `\`${JSON.stringify(fallback)}\``;
      lines.push(`| \`${override.path.join('.')}\` | ${allowed} | ${shownDefault} | \`${override.name}\` |`);
    }
  }
  return lines;
}

/** Loads the file with the schema its `kind` names. */
export function checkConfig(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(
      file,
      [`cannot read the file: ${(error as Error).message}`],
      ConfigErrorCode.notFound,
    );
  }
  let kind: unknown;
  try {
    kind = (parseYaml(text) as { kind?: unknown } | null)?.kind;
  } catch {
    // Not YAML: the loader reports the syntax error with its line.
    parseConfigText(text, GatewayConfig, { displayName: file });
  }
  const entry = typeof kind === 'string' ? SCHEMAS[kind] : undefined;
  if (!entry) {
    const allowed = Object.keys(SCHEMAS)
      .map((k) => `"${k}"`)
      .join(', ');
    throw new ConfigError(file, [`kind: must be one of ${allowed}, got ${JSON.stringify(kind ?? null)}`]);
  }
  parseConfigText(text, entry.schema, { displayName: file });
  return `${file}: valid ${kind} configuration`;
}

const BEGIN = '<!-- generated: identgate config reference -->\n';
const END = '<!-- end of generated reference -->';

/** Replaces the generated block of a Markdown file (docs/configuration.md) with the current reference. */
export function writeReference(file: string): string {
  const text = readFileSync(file, 'utf8');
  const start = text.indexOf(BEGIN);
  const end = text.indexOf(END);
  if (start < 0 || end < start) throw new UsageError(`${file} has no generated reference block to replace`);
  const body = configReference().join('\n').trim();
  writeFileSync(file, `${text.slice(0, start + BEGIN.length)}${body}\n${text.slice(end)}`);
  return `${file}: reference updated`;
}

export function runConfig(args: string[], writeTo?: string): string[] {
  const [verb, file] = args;
  if (verb === 'reference') return writeTo ? [writeReference(writeTo)] : configReference();
  if (verb === 'check' && file) return [checkConfig(file)];
  throw new UsageError(CONFIG_USAGE);
}
