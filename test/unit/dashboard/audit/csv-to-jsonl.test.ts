import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import { CsvToJsonl } from '../../../../src/dashboard/audit/csv-to-jsonl.js';

const COLUMNS = ['when', 'person', 'reason', 'sequence'] as const;
const NUMERIC = new Set(['sequence']);

/** Feeds `csv` in chunks of `size` bytes (so records, quotes and UTF-8 characters get split). */
async function convert(csv: string, size = 1_000_000): Promise<string> {
  const bytes = Buffer.from(csv, 'utf8');
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
  return text(Readable.from(chunks).pipe(new CsvToJsonl(COLUMNS, NUMERIC)));
}

describe('PostgreSQL CSV to JSON lines', () => {
  it('writes one object per record, keys in column order, numbers as numbers', async () => {
    const out = await convert(
      '2026-11-27T10:00:00.000000Z,ada,,17\n2026-11-27T10:00:01.000000Z,bob,wrong-code,9007199254740993\n',
    );
    expect(out).toBe(
      '{"when":"2026-11-27T10:00:00.000000Z","person":"ada","reason":null,"sequence":17}\n' +
        '{"when":"2026-11-27T10:00:01.000000Z","person":"bob","reason":"wrong-code","sequence":9007199254740993}\n',
    );
  });

  it('tells NULL (empty) from an empty string (quoted), and unquotes commas, quotes and line breaks', async () => {
    const csv = 'a,"",,1\nb,"x, ""quoted""\nnext line",reason,2\n';
    const lines = (await convert(csv))
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toEqual([
      { when: 'a', person: '', reason: null, sequence: 1 },
      { when: 'b', person: 'x, "quoted"\nnext line', reason: 'reason', sequence: 2 },
    ]);
  });

  it('escapes what JSON must escape and keeps other characters as they are', async () => {
    const csv = 'w,"back\\\\slash \t tab",ü → 😀,3\n';
    const [line] = (await convert(csv)).trimEnd().split('\n');
    expect(JSON.parse(line as string)).toEqual({
      when: 'w',
      person: 'back\\\\slash \t tab',
      reason: 'ü → 😀',
      sequence: 3,
    });
  });

  it('escapes control characters and backslashes in fields PostgreSQL left unquoted', async () => {
    const [line] = (await convert('w,tab\there,back\\slash,4\n')).trimEnd().split('\n');
    expect(line).toBe('{"when":"w","person":"tab\\there","reason":"back\\\\slash","sequence":4}');
  });

  it('writes records whose JSON is many times the size of their CSV', async () => {
    const out = await convert(',,,\n'.repeat(20_000));
    expect(out).toBe('{"when":null,"person":null,"reason":null,"sequence":null}\n'.repeat(20_000));
  });

  it('gives the same lines however the input is cut into chunks', async () => {
    const csv = 'a,"one\ntwo, ""three""",ü😀,1\nb,plain,"",2\nc,,x,3\n';
    const whole = await convert(csv);
    for (const size of [1, 2, 3, 5, 7, 13]) expect(await convert(csv, size)).toBe(whole);
  });

  it('refuses a record with the wrong number of fields and a quoted field that never ends', async () => {
    await expect(convert('a,b,c\n')).rejects.toThrow(/3 fields where 4 were expected/);
    await expect(convert('a,"open,c,1\n')).rejects.toThrow(/ends inside a quoted field/);
  });
});
