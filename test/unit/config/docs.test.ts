import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DashboardConfig } from '../../../src/config/dashboard-config.js';
import { DemoConfig } from '../../../src/config/demo-config.js';
import { GatewayConfig } from '../../../src/config/gateway-config.js';
import { environmentOverrides } from '../../../src/config/load-config.js';

describe('docs/configuration.md', () => {
  const doc = readFileSync('docs/configuration.md', 'utf8');
  it.each([
    ['demo', DemoConfig],
    ['gateway', GatewayConfig],
    ['dashboard', DashboardConfig],
  ])('documents every %s key and its environment variable', (_kind, schema) => {
    for (const override of environmentOverrides(schema)) {
      expect(doc).toContain(`\`${override.path.join('.')}\``);
      expect(doc).toContain(`\`${override.name}\``);
    }
  });
});
