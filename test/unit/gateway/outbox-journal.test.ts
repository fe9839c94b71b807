import {
  appendFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  statSync,
  truncateSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { OutboxJournal, type OutboxJournalOptions } from '../../../src/gateway/outbox/outbox-journal.js';
import { frameRecord } from '../../../src/gateway/outbox/outbox-segment.js';
import { silentLogger } from '../../../src/lib/logger.js';
import { flakyDisk } from '../../helpers/flaky-disk.js';

function journal(dir: string, segmentBytes?: number, extra: Partial<OutboxJournalOptions> = {}) {
  return new OutboxJournal({ dir, log: silentLogger, segmentBytes, keepAckedMs: 0, ...extra });
}

async function appendAll(j: OutboxJournal, payloads: string[]) {
  const results = payloads.map((p) => j.append((seq) => Buffer.from(`${seq}:${p}`)));
  await Promise.all(results.map((r) => r.durable));
  return results.map((r) => r.seq);
}

/** Everything a resend of `fromSeq`…`toSeq` would read. */
async function read(j: OutboxJournal, fromSeq: number, toSeq: number) {
  const records = [];
  for await (const chunk of j.read(fromSeq, toSeq)) records.push(...chunk);
  return records;
}

/** The number in `acked` or `issued`, its checksum checked. */
function numberFile(dir: string, name: 'acked' | 'issued'): number {
  const [value, check] = readFileSync(join(dir, name), 'utf8').trim().split(' ');
  expect(check).toBe(crc32(String(value)).toString(16).padStart(8, '0'));
  return Number(value);
}

function segments(dir: string) {
  return readdirSync(dir).filter((f) => f.startsWith('seg-'));
}

describe('outbox journal', () => {
  it('numbers records from 1 and returns the unacknowledged ones after a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-outbox-'));
    const first = journal(dir);
    first.recover();
    expect(await appendAll(first, ['a', 'b', 'c'])).toEqual([1, 2, 3]);
    first.ack(1);
    await first.close();

    const second = journal(dir);
    expect(second.recover().map((r) => r.payload.toString())).toEqual(['2:b', '3:c']);
    expect(second.append(() => Buffer.from('d')).seq).toBe(4);
    await second.close();
  });

  it('continues the sequence after everything was acknowledged and the segments deleted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-outbox-'));
    const first = journal(dir, 64);
    first.recover();
    await appendAll(first, ['a', 'b', 'c', 'd', 'e']);
    for (let seq = 1; seq <= 5; seq++) first.ack(seq);
    await first.close();
    const second = journal(dir);
    expect(second.recover()).toEqual([]);
    expect(second.append(() => Buffer.from('f')).seq).toBe(6);
    await second.close();
  });

  it('drops a torn last record and keeps everything before it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-outbox-'));
    const first = journal(dir);
    first.recover();
    await appendAll(first, ['a', 'b', 'c']);
    await first.close();
    const [segment] = segments(dir);
    const path = join(dir, segment as string);
    truncateSync(path, statSync(path).size - 3);

    const second = journal(dir);
    expect(second.recover().map((r) => r.seq)).toEqual([1, 2]);
    expect(second.append(() => Buffer.from('x')).seq).toBe(3);
    await second.close();
  });

  it('skips a damaged record, keeps the records after it, and names its number as lost', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-outbox-'));
    const first = journal(dir);
    first.recover();
    await appendAll(first, ['aaaa', 'bbbb', 'cccc']);
    await first.close();
    const path = join(dir, segments(dir)[0] as string);
    const data = readFileSync(path);
    const corruptAt = data.indexOf('2:bbbb') + 3;
    data[corruptAt] = 0x5a;
    writeFileSync(path, data);
    const again = journal(dir);
    expect(again.recover().map((r) => r.payload.toString())).toEqual(['1:aaaa', '3:cccc']);
    expect(again.recoveryLosses).toEqual([[2, 2]]);
    // The watermark passes the lost number once the others are acknowledged.
    again.ack(1);
    again.ack(3);
    again.checkpoint();
    expect(numberFile(dir, 'acked')).toBe(3);
    expect(await appendAll(again, ['dddd'])).toEqual([4]);
    await again.close();
  });

  it('ignores garbage appended after a crash mid-header', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-outbox-'));
    const first = journal(dir);
    first.recover();
    await appendAll(first, ['a']);
    await first.close();
    appendFileSync(join(dir, segments(dir)[0] as string), Buffer.from([0, 0, 0]));
    expect(
      journal(dir)
        .recover()
        .map((r) => r.seq),
    ).toEqual([1]);
  });

  it('removes segments once all their records are acknowledged', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-outbox-'));
    // A clock of its own: a segment is kept for keepAckedMs after it was written, so with the
    // wall clock a checkpoint in the same millisecond would keep it.
    let now = 1_000;
    const j = journal(dir, 40, { now: () => now });
    j.recover();
    for (const p of ['a', 'b', 'c', 'd']) await appendAll(j, [p.repeat(30)]);
    expect(segments(dir).length).toBeGreaterThan(1);
    for (let seq = 1; seq <= 4; seq++) j.ack(seq);
    now += 1;
    j.checkpoint();
    expect(segments(dir).length).toBeLessThanOrEqual(1);
    expect(j.size.records).toBe(0);
    await j.close();
  });

  it('acknowledges out of order without losing the unacknowledged record in between', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-outbox-'));
    const first = journal(dir);
    first.recover();
    await appendAll(first, ['a', 'b', 'c']);
    first.ack(1);
    first.ack(3);
    await first.close();
    expect(
      journal(dir)
        .recover()
        .map((r) => r.seq),
    ).toEqual([2, 3]);
  });
});

describe('outbox journal: resends and bounds', () => {
  it('keeps acknowledged events for resends within the keep window and reads them back', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-outbox-'));
    let now = 1_000_000;
    const j = journal(dir, 40, { keepAckedMs: 60_000, now: () => now });
    j.recover();
    for (const p of ['a', 'b', 'c', 'd']) await appendAll(j, [p.repeat(30)]);
    for (let seq = 1; seq <= 4; seq++) j.ack(seq);
    j.checkpoint();
    expect((await read(j, 2, 3)).map((r) => r.payload.toString())).toEqual([
      `2:${'b'.repeat(30)}`,
      `3:${'c'.repeat(30)}`,
    ]);
    now += 60_001;
    j.checkpoint();
    expect(await read(j, 2, 3)).toEqual([]);
    await j.close();
  });

  it('names the oldest number it still holds and the highest it issued, for a gone answer', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-outbox-'));
    let now = 1_000_000;
    const j = journal(dir, 40, { keepAckedMs: 60_000, now: () => now });
    j.recover();
    expect(j.extent()).toEqual({ oldestHeld: undefined, highestIssued: 0 });
    for (const p of ['a', 'b', 'c']) await appendAll(j, [p.repeat(30)]);
    j.ack(1);
    j.checkpoint();
    expect(j.extent()).toEqual({ oldestHeld: 1, highestIssued: 3 });
    now += 60_001;
    j.checkpoint();
    expect(j.extent()).toEqual({ oldestHeld: 2, highestIssued: 3 });
    j.ack(2);
    j.ack(3);
    now += 60_001;
    j.checkpoint();
    await j.close();
    // After a restart with every segment gone, it still knows how far it numbered.
    const again = journal(dir);
    again.recover();
    expect(again.extent()).toEqual({ oldestHeld: undefined, highestIssued: 3 });
    await again.close();
  });

  it('reports how full it is and how old the oldest unsent event is', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-outbox-'));
    let now = 5000;
    const j = journal(dir, undefined, { maxUnackedBytes: 100, now: () => now });
    j.recover();
    await appendAll(j, ['x'.repeat(20), 'y'.repeat(20)]);
    now += 7000;
    expect(j.pressure()).toEqual({ records: 2, bytes: 44, fraction: 0.44, oldestMs: 7000 });
    await j.close();
  });

  it('drops the oldest unsent segment at the hard bound and says which events went', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-outbox-'));
    const dropped: Array<[number, number]> = [];
    const j = journal(dir, 50, { maxUnackedBytes: 120, onDropped: (from, to) => dropped.push([from, to]) });
    j.recover();
    for (let i = 0; i < 6; i++) await appendAll(j, ['z'.repeat(30)]);
    expect(dropped.length).toBeGreaterThan(0);
    expect(j.size.bytes).toBeLessThanOrEqual(120);
    const remaining = j.pending().map((r) => r.seq);
    expect(remaining.at(-1)).toBe(6);
    expect(Math.min(...remaining)).toBe((dropped.at(-1)?.[1] ?? 0) + 1);
    await j.close();
  });

  it('names only the unacknowledged events of a segment it drops at the bound', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-outbox-'));
    const dropped: Array<[number, number]> = [];
    // Four 30-byte events fill the first segment; the fifth starts the second.
    const j = journal(dir, 150, { maxUnackedBytes: 130, onDropped: (from, to) => dropped.push([from, to]) });
    j.recover();
    await appendAll(
      j,
      ['a', 'b', 'c', 'd'].map((p) => p.repeat(28)),
    );
    j.ack(2);
    expect(dropped).toEqual([]);
    await appendAll(j, ['e'.repeat(28), 'f'.repeat(28)]);
    // 1 and 3-4 were never acknowledged; 2 was delivered.
    expect(dropped).toEqual([
      [1, 1],
      [3, 4],
    ]);
    await j.close();
  });

  it('counts the age of unsent events from before a restart, not from the restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-outbox-'));
    const first = journal(dir);
    first.recover();
    await appendAll(first, ['a']);
    await first.close();
    const [segment] = segments(dir);
    const hoursAgo = new Date(Date.now() - 13 * 3_600_000);
    utimesSync(join(dir, segment as string), hoursAgo, hoursAgo);
    const second = journal(dir);
    second.recover();
    expect(second.pressure().oldestMs).toBeGreaterThanOrEqual(13 * 3_600_000);
  });
});

describe('outbox journal: a disk that refuses writes', () => {
  it('keeps the events waiting, unpublished, cuts off the partial record and writes them on the retry', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-outbox-'));
    const { disk, openFile } = flakyDisk(false);
    const failures: number[] = [];
    let recovered = 0;
    const j = journal(dir, undefined, {
      openFile,
      retryMs: { first: 5, longest: 20 },
      onWriteFailed: (_, waiting) => failures.push(waiting),
      onWriteRecovered: () => {
        recovered += 1;
      },
    });
    j.recover();
    await appendAll(j, ['a']);
    disk.failing = true;
    const waiting = ['b', 'c'].map((p) => j.append((seq) => Buffer.from(`${seq}:${p}`)));
    let durable = false;
    const written = Promise.all(waiting.map((w) => w.durable)).then(() => {
      durable = true;
    });
    // Failing, and retried with backoff: once reported, nothing durable (so nothing published).
    while (disk.refused < 3) await new Promise((resolve) => setTimeout(resolve, 1));
    expect(durable).toBe(false);
    expect(failures).toEqual([2]);
    expect(j.size.records).toBe(1);
    // flush() does not wait for a disk that refuses: a gateway stopping must not hang on it.
    await j.flush();
    disk.failing = false;
    await written;
    expect(recovered).toBe(1);
    await appendAll(j, ['d']);
    await j.close();

    // Everything written is read back after a restart: the half records were cut off before the
    // retry, so none sits in front of good ones.
    const again = journal(dir);
    expect(again.recover().map((r) => r.payload.toString())).toEqual(['1:a', '2:b', '3:c', '4:d']);
  });

  it('tries again when the report of the failure throws', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-outbox-'));
    const { disk, openFile } = flakyDisk(false);
    const j = journal(dir, undefined, {
      openFile,
      retryMs: { first: 5, longest: 20 },
      onWriteFailed: () => {
        throw new Error('the alarm could not be raised');
      },
    });
    j.recover();
    disk.failing = true;
    const { durable } = j.append((seq) => Buffer.from(`${seq}:a`));
    while (disk.refused < 2) await new Promise((resolve) => setTimeout(resolve, 1));
    disk.failing = false;
    await durable;
    await j.close();
    expect(
      journal(dir)
        .recover()
        .map((r) => r.payload.toString()),
    ).toEqual(['1:a']);
  });

  it('gives up the oldest waiting events beyond its memory bound, says which once the disk writes again, and its watermark passes them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-outbox-'));
    const { disk, openFile } = flakyDisk();
    const dropped: Array<[number, number]> = [];
    const j = journal(dir, undefined, {
      openFile,
      retryMs: { first: 5, longest: 20 },
      maxWaitingBytes: 60,
      onDropped: (from, to) => dropped.push([from, to]),
    });
    j.recover();
    const appended = ['a', 'b', 'c', 'd'].map((p) =>
      j.append((seq) => Buffer.from(`${seq}:${p}`.padEnd(20))),
    );
    const outcomes = appended.map((a) =>
      a.durable.then(
        () => 'written',
        (e: Error) => e.message,
      ),
    );
    // 36 bytes a record: only the newest fits the bound while the disk refuses.
    expect(await Promise.all(outcomes.slice(0, 3))).toEqual(
      new Array(3).fill('ENOSPC: no space left on device, write'),
    );
    // Said once the disk writes again: the report is an event, which would wait beyond the bound too.
    expect(dropped).toEqual([]);
    disk.failing = false;
    expect(await outcomes[3]).toBe('written');
    expect(dropped).toEqual([[1, 3]]);
    j.ack(4);
    await j.close();
    // Nothing left to send after a restart, and the numbers given up are not used again.
    const again = journal(dir);
    expect(again.recover()).toEqual([]);
    expect(again.append(() => Buffer.from('e')).seq).toBe(5);
    await again.close();
  });

  it('gives up what it could not write when closed, instead of waiting for the disk', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-outbox-'));
    const { openFile } = flakyDisk();
    const dropped: Array<[number, number]> = [];
    const j = journal(dir, undefined, {
      openFile,
      retryMs: { first: 60_000, longest: 60_000 },
      onDropped: (from, to) => dropped.push([from, to]),
    });
    j.recover();
    const { durable } = j.append(() => Buffer.from('a'));
    const outcome = durable.then(
      () => 'written',
      (e: Error) => e.message,
    );
    await j.flush();
    await j.close();
    expect(await outcome).toBe('ENOSPC: no space left on device, write');
    expect(dropped).toEqual([[1, 1]]);
  });

  it('writes to the segment it names after a failed directory sync, so nothing is lost or numbered twice', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-outbox-'));
    const first = journal(dir, 100);
    first.recover();
    await appendAll(first, ['a']);
    await first.close();
    // After a restart the next record starts a segment of its own, and the directory sync for
    // it fails once; the segment before is not full.
    let refuseSync = true;
    const j = journal(dir, 100, {
      retryMs: { first: 5, longest: 20 },
      syncDir: async () => {
        if (refuseSync) {
          refuseSync = false;
          throw Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' });
        }
      },
    });
    j.recover();
    await appendAll(j, ['b', 'c']);
    await j.close();
    const again = journal(dir);
    expect(again.recover().map((r) => r.payload.toString())).toEqual(['1:a', '2:b', '3:c']);
    expect(again.append(() => Buffer.from('d')).seq).toBe(4);
    await again.close();
  });

  it('never numbers an event with a number it gave up, even with an older event unacknowledged', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-outbox-'));
    const { disk, openFile } = flakyDisk(false);
    const j = journal(dir, undefined, { openFile, retryMs: { first: 60_000, longest: 60_000 } });
    j.recover();
    await appendAll(j, ['a']); // written, never acknowledged
    disk.failing = true;
    const lost = ['b', 'c'].map((p) =>
      j.append((seq) => Buffer.from(`${seq}:${p}`)).durable.catch(() => 'lost'),
    );
    await j.flush();
    await j.close();
    expect(await Promise.all(lost)).toEqual(['lost', 'lost']);
    const again = journal(dir);
    expect(again.recover().map((r) => r.seq)).toEqual([1]);
    expect(again.append(() => Buffer.from('d')).seq).toBe(4);
    await again.close();
  });

  it('keeps running when the watermark cannot be written, and writes it later', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-outbox-'));
    const j = journal(dir);
    j.recover();
    await appendAll(j, ['a', 'b']);
    j.ack(1);
    j.ack(2);
    // Where the watermark's temporary file would go, something that cannot be written.
    const blocker = join(dir, `acked.tmp-${process.pid}`);
    mkdirSync(blocker);
    expect(() => j.checkpoint()).not.toThrow();
    rmdirSync(blocker);
    j.checkpoint();
    expect(numberFile(dir, 'acked')).toBe(2);
    await j.close();
  });
});

describe('outbox journal: numbers it holds no record of', () => {
  it('passes, after a restart, numbers given up while an older event waited, so that its watermark does not stop there', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-outbox-'));
    const { disk, openFile } = flakyDisk(false);
    const j = journal(dir, undefined, { openFile, retryMs: { first: 60_000, longest: 60_000 } });
    j.recover();
    await appendAll(j, ['a']); // 1: durable, not yet acknowledged by the broker
    disk.failing = true;
    const lost = ['b', 'c'].map((p) =>
      j.append((seq) => Buffer.from(`${seq}:${p}`)).durable.catch(() => 'given up'),
    );
    await j.flush();
    await j.close(); // 2 and 3 are given up
    expect(await Promise.all(lost)).toEqual(['given up', 'given up']);

    const again = journal(dir);
    expect(again.recover().map((r) => r.seq)).toEqual([1]);
    expect(again.recoveryLosses).toEqual([[2, 3]]);
    const [d, e] = await appendAll(again, ['d', 'e']);
    for (const seq of [1, d, e]) again.ack(seq as number);
    again.checkpoint();
    expect(numberFile(dir, 'acked')).toBe(5);
    await again.close();
    expect(journal(dir).recover()).toEqual([]);
  });

  it('passes the numbers of a segment dropped at the bound when the process ended before its watermark was written', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-outbox-'));
    const j = journal(dir, 50, { maxUnackedBytes: 100 });
    j.recover();
    for (let i = 0; i < 4; i++) await appendAll(j, ['x'.repeat(30)]);
    // The segment of 1 and 2 went at the bound; no checkpoint wrote the watermark after it.
    const again = journal(dir);
    expect(again.recover().map((r) => r.seq)).toEqual([3, 4]);
    expect(again.recoveryLosses).toEqual([[1, 2]]);
    const [next] = await appendAll(again, ['y']);
    for (const seq of [3, 4, next]) again.ack(seq as number);
    again.checkpoint();
    expect(numberFile(dir, 'acked')).toBe(5);
    await again.close();
  });

  it('does not issue again the numbers of a segment dropped at the bound while nothing newer reached the disk', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-outbox-'));
    const { disk, openFile } = flakyDisk(false);
    const j = journal(dir, 100, {
      maxUnackedBytes: 100,
      openFile,
      retryMs: { first: 60_000, longest: 60_000 },
    });
    j.recover();
    await appendAll(
      j,
      ['a', 'b', 'c', 'd'].map((p) => p.padEnd(28)),
    );
    // The disk fills: the next event opens a segment of its own, and its write fails.
    disk.failing = true;
    j.append((seq) => Buffer.from(`${seq}:e`.padEnd(30))).durable.catch(() => undefined);
    while (disk.refused < 1) await new Promise((resolve) => setImmediate(resolve));
    // The bound drops the one segment with records; the process ends before the watermark is written.
    j.checkpoint();
    expect(segments(dir)).toEqual(['seg-0000000000000005.log']);
    const again = journal(dir);
    again.recover();
    // 1-4 were published: never issued again. (5 never reached the disk, so nobody saw it.)
    expect(again.append(() => Buffer.from('f')).seq).toBe(5);
    await again.close();
    disk.failing = false;
    await j.close();
  });

  it('takes back a number whose event could not be built', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-outbox-'));
    const j = journal(dir);
    j.recover();
    await appendAll(j, ['a']);
    expect(() =>
      j.append(() => {
        throw new RangeError('no payload');
      }),
    ).toThrow('no payload');
    const [next] = await appendAll(j, ['b']);
    expect(next).toBe(2);
    j.ack(1);
    j.ack(2);
    j.checkpoint();
    expect(numberFile(dir, 'acked')).toBe(2);
    await j.close();
  });

  it('reports what it gave up while the disk refused writes once, when it writes again, even when the report is an event itself', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-outbox-'));
    const { disk, openFile } = flakyDisk(false);
    const reports: Array<[number, number]> = [];
    const j: OutboxJournal = journal(dir, undefined, {
      openFile,
      retryMs: { first: 5, longest: 5 },
      maxWaitingBytes: 200,
      // As the gateway does: the report is an alarm event, appended to the journal.
      onDropped: (from, to) => {
        reports.push([from, to]);
        j.append((seq) => Buffer.from(`${seq}:lost ${from}-${to}`));
      },
    });
    j.recover();
    disk.failing = true;
    const doors = Array.from({ length: 20 }, () => j.append((seq) => Buffer.from(`${seq}:door`.padEnd(30))));
    const outcomes = doors.map((d) =>
      d.durable.then(
        () => 'written',
        () => 'given up',
      ),
    );
    while (disk.refused < 2) await new Promise((resolve) => setImmediate(resolve));
    expect(reports).toEqual([]);
    disk.failing = false;
    const settled = await Promise.all(outcomes);
    // 46 bytes a record: the newest four fit the bound; the report of the rest costs nothing more.
    expect(settled.filter((s) => s === 'written')).toHaveLength(4);
    expect(reports).toEqual([[1, 16]]);
    await j.flush();
    await j.close();
    expect(
      journal(dir)
        .recover()
        .map((r) => r.payload.toString()),
    ).toEqual([...[17, 18, 19, 20].map((seq) => `${seq}:door`.padEnd(30)), '21:lost 1-16']);
  });

  it('keeps a segment it could not delete, drops nothing at the bound for it, and deletes it later', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-outbox-'));
    let refuse = 1;
    const dropped: Array<[number, number]> = [];
    const j = journal(dir, 50, {
      maxUnackedBytes: 100,
      onDropped: (from, to) => dropped.push([from, to]),
      removeFile: (path) => {
        if (refuse-- > 0) throw Object.assign(new Error('EROFS: read-only file system'), { code: 'EROFS' });
        unlinkSync(path);
      },
    });
    j.recover();
    for (let i = 0; i < 4; i++) await appendAll(j, ['x'.repeat(30)]);
    // The bound wanted the first segment gone; it stayed, and so did its events.
    expect(dropped).toEqual([]);
    expect(j.pending().map((r) => r.seq)).toEqual([1, 2, 3, 4]);
    for (const seq of [1, 2, 3, 4]) j.ack(seq);
    j.checkpoint();
    expect(numberFile(dir, 'acked')).toBe(4);
    await j.close();
    expect(journal(dir).recover()).toEqual([]);
  });
});

describe('outbox journal: after review', () => {
  it('keeps a batch written at close durable even when reporting that the disk writes again fails', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-outbox-'));
    const { disk, openFile } = flakyDisk(false);
    let failed: () => void = () => undefined;
    const writeFailed = new Promise<void>((resolve) => {
      failed = resolve;
    });
    const j: OutboxJournal = journal(dir, undefined, {
      openFile,
      retryMs: { first: 60_000, longest: 60_000 },
      onWriteFailed: () => failed(),
      // As the gateway does: clearing its alarm records an event, which a closed journal refuses.
      onWriteRecovered: () => {
        j.append((seq) => Buffer.from(`${seq}:clear`));
      },
    });
    j.recover();
    await appendAll(j, ['a']);
    j.ack(1);
    disk.failing = true;
    const waiting = ['b', 'c'].map((p) =>
      j.append((seq) => Buffer.from(`${seq}:${p}`)).durable.catch(() => 'given up'),
    );
    await writeFailed;
    disk.failing = false; // space freed; the gateway stops before the next retry
    await j.close();
    expect(await Promise.all(waiting)).toEqual([undefined, undefined]);
    expect(
      journal(dir)
        .recover()
        .map((r) => r.payload.toString()),
    ).toEqual(['2:b', '3:c']);
  });

  it('takes a segment name far beyond every record for damage, and numbers on from its records', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-outbox-'));
    const j = journal(dir);
    j.recover();
    await appendAll(j, ['a']);
    await j.close();
    writeFileSync(join(dir, 'seg-0000001000000000.log'), '');
    const again = journal(dir);
    expect(again.recover().map((r) => r.seq)).toEqual([1]);
    expect(again.recoveryLosses).toEqual([]);
    expect(again.append(() => Buffer.from('b')).seq).toBe(2);
    await again.close();
  });

  it('does not write its watermark past events given up and not yet reported, so a crash cannot hide them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-outbox-'));
    const { disk, openFile } = flakyDisk(false);
    const reports: Array<[number, number]> = [];
    const j = journal(dir, undefined, {
      openFile,
      maxWaitingBytes: 40,
      retryMs: { first: 60_000, longest: 60_000 },
      onDropped: (from, to) => reports.push([from, to]),
    });
    j.recover();
    await appendAll(j, ['a']);
    j.ack(1);
    disk.failing = true;
    const lost = ['b', 'c', 'd'].map((p) =>
      j.append((seq) => Buffer.from(`${seq}:${p}`.padEnd(20))).durable.catch(() => 'given up'),
    );
    expect(await Promise.all(lost.slice(0, 2))).toEqual(['given up', 'given up']);
    j.checkpoint();
    expect(reports).toEqual([]);
    // The process ends here, before the disk writes again.
    const again = journal(dir);
    again.recover();
    // 2 and 3 given up; 4 still waited in memory and never reached the disk, so nobody saw it.
    expect(again.recoveryLosses).toEqual([[2, 3]]);
  });
});

describe('outbox journal: damage and long streaks', () => {
  it('keeps every record of a segment whose name was damaged upwards, or whose numbers passed 2^24', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-outbox-'));
    const frames = [1000, 1001, 1002, 2 ** 24 + 5, 2 ** 24 + 6].map((seq) =>
      frameRecord(seq, Buffer.from(`${seq}`)),
    );
    // Named as if its first record were 1002: a flipped bit, say.
    writeFileSync(join(dir, 'seg-0000000000001002.log'), Buffer.concat(frames));
    const j = journal(dir);
    expect(j.recover().map((r) => r.seq)).toEqual([1000, 1001, 1002, 2 ** 24 + 5, 2 ** 24 + 6]);
    await j.close();
  });

  it('holds and counts a number found in two segments once, so that its acknowledgement frees it all', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-outbox-'));
    writeFileSync(
      join(dir, 'seg-0000000000000001.log'),
      Buffer.concat([1, 2].map((seq) => frameRecord(seq, Buffer.from(`${seq}`)))),
    );
    writeFileSync(join(dir, 'seg-0000000000000002.log'), frameRecord(2, Buffer.from('2')));
    const j = journal(dir);
    expect(j.recover().map((r) => r.seq)).toEqual([1, 2]);
    expect(j.size).toEqual({ records: 2, bytes: 2 });
    j.ack(1);
    j.ack(2);
    expect(j.size).toEqual({ records: 0, bytes: 0 });
    await j.close();
  });

  it('keeps one range for a long streak of events given up, and its checkpoint keeps working', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-outbox-'));
    const { disk, openFile } = flakyDisk(false);
    const j = journal(dir, undefined, {
      openFile,
      maxWaitingBytes: 100,
      retryMs: { first: 60_000, longest: 60_000 },
    });
    j.recover();
    await appendAll(j, ['a']);
    j.ack(1);
    disk.failing = true;
    j.append((seq) => Buffer.from(`${seq}`)).durable.catch(() => undefined);
    while (disk.refused < 1) await new Promise((resolve) => setImmediate(resolve));
    // About a day and a half of events at one a second, one given up per append.
    for (let i = 0; i < 150_000; i++) j.append((seq) => Buffer.from(`${seq}`)).durable.catch(() => undefined);
    expect(() => j.checkpoint()).not.toThrow();
    expect(numberFile(dir, 'acked')).toBe(1);
    await j.close();
  }, 30_000);
});

describe('outbox journal: numbers given up out of order', () => {
  it('reports older numbers given up after newer ones (a retry that failed while appends went on), and keeps its watermark below them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-outbox-'));
    // A disk whose refusals can be held back, so that a retry is still under way while events come.
    const disk = {
      failing: false,
      gate: undefined as Promise<void> | undefined,
      entered: () => undefined as void,
    };
    const openFile = async (path: string): Promise<FileHandle> => {
      const real = await open(path, 'a', 0o600);
      return new Proxy(real, {
        get(target, property) {
          if (property === 'writev')
            return async (buffers: Buffer[]) => {
              if (!disk.failing) return target.writev(buffers);
              disk.entered();
              if (disk.gate) await disk.gate;
              throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
            };
          const value = Reflect.get(target, property);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
    };
    const reports: Array<[number, number]> = [];
    const j = journal(dir, undefined, {
      openFile,
      maxWaitingBytes: 250, // two frames of 100 bytes
      retryMs: { first: 1, longest: 1 },
      onDropped: (from, to) => reports.push([from, to]),
    });
    const event = (seq: number) => Buffer.from(`${seq}:`.padEnd(84, 'x'));
    const entered = () =>
      new Promise<void>((resolve) => {
        disk.entered = resolve;
      });
    j.recover();
    await appendAll(j, ['a']);
    j.ack(1);
    disk.failing = true;
    let writing = entered();
    const older = [0, 1].map(() => j.append(event).durable.catch(() => 'given up'));
    await writing;
    writing = entered();
    let release: () => void = () => undefined;
    disk.gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    await writing; // the retry of 2 and 3 is under way
    const newer = [0, 1, 2, 3].map(() => j.append(event).durable.catch(() => 'given up')); // 4 and 5 go
    release();
    expect(await Promise.all(older)).toEqual(['given up', 'given up']);
    j.checkpoint();
    expect(numberFile(dir, 'acked')).toBe(1);
    disk.failing = false;
    disk.gate = undefined;
    expect(await Promise.all(newer)).toEqual(['given up', 'given up', undefined, undefined]);
    expect(reports).toEqual([[2, 5]]);
    await j.close();
  });

  it('reads back a journal whose numbers are past 2^32', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-outbox-'));
    writeFileSync(join(dir, 'acked'), `${2 ** 32 + 10}\n`);
    const j = journal(dir);
    j.recover();
    const seqs = await appendAll(j, ['a', 'b']);
    await j.close();
    expect(
      journal(dir)
        .recover()
        .map((r) => r.seq),
    ).toEqual(seqs);
  });
});

describe('outbox journal: damaged number files', () => {
  const checked = (value: number) => `${value} ${crc32(String(value)).toString(16).padStart(8, '0')}\n`;

  it('publishes again every event it holds when its watermark is damaged, and names none of them lost', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-outbox-'));
    const j = journal(dir);
    j.recover();
    await appendAll(j, ['a', 'b', 'c', 'd']);
    j.ack(1);
    j.ack(2);
    await j.close();
    // One bit: 2 became 3. Trusted, event 3 (never acknowledged) would be neither sent nor reported.
    const text = readFileSync(join(dir, 'acked'), 'utf8');
    expect(text).toBe(checked(2));
    writeFileSync(join(dir, 'acked'), text.replace(/^2/, '3'));

    const again = journal(dir);
    expect(again.recover().map((r) => r.seq)).toEqual([1, 2, 3, 4]);
    expect(again.recoveryLosses).toEqual([]);
    expect(again.append((seq) => Buffer.from(`${seq}`)).seq).toBe(5);
    for (const seq of [1, 2, 3, 4]) again.ack(seq);
    again.checkpoint();
    expect(numberFile(dir, 'acked')).toBe(4);
    await again.close();
  });

  it('numbers on from the traces of issued numbers when the watermark is damaged and nothing is held', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-outbox-'));
    writeFileSync(join(dir, 'acked'), 'x7\n');
    writeFileSync(join(dir, 'issued'), checked(7));
    const j = journal(dir);
    expect(j.recover()).toEqual([]);
    expect(j.recoveryLosses).toEqual([]);
    expect(j.append((seq) => Buffer.from(`${seq}`)).seq).toBe(8);
    await j.close();
  });

  it('numbers on after a damaged watermark though every segment was removed, from the number it kept then', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-outbox-'));
    const j = journal(dir);
    j.recover();
    const seqs = await appendAll(j, ['a', 'b', 'c', 'd', 'e']);
    for (const seq of seqs) j.ack(seq);
    await j.close();
    // The next start, a while later, prunes the last segment (everything acknowledged, nothing
    // kept for resends).
    const idle = journal(dir, undefined, { now: () => Date.now() + 60_000 });
    idle.recover();
    await idle.close();
    expect(segments(dir)).toEqual([]);
    expect(numberFile(dir, 'issued')).toBe(5);
    writeFileSync(join(dir, 'acked'), '5 00000000\n');
    const again = journal(dir);
    again.recover();
    expect(again.recoveryLosses).toEqual([]);
    expect(again.append((seq) => Buffer.from(`${seq}`)).seq).toBe(6);
    await again.close();
  });

  it('ignores a damaged record of numbers given up, and reads the files gateways wrote before the checksum', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-outbox-'));
    writeFileSync(join(dir, 'acked'), '3\n');
    writeFileSync(join(dir, 'issued'), checked(9).replace(/^9/, '8'));
    const j = journal(dir);
    expect(j.recover()).toEqual([]);
    expect(j.recoveryLosses).toEqual([]);
    expect(j.append((seq) => Buffer.from(`${seq}`)).seq).toBe(4);
    await j.close();
  });
});
