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
    [
      { from: 'monday', to: '2026-03-02' },
      /from must be an ISO 8601 day \(2026-03-01, from 00:00 UTC\) or time/,
    ],
    // Without a zone a time would be read in the server's zone.
    [{ from: '2026-03-01T12:00', to: '2026-03-02' }, /from must be an ISO 8601 day .* or time with its zone/],
    [
      { from: '2026-03-01', to: '2026-03-02T00:00:00' },
      /to must be an ISO 8601 day .* or time with its zone/,
    ],
    [{ from: '2026-03-01 12:00Z', to: '2026-03-02' }, /from must be an ISO 8601 day/],
    [{ from: '2026-02-30', to: '2026-03-02' }, /from: 2026-02-30 is not a date and time that exists/],
    [
      { from: '2026-02-01', to: '2026-02-29T00:00Z' },
      /to: 2026-02-29T00:00Z is not a date and time that exists/,
    ],
    [{ from: '2026-03-01T24:00Z', to: '2026-03-02' }, /from: .* is not a date and time that exists/],
    [{ from: '2026-03-01T12:00+01:60', to: '2026-03-02' }, /from: .* is not a date and time that exists/],
    [{ from: '2026-03-01T00:00:00.0000001Z', to: '2026-03-02' }, /from must be an ISO 8601 day/],
    [{ from: '2026-03-02', to: '2026-03-01' }, /from must be before to/],
    [{ from: '2026-03-01', to: '2026-03-02', site: "x' OR '1'='1" }, /site must be an id/],
    [
      { from: '2026-03-01', to: '2026-03-02', kinds: ['access; DROP TABLE events'] },
      /kind must be an event kind/,
    ],
  ])('refuses %j', (input, message) => {
    expect(() => checkExportQuery(input)).toThrow(message);
  });

  it('reads a plain day as its start in UTC, keeps microseconds, and orders by them', () => {
    expect(checkExportQuery({ from: '2028-02-29', to: '2028-03-01T00:00:00.000001Z' })).toEqual({
      from: '2028-02-29T00:00:00.000Z',
      to: '2028-03-01T00:00:00.000001Z',
    });
    expect(
      checkExportQuery({ from: '2026-03-01T00:00:00.000001Z', to: '2026-03-01t01:00:00.00002+01:00' }),
    ).toEqual({ from: '2026-03-01T00:00:00.000001Z', to: '2026-03-01T00:00:00.000020Z' });
    expect(() =>
      checkExportQuery({ from: '2026-03-01T00:00:00.000500Z', to: '2026-03-01T00:00:00.000Z' }),
    ).toThrow('from must be before to');
  });

  it('matches a kind exactly or as a prefix, and leaves out video and camera events by default', () => {
    const base = checkExportQuery({ from: '2026-03-01', to: '2026-03-02' });
    expect(exportSql(base, quote)).toContain(`NOT starts_with(e.kind, 'video.')`);
    const kinds = exportSql({ ...base, kinds: ['access'] }, quote);
    expect(kinds).toContain(`e.kind = 'access' OR starts_with(e.kind, 'access.')`);
    expect(kinds).not.toContain(`'video.'`);
  });
});
