import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { currentRouteMatrix, generatedBlock } from '../../../src/dashboard/http/route-matrix.js';

describe('the role × route matrix in docs/dashboard.md', () => {
  it('is the one the routes declare (regenerate with npm run docs:routes)', async () => {
    const documented = generatedBlock(readFileSync('docs/dashboard.md', 'utf8'));
    expect(documented?.trim()).toBe((await currentRouteMatrix()).join('\n').trim());
  });

  it('gives every API route a role list or marks it public or workstation; none is left to the default', async () => {
    const lines = await currentRouteMatrix();
    const rows = lines.slice(2);
    expect(rows.length).toBeGreaterThan(8);
    for (const row of rows) expect(row).toMatch(/\| (yes|public|workstation) \|/);
  });

  it('marks the workstation login check as callable by workstations only, by no staff role', async () => {
    const row = (await currentRouteMatrix()).find((line) => line.includes('/login-check'));
    expect(row).toBe(
      '| POST | `/api/v1/workstations/:id/login-check` | workstation | workstation | workstation |  |',
    );
  });
});
