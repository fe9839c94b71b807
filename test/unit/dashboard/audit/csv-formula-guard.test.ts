import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FORMULA_STARTS, unguardRow } from '../../../../src/dashboard/audit/csv-formula-guard.js';

/** The export's rule (formulaGuardSql), in JavaScript. */
const guard = (text: string) => (FORMULA_STARTS.has(text.slice(0, 1)) ? `'${text}` : text);

describe('the CSV formula guard, read back', () => {
  it('gives back every text as it was, and names no cell', () => {
    const text = fc.string({ unit: fc.constantFrom('=', '+', '-', '@', "'", '\t', '\r', 'a', ' ') });
    fc.assert(
      fc.property(text, text, (reason, badge) => {
        const row: Record<string, unknown> = { reason: guard(reason), badge: guard(badge), sequence: '-1' };
        const broken: string[] = [];
        unguardRow(row, (column) => broken.push(column));
        expect(row).toEqual({ reason, badge, sequence: '-1' });
        expect(broken).toEqual([]);
      }),
    );
  });

  it.each([['=HYPERLINK("http://evil.example/","click")'], ['+1'], ['@SUM(A1)'], ["'plain"], ['\t=1']])(
    'names a text cell that begins %j without the apostrophe before it',
    (cell) => {
      const row: Record<string, unknown> = { reason: cell, when: '=1' };
      const broken: string[] = [];
      unguardRow(row, (column) => broken.push(column));
      expect(broken).toEqual(['when', 'reason']);
      expect(row.reason).toBe(cell);
    },
  );
});
