import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { type ChangedRow, ContentSplitter } from '../../../../src/dashboard/audit/content-splitter.js';

// A data file of four columns (when, event_id, chain_no, note), then state, chain site and content,
// as the export's COPY writes each record.
const layout = { rowFields: 4, eventId: 1, chainNo: 2 };
const HEADER = 'state,site,no,event_id,content';
const changed = ({ site, no, id }: ChangedRow) => new Error(`changed: ${site} ${no} ${id}`);

const content = (no: number) => `"[""event"", ""id-${no}"", {""note"": ""a, \\""b\\""""}]"`;
const record = (no: number, state = '', note = 'plain') =>
  `2026-01-10T00:00:0${no}Z,id-${no},${no},${note},${state},berlin,${content(no)}\n`;
/** A row without a chain link: no link number, no state, site or content. */
const unchained = (no: number) => `2026-01-10T00:00:0${no}Z,id-${no},,plain,,,\n`;

/** Streams `text` in chunks of `size` bytes through a splitter; returns both outputs. */
async function split(text: string, size: number, rowsHeader?: string) {
  const chunks: Buffer[] = [];
  for (let i = 0; i < text.length; i += size) chunks.push(Buffer.from(text.slice(i, i + size)));
  const splitter = new ContentSplitter(layout, HEADER, changed, rowsHeader);
  const rows: Buffer[] = [];
  const records: Buffer[] = [];
  const into = (seen: Buffer[]) =>
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        seen.push(chunk);
        done();
      },
    });
  await Promise.all([
    pipeline(Readable.from(chunks), splitter, into(rows)),
    pipeline(splitter.content, into(records)),
  ]);
  return {
    rows: Buffer.concat(rows).toString(),
    content: Buffer.concat(records).toString(),
    erased: splitter.erased,
  };
}

describe('the export splitting its COPY into the data file and the content file', () => {
  it.each([1, 7, 4096])('copies each field as PostgreSQL quoted it, in chunks of %i bytes', async (size) => {
    const text =
      record(1) + record(2, '', '"quote "" comma , and\nline break"') + unchained(3) + record(4, '', '""');
    expect(await split(text, size, 'when,event_id,chain_no,note')).toEqual({
      rows:
        'when,event_id,chain_no,note\n' +
        '2026-01-10T00:00:01Z,id-1,1,plain\n' +
        '2026-01-10T00:00:02Z,id-2,2,"quote "" comma , and\nline break"\n' +
        '2026-01-10T00:00:03Z,id-3,,plain\n' +
        '2026-01-10T00:00:04Z,id-4,4,""\n',
      content: `${HEADER}\n,berlin,1,id-1,${content(1)}\n,berlin,2,id-2,${content(2)}\n,berlin,4,id-4,${content(4)}\n`,
      erased: 0,
    });
  });

  it('writes the content file its header alone, and the data file none, when no row has a link', async () => {
    expect(await split(unchained(1), 4096)).toEqual({
      rows: '2026-01-10T00:00:01Z,id-1,,plain\n',
      content: `${HEADER}\n`,
      erased: 0,
    });
  });

  it.each([1, 7, 4096])('passes and counts rows an erasure rewrote, in chunks of %i bytes', async (size) => {
    const { content: written, erased } = await split(
      record(1, 'erased') + record(2) + record(3, 'erased'),
      size,
    );
    expect(erased).toBe(2);
    expect(written.split('\n').map((line) => line.slice(0, line.indexOf(',')))).toEqual([
      'state',
      'erased',
      '',
      'erased',
      '',
    ]);
  });

  it.each([1, 5, 4096])('fails at a changed row, naming it, in chunks of %i bytes', async (size) => {
    await expect(split(record(1) + record(2, 'changed') + record(3), size)).rejects.toThrow(
      'changed: berlin 2 id-2',
    );
  });

  it('fails on a record with more or fewer fields than expected', async () => {
    await expect(split('a,b,c\n', 4096)).rejects.toThrow(/does not have the 7 fields expected/);
    await expect(split(record(1).replace('\n', ',extra\n'), 4096)).rejects.toThrow(
      /does not have the 7 fields expected/,
    );
  });

  it('fails on data that ends inside a record', async () => {
    await expect(split(record(1) + record(2).slice(0, 30), 4096)).rejects.toThrow(
      'the export data ends inside a record',
    );
  });

  it('takes no more input while the content file is not read, whatever the data file does', async () => {
    const splitter = new ContentSplitter(layout, HEADER, changed);
    splitter.on('data', () => undefined); // the data file is written as fast as it comes
    const total = 20_000;
    for (let no = 1; no <= total; no += 1) splitter.write(record(no));
    splitter.end();
    // ~2 MB of content was offered; the splitter holds about one block beyond the stream's buffer.
    expect(splitter.content.readableLength).toBeLessThan(3 * 65_536);
    expect(splitter.writableLength).toBeGreaterThan(1_000_000);

    let lines = 0;
    for await (const chunk of splitter.content as AsyncIterable<Buffer>) {
      for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines += 1;
    }
    expect(lines).toBe(1 + total);
  });
});
