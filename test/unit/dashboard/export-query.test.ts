import { describe, expect, it } from 'vitest';
import { checkExportQuery, exportSql } from '../../../src/dashboard/audit/export-query.js';

const quote = (value: string) => `'${value.replaceAll("'", "''")}'`;

describe('export query', () => {
  it('normalises the times to UTC ISO and keeps the filters given', () => {
    expect(
      checkExportQuery({
        from: '2026-03-01',
        to: '2026-03-02T00:00:00+01:00',
        person: 'p-1',
        kinds: ['access'],
      }),
    ).toEqual({
      from: '2026-03-01T00:00:00.000Z',
      to: '2026-03-01T23:00:00.000Z',
      person: 'p-1',
      kinds: ['access'],
    });
  });

  it.each([
    [{ from: '2026-03-01' }, /needs --from and --to/],
    [{ from: 'monday', to: '2026-03-02' }, /from must be an ISO 8601 time/],
    [{ from: '2026-03-02', to: '2026-03-01' }, /from must be before to/],
    [{ from: '2026-03-01', to: '2026-03-02', site: "x' OR '1'='1" }, /site must be an id/],
    [
      { from: '2026-03-01', to: '2026-03-02', kinds: ['access; DROP TABLE events'] },
      /kind must be an event kind/,
    ],
  ])('refuses %j', (input, message) => {
    expect(() => checkExportQuery(input)).toThrow(message);
  });

  it('matches a kind exactly or as a prefix, and leaves out video and camera events by default', () => {
    const base = checkExportQuery({ from: '2026-03-01', to: '2026-03-02' });
    expect(exportSql(base, quote)).toContain(`NOT starts_with(e.kind, 'video.')`);
    const kinds = exportSql({ ...base, kinds: ['access'] }, quote);
    expect(kinds).toContain(`e.kind = 'access' OR starts_with(e.kind, 'access.')`);
    expect(kinds).not.toContain(`'video.'`);
  });
});
