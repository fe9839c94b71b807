import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CsvFormatError, csvRecords } from '../../../../src/dashboard/audit/csv-records.js';

/** Reads `csv` handed over in pieces of `size` characters (so records, quotes and CRLF get split). */
async function read(csv: string, size = 1_000_000): Promise<string[][]> {
  async function* chunks() {
    for (let i = 0; i < csv.length; i += size) yield csv.slice(i, i + size);
  }
  const records: string[][] = [];
  for await (const record of csvRecords(chunks())) records.push(record);
  return records;
}

/** A field as PostgreSQL's COPY … (FORMAT csv) writes it. */
const quoted = (field: string) => (/[",\r\n]/.test(field) ? `"${field.replaceAll('"', '""')}"` : field);

describe('CSV records of a bundle file', () => {
  it.each([
    ['LF', 'line one\nline two'],
    ['CR', 'a\rb'],
    ['CRLF', 'a\r\nb'],
    ['quotes', 'she said "no", twice ""'],
    ['commas', 'a, b,, c'],
    ['only a line break', '\n'],
  ])('reads a quoted field holding %s as one field of one record', async (_, reason) => {
    const csv = `when,reason,id\n2026-03-01,${quoted(reason)},e-1\n2026-03-02,plain,e-2\n`;
    for (const size of [1, 2, 3, 7, csv.length])
      expect(await read(csv, size)).toEqual([
        ['when', 'reason', 'id'],
        ['2026-03-01', reason, 'e-1'],
        ['2026-03-02', 'plain', 'e-2'],
      ]);
  });

  it('ends records at LF, CRLF or a lone CR, reads empty fields, and skips blank lines', async () => {
    expect(await read('a,,c\r\n\n,b,\rx\n\r\n"",y')).toEqual([
      ['a', '', 'c'],
      ['', 'b', ''],
      ['x'],
      ['', 'y'],
    ]);
  });

  it('reads what COPY writes, however the stream is cut', async () => {
    const field = fc.string({ unit: fc.constantFrom('a', 'é', ',', '"', '\n', '\r', ' ', '=') });
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(field, { minLength: 2, maxLength: 4 }), { minLength: 1, maxLength: 5 }),
        fc.integer({ min: 1, max: 9 }),
        async (records, size) => {
          // An empty record would be a blank line, which COPY never writes for two or more columns.
          const csv = records.map((r) => `${r.map(quoted).join(',')}\n`).join('');
          expect(await read(csv, size)).toEqual(records);
        },
      ),
    );
  });

  it.each([
    ['cut off inside a quoted field', 'a,b\n1,"line one\nline', /^record 2 is cut off inside a quoted field/],
    ['text after a closing quote', 'a,"b"c\n', /^record 1 has text after the closing quote of a field/],
    ['a quote inside an unquoted field', 'a,b"c\n', /^record 1 has a quote inside an unquoted field/],
  ])('fails on a file %s, naming the record', async (_, csv, message) => {
    const reading = read(csv, 2);
    await expect(reading).rejects.toBeInstanceOf(CsvFormatError);
    await expect(reading).rejects.toThrow(message);
  });
});
