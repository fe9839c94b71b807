import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { arrayLiteral } from '../../src/dashboard/storage/database.js';

/** The ingest builds its array parameters itself (database.ts); PostgreSQL must read back exactly what went in. */
describe('arrayLiteral', () => {
  let client: pg.Client;
  beforeAll(async () => {
    client = new pg.Client({ connectionString: inject('databaseUrl') });
    await client.connect();
  });
  afterAll(async () => {
    await client.end();
  });

  async function roundTrip(values: Array<string | null>, type = 'text'): Promise<unknown[]> {
    const result = await client.query(`SELECT ($1::${type}[])::text[] AS a`, [arrayLiteral(values)]);
    return result.rows[0].a;
  }

  it('keeps quotes, backslashes, braces, commas, blanks, the word NULL and null apart', async () => {
    const hostile = [
      'a"b',
      'c\\d',
      '\\"',
      '{x,y}',
      ' lead',
      'trail ',
      '',
      'NULL',
      null,
      'new\nline',
      '😀 ü',
      ',',
      '"',
    ];
    expect(await roundTrip(hostile)).toEqual(hostile);
  });

  it('reads back any string exactly (fuzzed)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.option(
            fc.string({ unit: 'binary' }).map((s) => s.replaceAll('\u0000', '')),
            { nil: null },
          ),
          {
            maxLength: 20,
          },
        ),
        async (values) => {
          expect(await roundTrip(values)).toEqual(values);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('serves numbers, uuids, times and JSON for their typed arrays', async () => {
    const numbers = await client.query('SELECT $1::bigint[] AS a', [
      arrayLiteral([1, 9007199254740991, null]),
    ]);
    expect(numbers.rows[0].a).toEqual(['1', '9007199254740991', null]);
    const json = [JSON.stringify({ door: 'a"\\b', n: [1, 2] }), JSON.stringify({})];
    const parsed = await client.query('SELECT $1::jsonb[] AS a', [arrayLiteral(json)]);
    expect(parsed.rows[0].a).toEqual([{ door: 'a"\\b', n: [1, 2] }, {}]);
    const times = await client.query(`SELECT to_json($1::timestamptz[]) AS a`, [
      arrayLiteral(['2026-11-27T08:00:00.123Z']),
    ]);
    expect(times.rows[0].a).toEqual(['2026-11-27T08:00:00.123+00:00']);
  });
});
