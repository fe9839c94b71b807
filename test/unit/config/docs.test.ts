import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { configReference } from '../../../src/cli/config-command.js';

describe('docs/configuration.md', () => {
  it('carries the current output of `identgate config reference` (regenerate it when keys change)', () => {
    const doc = readFileSync('docs/configuration.md', 'utf8');
    const generated =
      /<!-- generated: identgate config reference -->\n([\s\S]*?)<!-- end of generated reference -->/.exec(
        doc,
      )?.[1];
    expect(generated?.trim()).toBe(configReference().join('\n').trim());
  });
});
